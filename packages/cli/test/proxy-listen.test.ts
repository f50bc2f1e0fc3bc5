import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ProtocolError,
  StreamableHTTPClientTransport as V2HttpClientTransport,
  Client as V2Client,
} from "@modelcontextprotocol/client";
import { StdioClientTransport as V2StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLI,
  NODE_FLAGS,
  type RawProxy,
  type Running,
  startHttpProxy,
  startRawProxy,
  tempDir,
} from "./helpers.js";

/** The SDK v2 stdio server (`serveStdio`); its `touch` tool says a resource changed. */
const V2_SERVER = fileURLToPath(new URL("./fixtures/v2-server.ts", import.meta.url));
/** A hand-written 2026-07-28 server whose `emit` tool stamps notifications with any id. */
const LISTEN_SERVER = fileURLToPath(new URL("./fixtures/listen-server.ts", import.meta.url));
const MODERN = "2026-07-28";
const STAMP = "io.modelcontextprotocol/subscriptionId";

/** Listeners may listen, read resources and call the tools that make the server notify. */
const LISTENERS = `rules:
  - { name: lists, effect: allow, resources: { types: [notes_tools, notes_resources, notes_resource_templates] }, actions: [list] }
  - { name: listen, effect: allow, subjects: { roles: [listener] }, resources: { types: [notes_subscriptions] }, actions: [listen] }
  - { name: read, effect: allow, subjects: { roles: [listener] }, resources: { types: [notes_resources] }, actions: [read] }
  - { name: tools, effect: allow, subjects: { roles: [listener] }, resources: { types: [notes], tools: [touch, emit, hang, ask] }, actions: ["*"] }
  - { name: partial-listen, effect: allow, subjects: { roles: [reader-of-a] }, resources: { types: [notes_subscriptions] }, actions: [listen] }
  - { name: partial-read, effect: allow, subjects: { roles: [reader-of-a] }, resources: { types: [notes_resources] }, actions: [read], when: [{ field: operation.uri, op: equals, value: "note://a" }] }
  - { name: partial-touch, effect: allow, subjects: { roles: [reader-of-a] }, resources: { types: [notes], tools: [touch] }, actions: ["*"] }
`;

let dir: string;
let cleanup: () => void;
let policy: string;
let run = 0;

beforeAll(() => {
  ({ dir, cleanup } = tempDir());
  policy = join(dir, "listeners.yaml");
  writeFileSync(policy, LISTENERS);
});
afterAll(() => {
  cleanup();
});

/** A file the server fixture appends what reached it to, and its lines so far. */
function wireFile(): { path: string; lines: () => string[] } {
  const path = join(dir, `wire-${String(++run)}.txt`);
  return {
    path,
    lines: () => (existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : []),
  };
}

/** Resolves once `check` holds, polling; rejects after `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A moment for anything still on its way to arrive, before checking that it did not. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 200));
}

/** The proxy's flags in front of `server`, for the caller alice with `roles`. */
function flags(roles: string[] = ["listener"], extra: string[] = []): string[] {
  return [
    "--policy",
    policy,
    "--server-name",
    "notes",
    "--subject",
    "alice",
    ...roles.flatMap((role) => ["--role", role]),
    ...extra,
  ];
}

/** A v2 client pinned to 2026-07-28 through `mcp-pdp proxy <args>` on stdio. */
async function modernThroughProxy(args: string[], env: Record<string, string>) {
  const transport = new V2StdioClientTransport({
    command: process.execPath,
    args: [...NODE_FLAGS, CLI, "proxy", ...args],
    env: { PATH: process.env.PATH ?? "", MCP_PDP_AUDIT: "off", ...env },
    stderr: "pipe",
  });
  const client = new V2Client(
    { name: "v2-client", version: "1.0.0" },
    { versionNegotiation: { mode: { pin: MODERN } } },
  );
  await client.connect(transport);
  return client;
}

/** A 2026-07-28 request's `_meta` envelope. */
const ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": MODERN,
  "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

function listen(id: string | number, uris: string[] = ["note://a"]): Record<string, unknown> {
  return {
    id,
    method: "subscriptions/listen",
    params: { notifications: { resourceSubscriptions: uris }, _meta: ENVELOPE },
  };
}

function call(id: number, name: string, args: Record<string, unknown> = {}) {
  return { id, method: "tools/call", params: { name, arguments: args, _meta: ENVELOPE } };
}

function cancel(requestId: string | number) {
  return { method: "notifications/cancelled", params: { requestId } };
}

/** The notifications of `method` the proxy wrote, with the subscription id each is stamped with. */
function stamped(proxy: RawProxy, method: string): unknown[] {
  return proxy
    .messages()
    .filter((m) => m.method === method)
    .map((m) => (m.params as { _meta?: Record<string, unknown> } | undefined)?._meta?.[STAMP]);
}

describe("mcp-pdp proxy: subscriptions/listen over stdio (2026-07-28)", () => {
  it("acknowledges a v2 client's listen and delivers the updates of the resources it subscribed to, stamped with the client's id, until the client closes it", async () => {
    const wire = wireFile();
    const client = await modernThroughProxy(
      [...flags(), "--", process.execPath, ...NODE_FLAGS, V2_SERVER],
      { V2_WIRE_FILE: wire.path },
    );
    const updates: unknown[] = [];
    client.setNotificationHandler("notifications/resources/updated", (notification) => {
      updates.push(notification.params);
    });
    try {
      const subscription = await client.listen(
        { resourceSubscriptions: ["note://a"] },
        { timeout: 10_000 },
      );
      expect(subscription.honoredFilter).toEqual({ resourceSubscriptions: ["note://a"] });
      await client.callTool({ name: "touch", arguments: { uri: "note://b" } });
      await client.callTool({ name: "touch", arguments: { uri: "note://a" } });
      await until(() => updates.length > 0, "the update");
      expect(updates).toEqual([{ uri: "note://a", _meta: { [STAMP]: "listen:0" } }]);

      await subscription.close();
      expect(await subscription.closed).toBe("local");
      // The server was told, under the id the listen reached it with.
      const listened = wire.lines().find((l) => l.startsWith("listen "));
      expect(listened).toMatch(/^listen \d+$/);
      await until(
        () => wire.lines().includes(`cancelled ${listened!.slice("listen ".length)}`),
        "the server's cancellation",
      );
      await client.callTool({ name: "touch", arguments: { uri: "note://a" } });
      await settle();
      expect(updates).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it("decides each update for the listen's caller as a read of its resource: one the caller may not read is withheld", async () => {
    const client = await modernThroughProxy(
      [...flags(["reader-of-a"]), "--", process.execPath, ...NODE_FLAGS, V2_SERVER],
      {},
    );
    const updates: unknown[] = [];
    client.setNotificationHandler("notifications/resources/updated", (notification) => {
      updates.push(notification.params.uri);
    });
    try {
      // The listen itself is allowed (the policy does not require each resource to be readable).
      const subscription = await client.listen(
        { resourceSubscriptions: ["note://a", "note://b"] },
        { timeout: 10_000 },
      );
      await client.callTool({ name: "touch", arguments: { uri: "note://b" } });
      await client.callTool({ name: "touch", arguments: { uri: "note://a" } });
      await until(() => updates.length > 0, "the update");
      await settle();
      expect(updates).toEqual(["note://a"]);
      await subscription.close();
    } finally {
      await client.close();
    }
  });

  it("delivers a notification only when it is stamped with the id of a listen the client has open: a made-up id, the client's own id, another request's id, a cancelled or ended listen's id go nowhere", async () => {
    const wire = wireFile();
    const proxy = startRawProxy(
      [...flags(), "--", process.execPath, ...NODE_FLAGS, LISTEN_SERVER],
      { LISTEN_WIRE_FILE: wire.path },
    );
    const updated = () => stamped(proxy, "notifications/resources/updated");
    try {
      proxy.send(listen("L1"));
      await until(
        () => stamped(proxy, "notifications/subscriptions/acknowledged").length === 1,
        "the acknowledgement",
      );
      expect(stamped(proxy, "notifications/subscriptions/acknowledged")).toEqual(["L1"]);
      proxy.send(
        call(1, "emit", { stamp: 999 }),
        call(2, "emit", { stamp: "L1" }),
        call(3, "emit", { stamp: "self" }),
        call(4, "emit", { listen: 0 }),
      );
      await proxy.answerTo(4);
      // Once the one that belongs to the listen arrived (the guard may decide it on its way out).
      await until(() => updated().length > 0, "the update");
      await settle();
      expect(updated()).toEqual(["L1"]);

      proxy.send(cancel("L1"), call(5, "emit", { listen: 0 }));
      await proxy.answerTo(5);
      await settle();
      expect(updated()).toEqual(["L1"]);
      const proxyId = wire.lines()[0]!.slice("listen ".length);
      expect(wire.lines()).toEqual([`listen ${proxyId}`, `cancelled ${proxyId}`]);

      // The server ends a listen: its result comes back under the client's id, and so does its stamp.
      proxy.send(listen("L2"), call(6, "emit", { listen: 1, end: true }));
      const ended = await proxy.answerTo("L2");
      expect(ended.result).toEqual({ resultType: "complete", _meta: { [STAMP]: "L2" } });
      proxy.send(call(7, "emit", { listen: 1 }));
      await proxy.answerTo(7);
      await settle();
      expect(updated()).toEqual(["L1"]);
      // Nothing answered the cancelled listen.
      expect(proxy.messages().filter((m) => m.id === "L1")).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it("refuses a listen past --max-listens without reaching the server, and takes one again once a listen was cancelled", async () => {
    const wire = wireFile();
    const proxy = startRawProxy(
      [
        ...flags(["listener"], ["--max-listens", "1"]),
        "--",
        process.execPath,
        ...NODE_FLAGS,
        LISTEN_SERVER,
      ],
      { LISTEN_WIRE_FILE: wire.path },
    );
    try {
      proxy.send(listen("L1"), listen("L2"));
      expect((await proxy.answerTo("L2")).error).toMatchObject({
        code: -32000,
        message: expect.stringContaining("at most 1") as unknown,
      });
      proxy.send(cancel("L1"), listen("L3"));
      await until(
        () => stamped(proxy, "notifications/subscriptions/acknowledged").includes("L3"),
        "the third listen's acknowledgement",
      );
      expect(stamped(proxy, "notifications/subscriptions/acknowledged")).toEqual(["L1", "L3"]);
      expect(wire.lines().filter((l) => l.startsWith("listen "))).toHaveLength(2);
    } finally {
      await proxy.stop();
    }
  });

  it("keeps passing cancellations on to the server however many listens and calls were cancelled before", async () => {
    const wire = wireFile();
    const proxy = startRawProxy(
      [...flags(), "--", process.execPath, ...NODE_FLAGS, LISTEN_SERVER],
      { LISTEN_WIRE_FILE: wire.path },
    );
    // More than the guard holds as cancelled-but-unanswered (1,024): each must be finished.
    const count = 1100;
    try {
      // Once the server's lists are read (until then the proxy holds at most 1,000 requests).
      proxy.send(call(0, "emit", { stamp: "self" }));
      await proxy.answerTo(0);
      const messages: Record<string, unknown>[] = [];
      for (let i = 0; i < count; i++) {
        messages.push(listen(`L${String(i)}`), cancel(`L${String(i)}`));
        messages.push(call(10_000 + i, "hang"), cancel(10_000 + i));
      }
      proxy.send(...messages, call(1, "emit", { stamp: "self" }));
      await proxy.answerTo(1);
      await until(
        () => wire.lines().filter((l) => l.startsWith("cancelled ")).length === 2 * count,
        "every cancellation",
      );
      // Nothing of the cancelled requests came back.
      expect(
        proxy.messages().filter((m) => m.id !== 0 && m.id !== 1 && m.method === undefined),
      ).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });
});

/** The proxy's identity from the `x-user` and `x-roles` headers of each HTTP request. */
const BY_HEADER = {
  MCP_PDP_IDENTITY: "header",
  MCP_PDP_IDENTITY_HEADER: "x-user",
  MCP_PDP_IDENTITY_ROLES_HEADER: "x-roles",
};

/** `mcp-pdp proxy --http 0` in front of `server`, callers named by headers. */
function httpProxy(server: string, env: Record<string, string>, extra: string[] = []) {
  return startHttpProxy(
    ["--policy", policy, "--server-name", "notes", ...extra],
    [process.execPath, ...NODE_FLAGS, server],
    { ...BY_HEADER, ...env },
  );
}

async function stop(proxy: Running): Promise<void> {
  proxy.child.kill("SIGTERM");
  await proxy.exited;
}

/** A v2 client pinned to 2026-07-28, connected over HTTP as `user` with `roles`. */
async function caller(url: URL, user: string, roles: string[] = []): Promise<V2Client> {
  const client = new V2Client(
    { name: "v2-client", version: "1.0.0" },
    { versionNegotiation: { mode: { pin: MODERN } } },
  );
  const headers: Record<string, string> = { "x-user": user };
  if (roles.length > 0) headers["x-roles"] = roles.join(",");
  await client.connect(new V2HttpClientTransport(url, { requestInit: { headers } }));
  return client;
}

/** The params of each `notifications/resources/updated` the client receives. */
function updatesOf(client: V2Client): unknown[] {
  const updates: unknown[] = [];
  client.setNotificationHandler("notifications/resources/updated", (notification) => {
    updates.push(notification.params);
  });
  return updates;
}

async function codeOf(promise: Promise<unknown>): Promise<number> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error instanceof ProtocolError) return error.code;
  throw new Error(`expected a JSON-RPC error, got ${String(error)}`);
}

/** How many server processes the HTTP proxy reported starting, and their pids. */
function started(stderr: string): number[] {
  return [...stderr.matchAll(/server started \(pid (\d+)\)/g)].map((m) => Number(m[1]));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** POSTs a 2026-07-28 request as alice the listener; aborting `signal` disconnects. */
function post(url: URL, body: Record<string, unknown>, signal?: AbortSignal) {
  return fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN,
      "x-user": "alice",
      "x-roles": "listener",
    },
    body: JSON.stringify({ jsonrpc: "2.0", ...body }),
    ...(signal !== undefined ? { signal } : {}),
  });
}

/** The JSON-RPC messages of an SSE response as they arrive. */
function sseMessages(response: Response): { messages: Record<string, unknown>[] } {
  const messages: Record<string, unknown>[] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: "" }));
      if (done) return;
      pending += value;
      const frames = pending.split("\n\n");
      pending = frames.pop() ?? "";
      for (const frame of frames) {
        const data = frame
          .split("\n")
          .filter((l) => l.startsWith("data: "))
          .map((l) => l.slice("data: ".length))
          .join("\n");
        if (data !== "") messages.push(JSON.parse(data) as Record<string, unknown>);
      }
    }
  })();
  return { messages };
}

describe("mcp-pdp proxy --http: subscriptions/listen in the 2026-07-28 era", () => {
  it("relays a v2 client's listen through the shared server: acknowledged, its resources' updates on its stream under its own id, and its disconnect cancels the subscription on the server", async () => {
    const wire = wireFile();
    const proxy = await httpProxy(V2_SERVER, { V2_WIRE_FILE: wire.path });
    const alice = await caller(proxy.url, "alice", ["listener"]);
    const updates = updatesOf(alice);
    try {
      const subscription = await alice.listen(
        { resourceSubscriptions: ["note://a"] },
        { timeout: 10_000 },
      );
      expect(subscription.honoredFilter).toEqual({ resourceSubscriptions: ["note://a"] });
      await alice.callTool({ name: "touch", arguments: { uri: "note://b" } });
      await alice.callTool({ name: "touch", arguments: { uri: "note://a" } });
      await until(() => updates.length > 0, "the update");
      expect(updates).toEqual([{ uri: "note://a", _meta: { [STAMP]: "listen:0" } }]);

      await subscription.close();
      const listened = wire.lines().find((l) => l.startsWith("listen "));
      expect(listened).toMatch(/^listen \d+$/);
      await until(
        () => wire.lines().includes(`cancelled ${listened!.slice("listen ".length)}`),
        "the server's cancellation",
      );
      await alice.callTool({ name: "touch", arguments: { uri: "note://a" } });
      await settle();
      expect(updates).toHaveLength(1);
    } finally {
      await alice.close();
      await stop(proxy);
    }
    expect(started(proxy.stderr())).toHaveLength(1);
  });

  it("decides each update for its listen's caller: one whose resource that caller may not read is withheld from that stream only", async () => {
    const proxy = await httpProxy(V2_SERVER, {});
    const alice = await caller(proxy.url, "alice", ["listener"]);
    const bob = await caller(proxy.url, "bob", ["reader-of-a"]);
    const toAlice = updatesOf(alice);
    const toBob = updatesOf(bob);
    try {
      const uris = { resourceSubscriptions: ["note://a", "note://b"] };
      const subscriptions = [
        await alice.listen(uris, { timeout: 10_000 }),
        await bob.listen(uris, { timeout: 10_000 }),
      ];
      await alice.callTool({ name: "touch", arguments: { uri: "note://b" } });
      await alice.callTool({ name: "touch", arguments: { uri: "note://a" } });
      await until(() => toAlice.length === 2 && toBob.length > 0, "the updates");
      await settle();
      expect(toAlice.map((u) => (u as { uri: string }).uri)).toEqual(["note://b", "note://a"]);
      expect(toBob.map((u) => (u as { uri: string }).uri)).toEqual(["note://a"]);
      for (const subscription of subscriptions) await subscription.close();
    } finally {
      await alice.close();
      await bob.close();
      await stop(proxy);
    }
  });

  it("decides each listen for its own caller: a denied one gets -32010 and never reaches the server; two callers using the same listen id each get only their own subscription's updates", async () => {
    const wire = wireFile();
    const proxy = await httpProxy(V2_SERVER, { V2_WIRE_FILE: wire.path });
    const eve = await caller(proxy.url, "eve");
    const alice = await caller(proxy.url, "alice", ["listener"]);
    const bob = await caller(proxy.url, "bob", ["listener"]);
    const toAlice = updatesOf(alice);
    const toBob = updatesOf(bob);
    try {
      expect(
        await codeOf(eve.listen({ resourceSubscriptions: ["note://a"] }, { timeout: 10_000 })),
      ).toBe(-32010);
      expect(wire.lines().filter((l) => l.startsWith("listen "))).toEqual([]);
      await alice.listen({ resourceSubscriptions: ["note://a"] }, { timeout: 10_000 });
      await bob.listen({ resourceSubscriptions: ["note://b"] }, { timeout: 10_000 });
      await alice.callTool({ name: "touch", arguments: { uri: "note://a" } });
      await alice.callTool({ name: "touch", arguments: { uri: "note://b" } });
      await until(() => toAlice.length > 0 && toBob.length > 0, "both updates");
      await settle();
      expect(toAlice).toEqual([{ uri: "note://a", _meta: { [STAMP]: "listen:0" } }]);
      expect(toBob).toEqual([{ uri: "note://b", _meta: { [STAMP]: "listen:0" } }]);
      expect(wire.lines().filter((l) => l.startsWith("listen "))).toHaveLength(2);
    } finally {
      for (const client of [eve, alice, bob]) await client.close();
      await stop(proxy);
    }
  });

  it("answers a listen past --max-listens 503 (-32000) before it is decided or reaches the server, and takes one again once a stream closed", async () => {
    const wire = wireFile();
    const proxy = await httpProxy(LISTEN_SERVER, { LISTEN_WIRE_FILE: wire.path }, [
      "--max-listens",
      "1",
    ]);
    const first = new AbortController();
    const third = new AbortController();
    try {
      const open = await post(proxy.url, listen(7), first.signal);
      expect(open.status).toBe(200);
      expect(open.headers.get("content-type")).toBe("text/event-stream");
      const stream = sseMessages(open);
      await until(() => stream.messages.length > 0, "the acknowledgement");
      expect(stream.messages[0]).toMatchObject({
        method: "notifications/subscriptions/acknowledged",
        params: { _meta: { [STAMP]: 7 } },
      });
      // Its updates come on its stream under its id; the emit call's own answer is JSON.
      const emitted = await post(proxy.url, call(1, "emit", { listen: 0 }));
      expect(await emitted.json()).toMatchObject({ id: 1, result: { content: [] } });
      await until(() => stream.messages.length > 1, "the update");
      expect(stream.messages[1]).toMatchObject({
        method: "notifications/resources/updated",
        params: { uri: "note://a", _meta: { [STAMP]: 7 } },
      });

      const refused = await post(proxy.url, listen("second"));
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({
        id: "second",
        error: { code: -32000, message: expect.stringContaining("at most 1") as unknown },
      });
      expect(wire.lines().filter((l) => l.startsWith("listen "))).toHaveLength(1);

      first.abort();
      await until(() => wire.lines().some((l) => l.startsWith("cancelled ")), "the cancellation");
      let again = await post(proxy.url, listen("third"), third.signal);
      for (let tries = 0; again.status === 503 && tries < 50; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        again = await post(proxy.url, listen("third"), third.signal);
      }
      expect(again.status).toBe(200);
      const reopened = sseMessages(again);
      await until(() => reopened.messages.length > 0, "the third listen's acknowledgement");
      expect(reopened.messages[0]).toMatchObject({ params: { _meta: { [STAMP]: "third" } } });
    } finally {
      first.abort();
      third.abort();
      await stop(proxy);
    }
  });

  it("tells a server that asks a 2026-07-28 HTTP caller something that the revision has no server requests", async () => {
    const proxy = await httpProxy(LISTEN_SERVER, {});
    try {
      const asked = await post(proxy.url, call(1, "ask"));
      const answer = (await asked.json()) as { result?: { content?: { text?: string }[] } };
      const error = JSON.parse(answer.result?.content?.[0]?.text ?? "{}") as {
        code?: number;
        message?: string;
      };
      expect(error.code).toBe(-32601);
      expect(error.message).toContain("elicitation/create");
      expect(error.message).toContain("input_required");
    } finally {
      await stop(proxy);
    }
  });

  it("stops the shared server after --session-idle with no request in flight and no listen open, and starts it again for the next request, which is decided on lists read again", async () => {
    const wire = wireFile();
    const proxy = await httpProxy(V2_SERVER, { V2_WIRE_FILE: wire.path }, ["--session-idle", "1"]);
    const alice = await caller(proxy.url, "alice", ["listener"]);
    const updates = updatesOf(alice);
    try {
      await alice.callTool({ name: "touch", arguments: { uri: "note://b" } });
      const [pid] = started(proxy.stderr());
      // An open listen keeps it running past the idle time.
      const subscription = await alice.listen(
        { resourceSubscriptions: ["note://a"] },
        { timeout: 10_000 },
      );
      await new Promise((resolve) => setTimeout(resolve, 1800));
      await alice.callTool({ name: "touch", arguments: { uri: "note://a" } });
      await until(() => updates.length > 0, "the update");
      expect(started(proxy.stderr())).toEqual([pid]);
      expect(proxy.stderr()).not.toContain("idle for");

      await subscription.close();
      await until(() => proxy.stderr().includes("idle for 1 s, stopped"), "the idle stop");
      await until(() => !alive(pid!), "the server process to exit");
      const lists = wire.lines().filter((l) => l === "tools/list").length;

      expect(await codeOf(alice.callTool({ name: "wipe_notes", arguments: {} }))).toBe(-32010);
      await alice.callTool({ name: "touch", arguments: { uri: "note://b" } });
      const pids = started(proxy.stderr());
      expect(pids).toHaveLength(2);
      expect(pids[1]).not.toBe(pid);
      expect(wire.lines().filter((l) => l === "tools/list").length).toBe(lists + 1);
    } finally {
      await alice.close();
      await stop(proxy);
    }
  });
});
