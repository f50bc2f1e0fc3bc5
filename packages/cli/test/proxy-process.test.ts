import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../src/index.js";
import {
  CLI,
  MEMORY_SERVER,
  NODE_FLAGS,
  RAW_INITIALIZE,
  runCli,
  runMain,
  tempDir,
} from "./helpers.js";

let dir: string;
let cleanup: () => void;
let policy: string;

beforeAll(() => {
  ({ dir, cleanup } = tempDir());
  policy = join(dir, "policy.yaml");
  writeFileSync(
    policy,
    "rules:\n  - { name: lists, effect: allow, resources: { types: [mcp_server_tools] }, actions: [list] }\n",
  );
});
afterAll(() => {
  cleanup();
});

interface Proxy {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
  /** Resolves with the next JSON-RPC line on stdout. */
  readonly nextMessage: () => Promise<Record<string, unknown>>;
}

/** Starts the proxy with its stdin kept open, as an MCP client would. */
function startProxy(args: string[], env: Record<string, string> = {}): Proxy {
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI, "proxy", ...args], {
    env: { PATH: process.env.PATH ?? "", MCP_PDP_AUDIT: "off", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let waiting: ((line: string) => void) | undefined;
  let consumed = 0;
  const deliver = () => {
    const lines = stdout.split("\n");
    if (waiting && lines.length - 1 > consumed) {
      const line = lines[consumed++]!;
      const resolve = waiting;
      waiting = undefined;
      resolve(line);
    }
  };
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    deliver();
  });
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      resolve(code);
    }),
  );
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    nextMessage: () =>
      new Promise((resolve) => {
        waiting = (line) => {
          resolve(JSON.parse(line) as Record<string, unknown>);
        };
        deliver();
      }),
  };
}

const INITIALIZE = { jsonrpc: "2.0", ...RAW_INITIALIZE };

function send(proxy: Proxy, message: unknown): void {
  proxy.child.stdin.write(JSON.stringify(message) + "\n");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

function serverPid(stderr: string): number {
  const match = /\(pid (\d+)\)/.exec(stderr);
  if (!match) throw new Error(`no pid in: ${stderr}`);
  return Number(match[1]);
}

describe("mcp-pdp proxy as a process", () => {
  it("passes on the server's exit code when the server exits first", async () => {
    const proxy = startProxy([
      "--policy",
      policy,
      "--",
      process.execPath,
      "-e",
      "setTimeout(() => process.exit(7), 200)",
    ]);
    expect(await proxy.exited).toBe(7);
    proxy.child.stdin.end();
  });

  it("keeps stdout for the protocol and passes the server's stderr through", async () => {
    const proxy = startProxy(["--policy", policy, "--", process.execPath, MEMORY_SERVER], {
      MEMORY_FILE_PATH: join(dir, "m1.jsonl"),
      MCP_PDP_AUDIT: "stderr",
    });
    send(proxy, INITIALIZE);
    const init = await proxy.nextMessage();
    expect(init).toMatchObject({
      jsonrpc: "2.0",
      id: 1,
      result: { serverInfo: { name: "memory-server" } },
    });
    send(proxy, { jsonrpc: "2.0", method: "notifications/initialized" });
    send(proxy, {
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: { name: "read_graph", arguments: {} },
    });
    const denied = await proxy.nextMessage();
    expect(denied).toMatchObject({ id: 2, error: { code: -32010, message: "Unauthorized" } });
    proxy.child.stdin.end();
    expect(await proxy.exited).toBe(0);
    for (const line of proxy.stdout().split("\n").filter(Boolean)) {
      expect(JSON.parse(line)).toMatchObject({ jsonrpc: "2.0" });
    }
    // The memory server announces itself on stderr; the audit goes there too.
    expect(proxy.stderr()).toContain("Knowledge Graph MCP Server running on stdio");
    expect(proxy.stderr()).toContain('"action":"read-graph"');
  });

  it("stops the server and exits 0 when the client closes its input", async () => {
    const proxy = startProxy(["--policy", policy, "--", process.execPath, MEMORY_SERVER], {
      MEMORY_FILE_PATH: join(dir, "m2.jsonl"),
    });
    send(proxy, INITIALIZE);
    await proxy.nextMessage();
    const pid = serverPid(proxy.stderr());
    expect(alive(pid)).toBe(true);
    proxy.child.stdin.end();
    expect(await proxy.exited).toBe(0);
    await waitFor(() => !alive(pid));
  });

  it("stops the server when it receives SIGTERM", async () => {
    const proxy = startProxy(["--policy", policy, "--", process.execPath, MEMORY_SERVER], {
      MEMORY_FILE_PATH: join(dir, "m3.jsonl"),
    });
    send(proxy, INITIALIZE);
    await proxy.nextMessage();
    const pid = serverPid(proxy.stderr());
    proxy.child.kill("SIGTERM");
    expect(await proxy.exited).toBe(0);
    await waitFor(() => !alive(pid));
    proxy.child.stdin.end();
  });

  it("refuses an invalid policy before starting the server, naming the file", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "rules:\n  - { name: x, effect: allow, actions: [list], subject: {} }\n");
    const marker = join(dir, "started");
    const run = await runCli([
      "proxy",
      "--policy",
      bad,
      "--",
      process.execPath,
      "-e",
      `require("fs").writeFileSync(${JSON.stringify(marker)}, "yes")`,
    ]);
    expect(run.code).toBe(EXIT.failure);
    expect(run.stderr).toContain(bad);
    expect(run.stderr).toContain('unknown field "subject"');
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.stdout).toBe("");
    expect(existsSync(marker)).toBe(false);
  });

  it("reports a server command that cannot be started", async () => {
    const run = await runCli(["proxy", "--policy", policy, "--", join(dir, "no-such-server")]);
    expect(run.code).toBe(EXIT.failure);
    expect(run.stderr).toContain("cannot start the server");
    expect(run.stderr).toContain("no-such-server");
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("mcp-pdp proxy configuration errors", () => {
  const server = ["--", process.execPath, MEMORY_SERVER];

  it("needs the server command", async () => {
    const run = await runMain(["proxy", "--policy", policy]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain("give the server command after --");
  });

  it("points to -- when the server's own flags come without it", async () => {
    const run = await runMain(["proxy", "--policy", policy, "npx", "server", "--port", "1"]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain("unknown option --port");
    expect(run.stderr).toContain("put the server command after --");
  });

  it("rejects arguments on both sides of --", async () => {
    const run = await runMain(["proxy", "--policy", policy, "node", "--", "server.js"]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain("before --");
  });

  it("never sends the audit to stdout, which carries the protocol", async () => {
    const env = await runMain(["proxy", "--policy", policy, ...server], {
      env: { MCP_PDP_AUDIT: "stdout" },
    });
    expect(env.code).toBe(EXIT.failure);
    expect(env.stderr).toContain("MCP_PDP_AUDIT: stdout carries the MCP protocol");
    const flag = await runMain(["proxy", "--policy", policy, "--audit", "stdout", ...server]);
    expect(flag.code).toBe(EXIT.failure);
    expect(flag.stderr).toContain("--audit: stdout carries the MCP protocol");
  });

  it("rejects an identity mode that stdio cannot carry", async () => {
    const run = await runMain(["proxy", "--policy", policy, ...server], {
      env: { MCP_PDP_IDENTITY: "jwt" },
    });
    expect(run.code).toBe(EXIT.failure);
    expect(run.stderr).toContain("MCP_PDP_IDENTITY=jwt");
  });

  it("rejects a bad deny mode, flag or variable", async () => {
    const flag = await runMain(["proxy", "--policy", policy, "--deny-mode", "silent", ...server]);
    expect(flag.code).toBe(EXIT.usage);
    expect(flag.stderr).toContain("--deny-mode must be one of error, tool-result, not-found");
    const env = await runMain(["proxy", "--policy", policy, ...server], {
      env: { MCP_PDP_DENY_MODE: "silent" },
    });
    expect(env.code).toBe(EXIT.failure);
    expect(env.stderr).toContain("MCP_PDP_DENY_MODE");
  });

  it("needs a policy or an adapter", async () => {
    const run = await runMain(["proxy", ...server]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain("no policy");
  });

  it("checks the HTTP options", async () => {
    const port = await runMain(["proxy", "--policy", policy, "--http", "http", ...server]);
    expect(port.code).toBe(EXIT.usage);
    expect(port.stderr).toContain("--http expects an integer from 0 to 65535");
    const host = await runMain(["proxy", "--policy", policy, "--host", "0.0.0.0", ...server]);
    expect(host.code).toBe(EXIT.usage);
    expect(host.stderr).toContain("--host, --max-sessions and --session-idle go with --http");
    const idle = await runMain(["proxy", "--policy", policy, "--session-idle", "60", ...server]);
    expect(idle.code).toBe(EXIT.usage);
    expect(idle.stderr).toContain("go with --http");
    const idleValue = await runMain([
      "proxy",
      "--policy",
      policy,
      "--http",
      "0",
      "--session-idle",
      "soon",
      ...server,
    ]);
    expect(idleValue.code).toBe(EXIT.usage);
    expect(idleValue.stderr).toContain("--session-idle expects an integer from 0 to 604800");
    const authInfo = await runMain(["proxy", "--policy", policy, "--http", "0", ...server], {
      env: { MCP_PDP_IDENTITY: "auth-info" },
    });
    expect(authInfo.code).toBe(EXIT.failure);
    expect(authInfo.stderr).toContain("MCP_PDP_IDENTITY=auth-info");
  });

  it("checks --max-listens", async () => {
    for (const value of ["0", "many", "100001"]) {
      const run = await runMain(["proxy", "--policy", policy, "--max-listens", value, ...server]);
      expect(run.code).toBe(EXIT.usage);
      expect(run.stderr).toContain("--max-listens expects an integer from 1 to 100000");
    }
  });
});
