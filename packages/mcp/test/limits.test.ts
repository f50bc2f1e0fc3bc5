/**
 * Oversized names, URIs and arguments through the real guard: an SDK McpServer secured with
 * authorize() and a local policy, a real SDK Client over InMemoryTransport, no token. Each request
 * must be refused quickly, and nothing of it may stay in memory or be written out in full.
 */
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { Writable } from "node:stream";
import { runInNewContext } from "node:vm";
import { jsonLinesAuditSink, withCache } from "@mcp-pdp/core";
import { localPdp } from "@mcp-pdp/local";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { CallToolResultSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { UNAUTHORIZED_CODE, authorize } from "../src/index.js";

const MiB = 1 << 20;

/** A full garbage collection: with `--expose-gc` when given, else through a fresh context. */
const gc: () => void =
  (globalThis as { gc?: () => void }).gc ??
  (() => {
    setFlagsFromString("--expose-gc");
    return runInNewContext("gc") as () => void;
  })();

/** This isolate's live heap after full collections (the worker's own, not the process's). */
async function liveHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return getHeapStatistics().used_heap_size;
}

/** A 1 MiB string, different for each `i` (so nothing can be shared between requests). */
function huge(i: number, fill = "_"): string {
  const tail = `-${i}`;
  return fill.repeat(MiB - tail.length) + tail;
}

let client: Client;
let auditBytes = 0;
let lastAudit = "";
let toolRuns = 0;

beforeAll(async () => {
  const server = new McpServer({ name: "notes", version: "1.0.0" });
  server.registerTool("read_note", { inputSchema: { path: z.string().optional() } }, () => {
    toolRuns++;
    return { content: [{ type: "text", text: "ok" }] };
  });
  server.registerResource("index", "notes://index", {}, (uri) => ({
    contents: [{ uri: uri.href, text: "index" }],
  }));
  server.registerPrompt("summarize", { argsSchema: { topic: z.string() } }, () => ({
    messages: [],
  }));
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      auditBytes += chunk.length;
      lastAudit = chunk.toString("utf8");
      done();
    },
  });
  authorize(server, {
    // Cached, as a remote PDP would be: the cache must not keep what the client sent either.
    pdp: withCache()(
      localPdp({
        policies: [
          {
            rules: [
              // Anyone may do anything: what is refused below is refused for its size alone.
              { name: "everyone-everything", effect: "allow", actions: "*" },
            ],
          },
        ],
      }),
    ),
    mapping: { serverName: "notes" },
    audit: jsonLinesAuditSink({ destination }),
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  client = new Client({ name: "attacker", version: "1.0.0" });
  await client.connect(clientSide);
});

afterAll(async () => {
  await client.close();
});

/** Sends one request; returns the JSON-RPC error code it was refused with. */
async function refusal(send: () => Promise<unknown>): Promise<number | undefined> {
  try {
    await send();
    return undefined;
  } catch (error) {
    return error instanceof McpError ? error.code : -1;
  }
}

/** Each attack sends one request carrying `big` (a 1 MiB string) where it hurts. */
const attacks: Record<
  string,
  { make: (i: number) => string; send: (big: string) => Promise<unknown> }
> = {
  "tool name": {
    make: (i) => huge(i),
    send: (big) =>
      client.request(
        { method: "tools/call", params: { name: big, arguments: {} } },
        CallToolResultSchema,
      ),
  },
  "prompt name": { make: (i) => huge(i), send: (big) => client.getPrompt({ name: big }) },
  "resource URI": {
    make: (i) => `notes://${huge(i, "a")}`,
    send: (big) => client.readResource({ uri: big }),
  },
  "argument key": {
    make: (i) => huge(i),
    send: (big) =>
      client.request(
        { method: "tools/call", params: { name: "read_note", arguments: { [big]: 1 } } },
        CallToolResultSchema,
      ),
  },
  "argument value": {
    make: (i) => huge(i),
    send: (big) =>
      client.request(
        { method: "tools/call", params: { name: "read_note", arguments: { path: big } } },
        CallToolResultSchema,
      ),
  },
};

describe("1 MiB names, URIs and arguments from an unauthenticated client", () => {
  it.each(Object.keys(attacks))(
    "50 with a huge %s are each refused in < 50 ms and leave the heap within 20 MiB",
    async (kind) => {
      const attack = attacks[kind] as (typeof attacks)[string];
      // Warm up the code paths first, so the measurement sees only what requests leave behind.
      for (let i = 0; i < 3; i++) {
        expect(await refusal(() => attack.send(attack.make(-1 - i)))).toBe(UNAUTHORIZED_CODE);
      }
      const before = await liveHeap();
      const auditBefore = auditBytes;
      /** Sends one 1 MiB request and returns how long the refusal took. */
      const timed = async (i: number): Promise<number> => {
        // The client's string is made, and the heap collected, outside the timed part: a full
        // collection that the test's own allocations happen to trigger is not the guard's time.
        let big: string | undefined = attack.make(i);
        gc();
        const started = performance.now();
        const code = await refusal(() => attack.send(big as string));
        const elapsed = performance.now() - started;
        big = undefined;
        expect(code).toBe(UNAUTHORIZED_CODE);
        return elapsed;
      };
      // A busy machine can stall any one request; the guard's own cost shows in every one. So a
      // request over 50 ms is sent again once (a new string), and that one must be quick; only a
      // few may need it.
      const latencies: number[] = [];
      let resent = 0;
      for (let i = 0; i < 50; i++) {
        let elapsed = await timed(i);
        if (elapsed >= 50) {
          resent++;
          elapsed = await timed(1000 + i);
        }
        latencies.push(elapsed);
      }
      expect(resent, `requests over 50 ms: ${resent}`).toBeLessThanOrEqual(5);
      const after = await liveHeap();
      expect(Math.max(...latencies), "slowest of 50 (ms)").toBeLessThan(50);
      expect((after - before) / MiB, "heap growth (MiB)").toBeLessThan(20);
      // The audit events carry a bounded form, never the 1 MiB string itself.
      expect((auditBytes - auditBefore) / 50, "audit bytes per request").toBeLessThan(2048);
      expect(JSON.parse(lastAudit)).toMatchObject({
        allow: false,
        source: "error",
        errorCode: "REQUEST_INVALID",
      });
      expect(toolRuns).toBe(0);
    },
  );

  it("while ordinary requests of the same client go through", async () => {
    const result = await client.callTool({ name: "read_note", arguments: { path: "a.md" } });
    expect(result.content).toEqual([{ type: "text", text: "ok" }]);
    expect(toolRuns).toBe(1);
    const read = await client.readResource({ uri: "notes://index" });
    expect(read.contents[0]).toMatchObject({ text: "index" });
  });
});

describe("the tool actions the mapping remembers", () => {
  it("are those of tools the server registered, never names a client made up", async () => {
    const { listedActions } = await import("../../core/src/tool-actions.js");
    const server = new McpServer({ name: "notes", version: "1.0.0" });
    server.registerTool("registered_only_tool", { inputSchema: { id: z.string() } }, () => ({
      content: [{ type: "text", text: "ran" }],
    }));
    authorize(server, {
      pdp: localPdp({ policies: [{ rules: [{ name: "all", effect: "allow", actions: ["*"] }] }] }),
      audit: false,
      env: {},
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: "c", version: "1" });
    await client.connect(clientSide);
    try {
      expect(listedActions.has("registered_only_tool")).toBe(false);
      await client.callTool({ name: "registered_only_tool", arguments: { id: "1" } });
      expect(listedActions.get("registered_only_tool")).toBe("registered-only-tool");
      await client
        .callTool({ name: "made_up_by_the_client", arguments: {} })
        .catch(() => undefined);
      expect(listedActions.has("made_up_by_the_client")).toBe(false);
    } finally {
      await client.close();
    }
  });
});
