import type { AuthorizationRequest } from "@mcp-pdp/core";
import { type IdentityResolver, headerIdentity } from "@mcp-pdp/core";
import { functionPdp, memoryAuditSink, recordingPdp } from "@mcp-pdp/core/testing";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { Client as Client1 } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport as InMemory1 } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer as McpServer1 } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  ResourceUpdatedNotificationSchema,
  SubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import {
  InMemoryTransport,
  McpServer,
  SUPPORTED_PROTOCOL_VERSIONS,
  createMcpHandler,
} from "@modelcontextprotocol/server";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import { afterEach, describe, expect, it } from "vitest";
import {
  type GuardOptions,
  authorize,
  authorizeFactory,
  guardListen,
  guardTransport,
} from "../src/index.js";

const MODERN = "2026-07-28";
const ALL_VERSIONS = [MODERN, ...SUPPORTED_PROTOCOL_VERSIONS];
const RESOURCES = ["docs://readme", "docs://notes", "docs://secret"];

/**
 * A policy whose readable resources change while subscriptions are open: lists and listens are
 * allowed, a read only of a resource in `readable` (and, when `user` is set, only for that user).
 */
function revocablePolicy(readable: Set<string>, user?: string) {
  return (req: AuthorizationRequest): boolean => {
    if (user !== undefined && req.subject.id !== user) return false;
    if (req.action === "list" || req.action === "listen") return true;
    if (req.action === "subscribe" || req.action === "unsubscribe") return true;
    return req.operation.uri !== undefined && readable.has(req.operation.uri);
  };
}

function options(pdp: GuardOptions["pdp"], extra: Partial<GuardOptions> = {}): GuardOptions {
  return { pdp, audit: false, mapping: { serverName: "demo" }, env: {}, ...extra } as GuardOptions;
}

/** The v2 demo server, offering resource subscriptions. */
function v2Server(): McpServer {
  const server = new McpServer(
    { name: "demo", version: "1.0.0" },
    { supportedProtocolVersions: ALL_VERSIONS },
  );
  for (const uri of RESOURCES) {
    server.registerResource(uri, uri, {}, (u) => ({ contents: [{ uri: u.href, text: uri }] }));
  }
  server.server.registerCapabilities({ resources: { subscribe: true } });
  return server;
}

/** Collects the URIs of the updates a client receives; `next(n)` waits until n have come. */
function updates() {
  const uris: string[] = [];
  const waiting: { count: number; resolve: () => void }[] = [];
  return {
    uris,
    record(uri: string): void {
      uris.push(uri);
      for (const w of waiting.splice(0)) {
        if (uris.length >= w.count) w.resolve();
        else waiting.push(w);
      }
    },
    next(count: number): Promise<void> {
      if (uris.length >= count) return Promise.resolve();
      return new Promise((resolve) => waiting.push({ count, resolve }));
    },
  };
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/**
 * A modern-era client of the `serveStdio` entry `serve` starts on an in-memory pair (standing in
 * for the process's pipes) with `build` as its factory; `publish` announces an update through the
 * server `build` made.
 */
async function overStdio(
  serve: (serverSide: InMemoryTransport, build: () => McpServer) => { close(): Promise<void> },
): Promise<{ client: Client; publish: (uri: string) => Promise<void> | undefined }> {
  let server: McpServer | undefined;
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const handle = serve(serverSide, () => {
    server = v2Server();
    return server;
  });
  const client = new Client(
    { name: "test-client", version: "1.0.0" },
    { versionNegotiation: { mode: { pin: MODERN } } },
  );
  await client.connect(clientSide);
  closers.push(
    () => client.close(),
    () => handle.close(),
  );
  return { client, publish: (uri) => server?.server.sendResourceUpdated({ uri }) };
}

/**
 * Each way a modern-era listen is served with the guard in front of it: `publish(uri)` makes the
 * server announce an update of `uri` to its subscribers.
 */
const LISTENS: Record<
  string,
  (
    guard: GuardOptions,
  ) => Promise<{ client: Client; publish: (uri: string) => void | Promise<void> }>
> = {
  "createMcpHandler behind guardListen": async (guard) => {
    const handler = createMcpHandler(authorizeFactory(v2Server, guard));
    const fetch = guardListen(handler.fetch, guard);
    const client = new Client(
      { name: "test-client", version: "1.0.0" },
      { versionNegotiation: { mode: { pin: MODERN } } },
    );
    await client.connect(
      new StreamableHTTPClientTransport(new URL("http://mcp.test/mcp"), {
        fetch: (url, init) => fetch(new Request(url, init)),
        requestInit: { headers: { "x-user-id": "alice" } },
      }),
    );
    closers.push(
      () => client.close(),
      () => handler.close(),
    );
    return {
      client,
      publish: (uri) => {
        handler.notify.resourceUpdated(uri);
      },
    };
  },
  "serveStdio over a guarded transport": (guard) =>
    overStdio((serverSide, build) =>
      serveStdio(build, { transport: guardTransport(serverSide, guard) }),
    ),
  "serveStdio(authorizeFactory(factory))": (guard) =>
    overStdio((serverSide, build) =>
      serveStdio(authorizeFactory(build, guard), { transport: serverSide }),
    ),
};

for (const [entry, open] of Object.entries(LISTENS)) {
  describe(`resource updates of a 2026-07-28 listen, ${entry}`, () => {
    it("withholds an update of a resource the subscriber may no longer read, in order with the rest", async () => {
      const readable = new Set(RESOURCES);
      const pdp = recordingPdp(functionPdp(revocablePolicy(readable)));
      const audit = memoryAuditSink();
      const { client, publish } = await open(
        options(pdp, { identity: headerIdentity({ header: "x-user-id" }), audit }),
      );
      const got = updates();
      client.setNotificationHandler("notifications/resources/updated", (n) => {
        got.record(n.params.uri);
      });
      const subscription = await client.listen({ resourceSubscriptions: RESOURCES });
      closers.unshift(() => subscription.close());
      await publish("docs://readme");
      await got.next(1);
      readable.delete("docs://readme");
      await publish("docs://readme"); // revoked: withheld
      await publish("docs://notes"); // still readable: arrives, after the withheld one
      await got.next(2);
      expect(got.uris).toEqual(["docs://readme", "docs://notes"]);
      // Each update was decided as a read of its resource, and the refusal audited.
      const reads = pdp.requests.filter((r) => r.action === "read");
      expect(reads.map((r) => r.operation.uri)).toEqual([
        "docs://readme",
        "docs://readme",
        "docs://notes",
      ]);
      const denied = audit.events.filter((e) => !e.allow);
      expect(denied).toHaveLength(1);
      expect(denied[0]).toMatchObject({
        method: "resources/read",
        resource: { key: "docs://readme" },
      });
    });

    it("delivers nothing of a resource whose read fails to be decided (fail closed)", async () => {
      const policy = revocablePolicy(new Set(RESOURCES));
      const pdp = functionPdp((req) => {
        if (req.operation.uri === "docs://secret") throw new Error("PDP down");
        return policy(req);
      });
      const { client, publish } = await open(
        options(pdp, { identity: headerIdentity({ header: "x-user-id" }) }),
      );
      const got = updates();
      client.setNotificationHandler("notifications/resources/updated", (n) => {
        got.record(n.params.uri);
      });
      const subscription = await client.listen({ resourceSubscriptions: RESOURCES });
      closers.unshift(() => subscription.close());
      await publish("docs://secret");
      await publish("docs://notes");
      await got.next(1);
      expect(got.uris).toEqual(["docs://notes"]);
    });
  });
}

describe("resource updates of a 2025 resources/subscribe (SDK 1.x)", () => {
  /**
   * A guarded 1.x server and a client whose every message carries `authInfo` for the caller
   * `as.who` (as an HTTP session's requests each carry their own).
   */
  async function subscribed(guard: GuardOptions) {
    const server = new McpServer1(
      { name: "demo", version: "1.0.0" },
      { capabilities: { resources: { subscribe: true } } },
    );
    for (const uri of RESOURCES) {
      server.registerResource(uri, uri, {}, (u) => ({ contents: [{ uri: u.href, text: uri }] }));
    }
    server.server.setRequestHandler(SubscribeRequestSchema, () => ({}));
    authorize(server, guard);
    const [clientSide, serverSide] = InMemory1.createLinkedPair();
    const as = { who: "alice" };
    const send = clientSide.send.bind(clientSide);
    clientSide.send = (message, options) =>
      send(message, { ...options, authInfo: { token: "t", clientId: as.who, scopes: [] } });
    await server.connect(serverSide);
    const client = new Client1({ name: "test-client", version: "1.0.0" });
    await client.connect(clientSide);
    closers.push(() => client.close());
    const got = updates();
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      got.record(n.params.uri);
    });
    return { server, client, as, got };
  }

  const byClientId: IdentityResolver = (context) => ({
    id: context.authInfo?.clientId ?? "anonymous",
    authenticated: context.authInfo !== undefined,
  });

  it("withholds an update of a subscribed resource once the subscriber may no longer read it", async () => {
    const readable = new Set(RESOURCES);
    const pdp = recordingPdp(functionPdp(revocablePolicy(readable)));
    const { server, client, got } = await subscribed(options(pdp, { identity: byClientId }));
    await client.subscribeResource({ uri: "docs://readme" });
    await client.subscribeResource({ uri: "docs://notes" });
    await server.server.sendResourceUpdated({ uri: "docs://readme" });
    await got.next(1);
    readable.delete("docs://readme");
    await server.server.sendResourceUpdated({ uri: "docs://readme" });
    await server.server.sendResourceUpdated({ uri: "docs://notes" });
    await got.next(2);
    expect(got.uris).toEqual(["docs://readme", "docs://notes"]);
  });

  it("decides an update for the caller who subscribed, not for whoever spoke last", async () => {
    // alice may read everything; bob may only list.
    const pdp = recordingPdp(functionPdp(revocablePolicy(new Set(RESOURCES), "alice")));
    const { server, client, as, got } = await subscribed(options(pdp, { identity: byClientId }));
    await client.subscribeResource({ uri: "docs://readme" });
    as.who = "bob";
    await expect(client.readResource({ uri: "docs://notes" })).rejects.toThrow(/Unauthorized/);
    await server.server.sendResourceUpdated({ uri: "docs://readme" });
    await got.next(1);
    const update = pdp.requests.filter((r) => r.action === "read").at(-1);
    expect(update?.subject.id).toBe("alice");
    expect(update?.operation.uri).toBe("docs://readme");
  });

  it("decides an update of a resource nobody subscribed to for the connection's own caller", async () => {
    const pdp = recordingPdp(functionPdp(revocablePolicy(new Set(["docs://notes"]))));
    const { server, got } = await subscribed(options(pdp, { identity: byClientId }));
    await server.server.sendResourceUpdated({ uri: "docs://secret" });
    await server.server.sendResourceUpdated({ uri: "docs://notes" });
    await got.next(1);
    expect(got.uris).toEqual(["docs://notes"]);
  });
});

describe("guardListen's reading of a listen's event stream", () => {
  const LISTEN = {
    jsonrpc: "2.0",
    id: 1,
    method: "subscriptions/listen",
    params: { notifications: { resourceSubscriptions: RESOURCES } },
  };
  const update = (uri: string) =>
    JSON.stringify({ jsonrpc: "2.0", method: "notifications/resources/updated", params: { uri } });

  /** A handler answering the listen with `events`, cut into `size`-byte chunks. */
  function serving(text: string, size: number) {
    const bytes = new TextEncoder().encode(text);
    return async (): Promise<Response> =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            for (let at = 0; at < bytes.length; at += size) {
              controller.enqueue(bytes.slice(at, at + size));
            }
            controller.close();
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
  }

  async function streamed(fetch: () => Promise<Response>): Promise<string> {
    const guard = options(functionPdp(revocablePolicy(new Set(["docs://readme"]))));
    const response = await guardListen(
      fetch,
      guard,
    )(new Request("http://mcp.test/mcp", { method: "POST", body: JSON.stringify(LISTEN) }));
    return response.text();
  }

  for (const size of [1, 7, 4096]) {
    it(`drops the denied updates of CRLF-framed, multi-line events cut into ${size}-byte chunks`, async () => {
      const events = [
        ": keep-alive",
        `event: message\r\nid: 1\r\ndata: ${update("docs://readme")}`,
        `event: message\r\ndata: ${update("docs://secret")}`,
        // One message over two data lines (a line break inside JSON whitespace).
        `data: {"jsonrpc":"2.0","method":"notifications/resources/updated",\r\ndata: "params":{"uri":"docs://secret"}}`,
        `data: {"jsonrpc":"2.0","method":"notifications/resources/list_changed"}`,
        `data: ${update("docs://readme")}`,
      ];
      const text = await streamed(serving(`${events.join("\r\n\r\n")}\r\n\r\n`, size));
      expect(text.split("\n\n").filter(Boolean)).toEqual([
        ": keep-alive",
        `event: message\nid: 1\ndata: ${update("docs://readme")}`,
        `data: {"jsonrpc":"2.0","method":"notifications/resources/list_changed"}`,
        `data: ${update("docs://readme")}`,
      ]);
    });
  }

  it("drops an update that names no resource", async () => {
    const nameless = JSON.stringify({
      jsonrpc: "2.0",
      method: "notifications/resources/updated",
      params: {},
    });
    const text = await streamed(
      serving(`data: ${nameless}\n\ndata: ${update("docs://readme")}\n\n`, 64),
    );
    expect(text).toBe(`data: ${update("docs://readme")}\n\n`);
  });

  it("ends the stream with an error at an event too long to hold, instead of holding it", async () => {
    const endless = async (): Promise<Response> =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            controller.enqueue(new TextEncoder().encode("x".repeat(1024 * 1024)));
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    await expect(streamed(endless)).rejects.toThrow(/server-sent event over/);
  });
});
