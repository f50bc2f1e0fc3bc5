import { request } from "node:http";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { main } from "../src/index.js";

const require = createRequire(import.meta.url);

/** The command's entry point, run from source. */
export const CLI = fileURLToPath(new URL("../src/cli.ts", import.meta.url));

/** Node flags that run the TypeScript sources with workspace packages resolved to theirs. */
export const NODE_FLAGS = [
  "--import",
  pathToFileURL(join(dirname(require.resolve("tsx/package.json")), "dist/loader.mjs")).href,
  "--conditions=@mcp-pdp/source",
];

/** The entry script of an npm package's bin, found through its package.json. */
export function binOf(pkg: string, bin?: string): string {
  const manifest = require.resolve(`${pkg}/package.json`);
  const json = JSON.parse(readFileSync(manifest, "utf8")) as {
    bin: string | Record<string, string>;
  };
  const rel = typeof json.bin === "string" ? json.bin : json.bin[bin ?? Object.keys(json.bin)[0]!]!;
  return join(dirname(manifest), rel);
}

export const MEMORY_SERVER = binOf("@modelcontextprotocol/server-memory");
export const EVERYTHING_SERVER = binOf("@modelcontextprotocol/server-everything");

/** A fresh temporary directory, removed by the returned function. */
/** Everything is allowed except tools the server declares destructive. */
export const NOTHING_DESTRUCTIVE = `rules:
  - name: everything
    effect: allow
    resources: { types: ["*"] }
    actions: ["*"]
  - name: nothing-destructive
    effect: deny
    resources: { types: ["*"] }
    actions: ["*"]
    when:
      - { field: operation.metadata.annotations.destructiveHint, op: equals, value: true }
`;

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "mcp-pdp-cli-"));
  return {
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The result of running the command. */
export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function collector() {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

/** Runs `main` in-process with captured output. */
export async function runMain(
  argv: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<Run> {
  const out = collector();
  const err = collector();
  const code = await main(argv, {
    stdout: out.stream,
    stderr: err.stream,
    env: options.env ?? {},
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  });
  return { code, stdout: out.text(), stderr: err.text() };
}

/** Runs the real command in a child process. */
export function runCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; input?: string } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, CLI, ...args], {
      cwd: options.cwd ?? process.cwd(),
      env: { PATH: process.env.PATH, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** An MCP client connected through `mcp-pdp proxy <proxyArgs>`, and the proxy's stderr. */
export async function connectThroughProxy(
  proxyArgs: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ client: Client; transport: StdioClientTransport; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...NODE_FLAGS, CLI, "proxy", ...proxyArgs],
    env: Object.fromEntries(
      Object.entries({ PATH: process.env.PATH, ...env }).filter(
        (e): e is [string, string] => e[1] !== undefined,
      ),
    ),
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: "cli-test", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport, stderr: () => stderr };
}

/** The JSON audit events in a text of lines (other lines are skipped). */
export function auditEvents(text: string): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a partial line
    }
  }
  return events;
}

/** A proxy process spoken to in raw JSON-RPC lines, as a client that does what it likes. */
export interface RawProxy {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stderr: () => string;
  /** Every message the proxy wrote to stdout so far. */
  readonly messages: () => Record<string, unknown>[];
  /** Writes messages (or a ready-made line) to the proxy's stdin in one chunk. */
  readonly send: (...messages: (Record<string, unknown> | string)[]) => void;
  /** Resolves with the first message answering `id`, as soon as it is written. */
  readonly answerTo: (id: string | number) => Promise<Record<string, unknown>>;
  /** Stops the proxy and resolves once it exited. */
  readonly stop: () => Promise<void>;
}

/** Starts `mcp-pdp proxy <args>` with its stdin open, for a client written by hand. */
export function startRawProxy(args: string[], env: Record<string, string> = {}): RawProxy {
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI, "proxy", ...args], {
    env: { PATH: process.env.PATH ?? "", MCP_PDP_AUDIT: "off", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let pending = "";
  let stderr = "";
  const received: Record<string, unknown>[] = [];
  const arrived = new EventEmitter();
  child.stdout.on("data", (d: Buffer) => {
    const lines = (pending + d.toString()).split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines.filter(Boolean)) {
      received.push(JSON.parse(line) as Record<string, unknown>);
    }
    arrived.emit("message");
  });
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      resolve();
    }),
  );
  return {
    child,
    stderr: () => stderr,
    messages: () => received,
    send: (...messages) => {
      child.stdin.write(
        messages
          .map((m) => (typeof m === "string" ? m : JSON.stringify({ jsonrpc: "2.0", ...m })) + "\n")
          .join(""),
      );
    },
    answerTo: (id) =>
      new Promise((resolve, reject) => {
        const look = (): void => {
          const found = received.find((m) => m.id === id && m.method === undefined);
          if (!found) return;
          arrived.off("message", look);
          resolve(found);
        };
        arrived.on("message", look);
        void exited.then(() => {
          reject(new Error(`the proxy exited before answering ${JSON.stringify(id)}: ${stderr}`));
        });
        look();
      }),
    stop: async () => {
      child.stdin.end();
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** The `initialize` request of a client written by hand. */
export const RAW_INITIALIZE = {
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "raw", version: "1" },
  },
};

/** The names of the entities in server-memory's file (one JSON object per line). */
export function memoryEntities(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { type: string; name?: string })
    .filter((item) => item.type === "entity")
    .map((item) => item.name ?? "");
}

/** A proxy process serving Streamable HTTP, and the URL of its endpoint. */
export interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  readonly url: URL;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

/** Starts `mcp-pdp proxy --http 0` and waits for the URL it listens on. */
/** Starts `mcp-pdp proxy --http 0 <flags> -- <server>` and waits until it listens. */
export async function startHttpProxy(
  flags: string[],
  server: string[],
  env: Record<string, string>,
): Promise<Running> {
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, CLI, "proxy", "--http", "0", ...flags, "--", ...server],
    {
      env: { PATH: process.env.PATH ?? "", MCP_PDP_AUDIT: "off", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  let stderr = "";
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      resolve(code);
    }),
  );
  const url = await new Promise<URL>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      const match = /(http:\/\/\S+\/mcp)/.exec(stderr);
      if (match) resolve(new URL(match[1]!));
    });
    void exited.then((code) => {
      reject(new Error(`proxy exited with ${code}: ${stderr}`));
    });
  });
  return { child, url, stderr: () => stderr, exited };
}

/** POSTs `body` with exactly these headers (Host included, which fetch cannot set); resolves with the status. */
export function rawRequest(
  url: URL,
  headers: Record<string, string>,
  body: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers },
      (res) => {
        res.resume();
        res.once("end", () => {
          resolve(res.statusCode ?? 0);
        });
      },
    );
    req.once("error", reject);
    req.end(body);
  });
}
