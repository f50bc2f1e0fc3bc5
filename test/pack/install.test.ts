/**
 * The packages as a user gets them: every package is packed with `pnpm pack` (its `prepack` builds
 * it and `workspace:` ranges become version ranges), the tarballs are installed with plain npm into
 * a scratch project in the OS temp dir, and used from there: every runnable README snippet is
 * typechecked against the published declarations; the root README's runs over stdio with a real
 * client, and packages/mcp's SDK v2 and FastMCP examples over HTTP with real clients; the installed
 * `mcp-pdp` bin validates, checks and proxies. `@opentelemetry/api` is not installed there: it is an
 * optional peer, and core must load without it.
 */
import { spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:net";
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as HttpTransportV2,
} from "@modelcontextprotocol/client";
import { StdioClientTransport as StdioTransportV2 } from "@modelcontextprotocol/client/stdio";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const FIXTURE = fileURLToPath(new URL("fixture", import.meta.url));

/**
 * Every published package, in waves: a package builds against the declarations of the earlier
 * waves, and the two packages of a wave build side by side (the machine may have two cores).
 */
const WAVES = [["core"], ["local", "mcp"], ["permit", "opa"], ["cerbos", "eunomia"], ["cli"]];
const PACKAGES = WAVES.flat();

/** Packing builds eight packages with tsc and npm installs them: minutes on a shared machine. */
const SETUP_TIMEOUT = 600_000;

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", fail);
    child.on("close", (code) => {
      done({ code, stdout, stderr });
    });
  });
}

/** Runs a setup step that must succeed; a failure says what ran and what it printed. */
async function mustRun(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<Ran> {
  const ran = await run(command, args, options);
  if (ran.code !== 0) {
    throw new Error(
      `\`${command} ${args.join(" ")}\` in ${options.cwd} exited with ${ran.code}\n` +
        `--- stderr ---\n${ran.stderr}\n--- stdout ---\n${ran.stdout}`,
    );
  }
  return ran;
}

/** A port free on 127.0.0.1 right now. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => {
        done(port);
      });
    });
  });
}

/**
 * Runs a compiled snippet of the scratch project as a server on a free port (`PORT`), and resolves
 * once it accepts connections; `stop()` ends it.
 */
async function serveSnippet(file: string): Promise<{ url: URL; stop: () => void }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(scratch, "dist", file)], {
    cwd: scratch,
    env: { PATH: process.env.PATH ?? "", PORT: String(port) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const url = new URL(`http://127.0.0.1:${port}/mcp`);
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error(`${file} exited: ${stderr}`);
    const up = await fetch(url, { method: "GET" }).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (tries > 200) throw new Error(`${file} did not listen on ${port}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, stop: () => child.kill() };
}

/** What every guarded example must show a connected client: list_notes listed and run, delete_note refused. */
interface ExampleClient {
  listTools(): Promise<{ tools: readonly { name: string }[] }>;
  callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
  close(): Promise<void>;
}

async function expectGuarded(client: ExampleClient, label: string): Promise<void> {
  try {
    const { tools } = await client.listTools();
    expect(
      tools.map((t) => t.name),
      label,
    ).toEqual(["list_notes"]);
    expect(await client.callTool({ name: "list_notes", arguments: {} }), label).toMatchObject({
      content: [{ type: "text", text: "list_notes ran" }],
    });
    const denied = await client
      .callTool({ name: "delete_note", arguments: {} })
      .catch((e: unknown) => e);
    expect((denied as { code?: unknown }).code, label).toBe(-32010);
  } finally {
    await client.close();
  }
}

/** The ```ts runnable blocks of a Markdown file. */
function runnableSnippets(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^```ts runnable\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");
}

/** Every README whose runnable snippets are checked, relative to the repository root. */
const READMES = ["README.md", ...PACKAGES.map((p) => `packages/${p}/README.md`)];

let scratch = "";
let tarballs = "";

function workspaceVersion(pkg: string): string {
  const file = join(ROOT, "packages/mcp/node_modules", pkg, "package.json");
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

beforeAll(async () => {
  const base = mkdtempSync(join(tmpdir(), "mcp-pdp-pack-"));
  tarballs = join(base, "tarballs");
  scratch = join(base, "project");
  mkdirSync(tarballs);
  mkdirSync(join(scratch, "src"), { recursive: true });

  for (const wave of WAVES) {
    await Promise.all(
      wave.map((name) =>
        mustRun("pnpm", ["pack", "--pack-destination", tarballs], {
          cwd: join(ROOT, "packages", name),
        }),
      ),
    );
  }

  writeFileSync(
    join(scratch, "package.json"),
    JSON.stringify({ name: "scratch", private: true, type: "module" }),
  );
  cpSync(FIXTURE, scratch, { recursive: true });
  READMES.forEach((readme) => {
    runnableSnippets(join(ROOT, readme)).forEach((code, i) => {
      const name = `${readme.replace(/\W+/g, "_")}_${i}.ts`;
      writeFileSync(join(scratch, "src", name), code);
    });
  });
  const files = PACKAGES.map((p) => join(tarballs, `mcp-pdp-${p}-0.1.0.tgz`));
  await mustRun(
    "npm",
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      "--loglevel=error",
      ...files,
      `@modelcontextprotocol/sdk@${workspaceVersion("@modelcontextprotocol/sdk")}`,
      // What the SDK v2 and FastMCP examples of packages/mcp/README.md run on.
      `@modelcontextprotocol/server@${workspaceVersion("@modelcontextprotocol/server")}`,
      `@modelcontextprotocol/node@${workspaceVersion("@modelcontextprotocol/node")}`,
      `fastmcp@${workspaceVersion("fastmcp")}`,
      `zod@${workspaceVersion("zod")}`,
      "@types/node@20",
    ],
    { cwd: scratch },
  );
}, SETUP_TIMEOUT);

afterAll(() => {
  if (scratch) rmSync(resolve(scratch, ".."), { recursive: true, force: true });
});

function packedManifest(name: string): Record<string, unknown> {
  return JSON.parse(
    readFileSync(join(scratch, "node_modules/@mcp-pdp", name, "package.json"), "utf8"),
  ) as Record<string, unknown>;
}

describe("the packed packages", () => {
  it("carry no workspace: range, and ship their LICENSE and every exported file", () => {
    for (const name of PACKAGES) {
      const manifest = packedManifest(name);
      const dir = join(scratch, "node_modules/@mcp-pdp", name);
      expect(JSON.stringify(manifest), name).not.toContain("workspace:");
      expect(existsSync(join(dir, "LICENSE")), `${name} LICENSE`).toBe(true);
      const exports = manifest.exports as Record<string, string | Record<string, string>>;
      for (const target of Object.values(exports)) {
        const paths = typeof target === "string" ? [target] : [target.types, target.default];
        for (const path of paths) {
          expect(existsSync(join(dir, path ?? "missing")), `${name} ${path}`).toBe(true);
        }
      }
    }
  });

  it("install without @opentelemetry/api, an optional peer", () => {
    expect(existsSync(join(scratch, "node_modules/@opentelemetry/api"))).toBe(false);
  });

  it("load in plain Node without @opentelemetry/api, telemetry doing nothing", async () => {
    const ran = await run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { withTelemetry } from "@mcp-pdp/core";
         import { allowAll } from "@mcp-pdp/core/testing";
         const pdp = withTelemetry()(allowAll());
         const d = await pdp.check({ subject: { id: "a", authenticated: true }, action: "x",
           resource: { type: "t", attributes: {} },
           operation: { method: "tools/call", phase: "call", server: "s" } });
         console.log(JSON.stringify(d.allow));`,
      ],
      { cwd: scratch },
    );
    expect(ran.stderr).toBe("");
    expect(ran.stdout.trim()).toBe("true");
  });
});

describe("the README, against the published declarations", () => {
  it("typechecks every runnable snippet with strict TypeScript", async () => {
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    const ran = await run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: scratch });
    expect(ran.stdout + ran.stderr).toBe("");
    expect(ran.code).toBe(0);
  }, 120_000);

  it("serves over stdio with the caller, server name and policy taken from the environment", async () => {
    const server = join(scratch, "dist/README_md_0.js");
    expect(existsSync(server), "the README snippet compiled").toBe(true);
    const connect = async (roles: string) => {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [server],
        cwd: scratch,
        env: {
          PATH: process.env.PATH ?? "",
          MCP_PDP_POLICY_FILE: "policy.yaml",
          MCP_SERVER_NAME: "notes",
          MCP_PDP_IDENTITY: "fixed",
          MCP_PDP_IDENTITY_FIXED_VALUE: "alice",
          MCP_PDP_IDENTITY_ROLES: roles,
          MCP_PDP_AUDIT: "off",
        },
        stderr: "pipe",
      });
      const client = new Client({ name: "pack-test", version: "1.0.0" });
      await client.connect(transport);
      return client;
    };
    const user = await connect("user");
    try {
      const { tools } = await user.listTools();
      expect(tools.map((t) => t.name)).toEqual(["list_notes"]);
      const result = await user.callTool({ name: "list_notes" });
      expect(result.content).toEqual([{ type: "text", text: "no notes yet" }]);
    } finally {
      await user.close();
    }
    const guest = await connect("guest");
    try {
      const denied = await guest.callTool({ name: "list_notes" }).catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(McpError);
      expect((denied as McpError).code).toBe(-32010);
    } finally {
      await guest.close();
    }
  });
});

describe("the installed mcp-pdp bin", () => {
  const bin = () => join(scratch, "node_modules/.bin/mcp-pdp");

  it("validates a policy", async () => {
    const ran = await run(bin(), ["validate", "policy.yaml"], { cwd: scratch });
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
  });

  it("checks one request, exiting 0 when allowed and 3 when denied", async () => {
    const caller = ["--policy", "policy.yaml", "--server-name", "notes", "--subject", "alice"];
    const allowed = await run(
      bin(),
      ["check", ...caller, "--role", "user", "tools/call", "--tool", "list_notes"],
      { cwd: scratch },
    );
    expect(allowed.stdout).toContain("user-list-notes");
    expect(allowed.code).toBe(0);
    const denied = await run(
      bin(),
      ["check", ...caller, "--role", "user", "tools/call", "--tool", "delete_note"],
      { cwd: scratch },
    );
    expect(denied.code).toBe(3);
  });

  it("proxies a stdio server, filtering its tools and refusing a denied call", async () => {
    const transport = new StdioClientTransport({
      command: bin(),
      args: [
        "proxy",
        "--policy",
        "policy.yaml",
        "--server-name",
        "notes",
        "--subject",
        "alice",
        "--role",
        "user",
        "--audit",
        "off",
        "--quiet",
        "--",
        process.execPath,
        "tiny-server.mjs",
      ],
      cwd: scratch,
      env: { PATH: process.env.PATH ?? "" },
      stderr: "pipe",
    });
    const client = new Client({ name: "pack-test", version: "1.0.0" });
    await client.connect(transport);
    await expectGuarded(client, "over the proxy");
  });
});

describe("the installed mcp-pdp bin in front of an SDK v2 server", () => {
  it("proxies a 2026-07-28 client over stdio, filtering its tools and refusing a denied call", async () => {
    const transport = new StdioTransportV2({
      command: join(scratch, "node_modules/.bin/mcp-pdp"),
      args: [
        ...["proxy", "--policy", "policy.yaml", "--server-name", "notes"],
        ...["--subject", "alice", "--role", "user", "--audit", "off", "--quiet"],
        ...["--", process.execPath, "tiny-server-v2.mjs"],
      ],
      cwd: scratch,
      env: { PATH: process.env.PATH ?? "" },
      stderr: "pipe",
    });
    const client = new ClientV2(
      { name: "pack-test", version: "1.0.0" },
      { versionNegotiation: { mode: { pin: "2026-07-28" } } },
    );
    await client.connect(transport);
    expect(client.getNegotiatedProtocolVersion()).toBe("2026-07-28");
    await expectGuarded(client, "2026-07-28 over the proxy");
  });
});

describe("the SDK v2 and FastMCP examples of packages/mcp/README.md, installed", () => {
  it("serves the SDK v2 example in both eras: lists filtered, a denied call refused", async () => {
    const server = await serveSnippet("packages_mcp_README_md_0.js");
    try {
      for (const era of ["legacy", "modern"] as const) {
        const client = new ClientV2(
          { name: "pack-test", version: "1.0.0" },
          era === "modern" ? { versionNegotiation: { mode: { pin: "2026-07-28" } } } : {},
        );
        await client.connect(
          new HttpTransportV2(server.url, {
            requestInit: { headers: { "x-user-id": "alice", "x-roles": "user" } },
          }),
        );
        await expectGuarded(client, era);
      }
    } finally {
      server.stop();
    }
  });

  it("serves the FastMCP example: its authenticate is the caller, a denied call refused", async () => {
    const server = await serveSnippet("packages_mcp_README_md_1.js");
    try {
      const client = new Client({ name: "pack-test", version: "1.0.0" });
      await client.connect(
        new StreamableHTTPClientTransport(server.url, {
          requestInit: { headers: { "x-api-key": "key-alice" } },
        }),
      );
      await expectGuarded(client, "FastMCP");
    } finally {
      server.stop();
    }
  });
});
