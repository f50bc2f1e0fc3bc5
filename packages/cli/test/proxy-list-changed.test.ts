import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ProtocolError,
  StreamableHTTPClientTransport as V2HttpClientTransport,
  Client as V2Client,
} from "@modelcontextprotocol/client";
import { StdioClientTransport as V2StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLI,
  NODE_FLAGS,
  RAW_INITIALIZE,
  type RawProxy,
  connectThroughProxy,
  startHttpProxy,
  startRawProxy,
  tempDir,
  NOTHING_DESTRUCTIVE,
} from "./helpers.js";

/**
 * The SDK v2 stdio server; its `arm` tool registers the destructive `nuke` (and `nuke_1`, ...) at
 * runtime, and McpServer announces each with `notifications/tools/list_changed`.
 */
const V2_SERVER = fileURLToPath(new URL("./fixtures/v2-server.ts", import.meta.url));
/** A hand-written 2026-07-28 server; its `emit` tool can end any listen (see the fixture). */
const LISTEN_SERVER = fileURLToPath(new URL("./fixtures/listen-server.ts", import.meta.url));
const MODERN = "2026-07-28";

let dir: string;
let cleanup: () => void;
let policy: string;
let run = 0;

beforeAll(() => {
  ({ dir, cleanup } = tempDir());
  policy = join(dir, "nothing-destructive.yaml");
  writeFileSync(policy, NOTHING_DESTRUCTIVE);
});
afterAll(() => {
  cleanup();
});

function linesOf(path: string): string[] {
  return existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : [];
}

/**
 * The proxy's flags and server in front of the v2 fixture, its environment, and what reached the
 * server: the tool calls it ran, and its wire log (`tools/list`, `watch <id>`, ...).
 */
function setup(env: Record<string, string> = {}) {
  const calls = join(dir, `calls-${String(++run)}.txt`);
  const wire = join(dir, `wire-${String(run)}.txt`);
  return {
    flags: ["--policy", policy, "--server-name", "notes"],
    server: [process.execPath, ...NODE_FLAGS, V2_SERVER],
    env: { MCP_PDP_AUDIT: "off", V2_CALLS_FILE: calls, V2_WIRE_FILE: wire, ...env },
    ran: () => linesOf(calls),
    wire: () => linesOf(wire),
    /** How many times the server's tool list was read (by the proxy: no client here lists). */
    toolReads: () => linesOf(wire).filter((l) => l === "tools/list").length,
  };
}

async function codeOf(promise: Promise<unknown>): Promise<number> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error instanceof ProtocolError || error instanceof McpError) return error.code;
  throw new Error(`expected a JSON-RPC error, got ${JSON.stringify(error)}`);
}

function texts(result: unknown): string {
  return JSON.stringify((result as { content?: unknown }).content);
}

/** What a test does with a client, whichever SDK and transport it is. */
interface Caller {
  callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
  close(): Promise<void>;
}

/** A client of `era` through `mcp-pdp proxy` over `transport`, and how to stop the proxy. */
async function connect(
  transport: "stdio" | "http",
  era: "2025" | "2026-07-28",
  s: ReturnType<typeof setup>,
): Promise<{ client: Caller; stop: () => Promise<void> }> {
  if (transport === "stdio" && era === "2025") {
    // A 1.x client, as most clients are today.
    const { client } = await connectThroughProxy([...s.flags, "--", ...s.server], s.env);
    return { client, stop: () => Promise.resolve() };
  }
  const client = new V2Client(
    { name: "v2-client", version: "1.0.0" },
    era === "2025" ? {} : { versionNegotiation: { mode: { pin: MODERN } } },
  );
  if (transport === "stdio") {
    await client.connect(
      new V2StdioClientTransport({
        command: process.execPath,
        args: [...NODE_FLAGS, CLI, "proxy", ...s.flags, "--", ...s.server],
        env: { PATH: process.env.PATH ?? "", ...s.env },
        stderr: "pipe",
      }),
    );
    return { client, stop: () => Promise.resolve() };
  }
  const proxy = await startHttpProxy(s.flags, s.server, s.env);
  await client.connect(new V2HttpClientTransport(proxy.url));
  return {
    client,
    stop: async () => {
      proxy.child.kill("SIGTERM");
      await proxy.exited;
    },
  };
}

describe("mcp-pdp proxy: a tool the server adds after the first read is decided on what it declares", () => {
  const cases = [
    ["stdio", "2025"],
    ["stdio", "2026-07-28"],
    ["http", "2025"],
    ["http", "2026-07-28"],
  ] as const;
  for (const [transport, era] of cases) {
    it(`reads the tool list again on list_changed, so a destructive tool registered at runtime is denied (${transport}, ${era})`, async () => {
      const s = setup();
      const { client, stop } = await connect(transport, era, s);
      try {
        expect(texts(await client.callTool({ name: "arm", arguments: {} }))).toContain("armed");
        // Called without listing first: only the proxy's own read knows `nuke` is destructive.
        expect(await codeOf(client.callTool({ name: "nuke", arguments: {} }))).toBe(-32010);
        expect(texts(await client.callTool({ name: "read_notes", arguments: {} }))).toContain(
          "read_notes ran",
        );
      } finally {
        await client.close();
        await stop();
      }
      expect(s.ran()).toEqual(["arm", "read_notes"]);
      if (era === MODERN) {
        // A 2026-07-28 server announces changes only on a subscription: the proxy opened one.
        expect(s.wire().filter((l) => l.startsWith("watch "))).toHaveLength(1);
      }
    });
  }
});

/** A 2026-07-28 request's `_meta` envelope. */
const ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": MODERN,
  "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

/** A raw proxy with a session of `era` open, and a tools/call in that era. */
async function rawSession(era: "2025" | "2026-07-28", s: ReturnType<typeof setup>) {
  const proxy = startRawProxy([...s.flags, "--", ...s.server], s.env);
  const call = (id: number, name: string, args: Record<string, unknown> = {}) => ({
    id,
    method: "tools/call",
    params: { name, arguments: args, ...(era === MODERN ? { _meta: ENVELOPE } : {}) },
  });
  if (era === "2025") {
    proxy.send(RAW_INITIALIZE, { method: "notifications/initialized" });
    await proxy.answerTo(1);
  }
  return { proxy, call };
}

async function stopping(proxy: RawProxy, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } finally {
    await proxy.stop();
  }
}

describe("mcp-pdp proxy: reading the lists again after list_changed", () => {
  for (const era of ["2025", "2026-07-28"] as const) {
    it(`holds a request that arrives while the list is read again, then decides it on the new declarations (${era})`, async () => {
      const slow = 1000;
      const s = setup({ V2_SLOW_LIST_MS: String(slow) });
      const { proxy, call } = await rawSession(era, s);
      await stopping(proxy, async () => {
        proxy.send(call(2, "arm"));
        expect(JSON.stringify((await proxy.answerTo(2)).result)).toContain("armed");
        // The list_changed came before that answer: the proxy is reading the list again, and the
        // server holds that read for a second.
        const sent = Date.now();
        proxy.send(call(3, "nuke"));
        expect((await proxy.answerTo(3)).error).toMatchObject({ code: -32010 });
        expect(Date.now() - sent).toBeGreaterThanOrEqual(slow - 300);
        // Released once read: the next one is decided at once.
        proxy.send(call(4, "read_notes"));
        expect(JSON.stringify((await proxy.answerTo(4)).result)).toContain("read_notes ran");
      });
      expect(s.toolReads()).toBe(2);
      expect(s.ran()).toEqual(["arm", "read_notes"]);
    });
  }

  it("reads the list again once, or at most twice when they arrive split, for several list_changed in a row", async () => {
    const s = setup();
    const { proxy, call } = await rawSession("2025", s);
    await stopping(proxy, async () => {
      // Five tools registered at once: five notifications.
      proxy.send(call(2, "arm", { count: 5 }));
      await proxy.answerTo(2);
      proxy.send(call(3, "nuke_4"));
      expect((await proxy.answerTo(3)).error).toMatchObject({ code: -32010 });
    });
    const notified = proxy
      .messages()
      .filter((m) => m.method === "notifications/tools/list_changed");
    // Each still reaches the client.
    expect(notified).toHaveLength(5);
    // The first read, then one for the burst (notifications arriving in two pieces on a loaded
    // machine can cost one more, the read under way being followed by one): never one each.
    expect(s.toolReads()).toBeGreaterThanOrEqual(2);
    expect(s.toolReads()).toBeLessThanOrEqual(3);
  });

  it("answers held requests -32603 when the list cannot be read again, and reads it again on the next request", async () => {
    const broken = join(dir, "registry-down");
    writeFileSync(broken, "");
    const s = setup({ V2_FAIL_LIST_FILE: broken });
    const { proxy, call } = await rawSession("2025", s);
    await stopping(proxy, async () => {
      proxy.send(call(2, "arm"));
      await proxy.answerTo(2);
      proxy.send(call(3, "nuke"));
      expect((await proxy.answerTo(3)).error).toEqual({
        code: -32603,
        message:
          "mcp-pdp proxy: the request cannot be decided: the server's lists could not be read; the next request tries again",
      });
      expect(proxy.stderr()).toContain("tool registry unavailable");
      rmSync(broken);
      proxy.send(call(4, "nuke"));
      expect((await proxy.answerTo(4)).error).toMatchObject({ code: -32010 });
    });
    expect(s.ran()).toEqual(["arm"]);
  });
});

describe("mcp-pdp proxy: its own 2026-07-28 subscription to the server's list changes", () => {
  /** A raw 2026-07-28 proxy in front of the hand-written server, and its listens on the wire. */
  function listenServer(changes: "announce" | "refuse") {
    const wire = join(dir, `listen-wire-${String(++run)}.txt`);
    const proxy = startRawProxy(
      [
        "--policy",
        policy,
        "--server-name",
        "notes",
        "--",
        process.execPath,
        ...NODE_FLAGS,
        LISTEN_SERVER,
      ],
      { LISTEN_WIRE_FILE: wire, LISTEN_CHANGES: changes },
    );
    const call = (id: number, args: Record<string, unknown> = {}) => ({
      id,
      method: "tools/call",
      params: { name: "emit", arguments: args, _meta: ENVELOPE },
    });
    return { proxy, call, listens: () => linesOf(wire).filter((l) => l.startsWith("listen ")) };
  }

  it("subscribes again, reading the lists again first, at the next request after the server ended it", async () => {
    const { proxy, call, listens } = listenServer("announce");
    await stopping(proxy, async () => {
      // The first request's read subscribes: that listen is the server's listen number 0.
      proxy.send(call(1, { listen: 0, end: true }));
      expect((await proxy.answerTo(1)).result).toMatchObject({ content: [] });
      expect(listens()).toHaveLength(1);
      // Held until the lists are read again, which subscribes again (the server's listen number
      // 1), and the call then notifies on that new subscription.
      proxy.send(call(2, { listen: 1 }));
      expect((await proxy.answerTo(2)).result).toMatchObject({ content: [] });
      expect(listens()).toHaveLength(2);
      // The subscription is the proxy's: neither its end nor its notifications reach the client.
      expect(proxy.messages().filter((m) => m.method !== undefined)).toEqual([]);
    });
    expect(proxy.stderr()).toContain(
      "the server ended the proxy's subscription to its list changes",
    );
  });

  it("still serves a server that refuses the subscription, and says on stderr that later changes go unseen", async () => {
    const { proxy, call } = listenServer("refuse");
    await stopping(proxy, async () => {
      proxy.send(call(1));
      expect((await proxy.answerTo(1)).result).toMatchObject({ content: [] });
      proxy.send(call(2));
      expect((await proxy.answerTo(2)).result).toMatchObject({ content: [] });
    });
    const refusals = proxy
      .stderr()
      .split("\n")
      .filter((l) => l.includes("did not accept the proxy's subscriptions/listen"));
    // Said once: it is not asked again.
    expect(refusals).toHaveLength(1);
  });
});
