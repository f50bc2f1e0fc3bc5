import { once } from "node:events";
import {
  type IncomingMessage,
  type RequestListener,
  type Server as HttpServer,
  type ServerResponse,
  createServer,
} from "node:http";
import type { AddressInfo } from "node:net";
import type { AuthorizationRequest } from "@mcp-pdp/core";
import { headerIdentity } from "@mcp-pdp/core";
import { type RecordingPdp, functionPdp, recordingPdp } from "@mcp-pdp/core/testing";
import { Client, ProtocolError, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { createMcpExpressApp } from "@modelcontextprotocol/express";
import {
  type NodeIncomingMessageLike,
  type NodeMcpRequestHandler,
  NodeStreamableHTTPServerTransport,
  localhostHostValidation,
  localhostOriginValidation,
  toNodeHandler,
} from "@modelcontextprotocol/node";
import {
  McpServer,
  SUPPORTED_PROTOCOL_VERSIONS,
  createMcpHandler,
} from "@modelcontextprotocol/server";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  type GuardOptions,
  UNAUTHORIZED_CODE,
  authorizeFactory,
  guardListen,
} from "../src/index.js";

/**
 * The SDK v2 framework adapters, `@modelcontextprotocol/node` (node:http) and
 * `@modelcontextprotocol/express`, each serving a guarded server the way its README shows, on a
 * real socket, to real v2 clients in both protocol eras. The caller is named by an `x-user-id`
 * header, as a gateway in front would set it.
 */

const MODERN = "2026-07-28";
const ALL_VERSIONS = [MODERN, ...SUPPORTED_PROTOCOL_VERSIONS];

type Era = "legacy" | "modern";
const ERAS: readonly Era[] = ["legacy", "modern"];

function buildServer(calls: string[]): McpServer {
  const server = new McpServer(
    { name: "demo", version: "1.0.0" },
    { supportedProtocolVersions: ALL_VERSIONS },
  );
  for (const name of ["read_file", "write_file"]) {
    server.registerTool(
      name,
      { description: name, inputSchema: z.object({ path: z.string().optional() }) },
      () => {
        calls.push(name);
        return { content: [{ type: "text", text: `${name} ran` }] };
      },
    );
  }
  server.registerResource("readme", "docs://readme", {}, (uri) => ({
    contents: [{ uri: uri.href, text: "readme" }],
  }));
  server.registerResource("secret", "docs://secret", {}, (uri) => ({
    contents: [{ uri: uri.href, text: "secret" }],
  }));
  return server;
}

/**
 * alice may call read_* tools, read docs://readme and listen to it; mallory may list but nothing
 * in a list is hers. Every coarse list check is allowed, so what differs between them is the
 * per-item filter.
 */
const callerPolicy = (req: AuthorizationRequest): boolean => {
  if (req.action === "list") return true;
  if (req.subject.id !== "alice") return false;
  if (req.action === "listen") {
    const uris = req.resource.attributes.resource_uris as string[];
    return uris.every((uri) => uri === "docs://readme");
  }
  if (req.operation.component === "tool") return req.operation.name?.startsWith("read_") ?? false;
  if (req.operation.component === "resource") return req.operation.uri === "docs://readme";
  return false;
};

function guardOptions(pdp: RecordingPdp): GuardOptions {
  return {
    pdp,
    audit: false,
    mapping: { serverName: "demo" },
    env: {},
    identity: headerIdentity({ header: "x-user-id" }),
  } as GuardOptions;
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** Listens on an ephemeral port of 127.0.0.1 and closes the server after the test. */
async function listen(listener: RequestListener): Promise<URL> {
  const server: HttpServer = createServer(listener);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  closers.push(
    () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        });
        server.closeAllConnections();
      }),
  );
  const { port } = server.address() as AddressInfo;
  return new URL(`http://127.0.0.1:${port}/mcp`);
}

/**
 * The SDK's per-request entry made into a Node handler: `createMcpHandler` over an authorized
 * factory, its `fetch` behind `guardListen`, adapted by `toNodeHandler`.
 */
function guardedNodeHandler(calls: string[], guard: GuardOptions): NodeMcpRequestHandler {
  const handler = createMcpHandler(authorizeFactory(() => buildServer(calls), guard));
  closers.push(() => handler.close());
  return toNodeHandler({ fetch: guardListen(handler.fetch, guard) });
}

/** The adapters' READMEs' hand-wired way: a fresh server and stateless transport per request. */
function perRequest(calls: string[], guard: GuardOptions) {
  const factory = authorizeFactory(() => buildServer(calls), guard);
  return async (req: IncomingMessage, res: ServerResponse, body?: unknown): Promise<void> => {
    const server = await factory(undefined);
    const transport = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };
}

/** A node:http listener with the Host and Origin checks the node adapter's README puts first. */
function localhostOnly(
  serve: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): RequestListener {
  const validateHost = localhostHostValidation();
  const validateOrigin = localhostOriginValidation();
  return (req, res) => {
    if (!validateHost(req, res) || !validateOrigin(req, res)) return;
    void serve(req, res);
  };
}

/** Each adapter, serving the same guarded server; each returns the endpoint's URL. */
const ADAPTERS: Record<string, (calls: string[], guard: GuardOptions) => Promise<URL>> = {
  "@modelcontextprotocol/node: node:http with toNodeHandler(guardListen(createMcpHandler(authorizeFactory(factory)).fetch))":
    (calls, guard) => {
      const node = guardedNodeHandler(calls, guard);
      // A request node:http hands a server always has a method; its type says it may not, which
      // the adapter's structural type refuses under exactOptionalPropertyTypes.
      return listen(localhostOnly((req, res) => node(req as NodeIncomingMessageLike, res)));
    },
  "@modelcontextprotocol/node: node:http with a NodeStreamableHTTPServerTransport per request": (
    calls,
    guard,
  ) => listen(localhostOnly(perRequest(calls, guard))),
  "@modelcontextprotocol/express: createMcpExpressApp() with toNodeHandler(guardListen(createMcpHandler(authorizeFactory(factory)).fetch))":
    (calls, guard) => {
      const node = guardedNodeHandler(calls, guard);
      const app = createMcpExpressApp();
      app.all("/mcp", (req, res) => node(req, res, req.body));
      return listen(app);
    },
  "@modelcontextprotocol/express: createMcpExpressApp() with a NodeStreamableHTTPServerTransport per request":
    (calls, guard) => {
      const serve = perRequest(calls, guard);
      const app = createMcpExpressApp();
      app.post("/mcp", (req, res) => serve(req, res, req.body));
      return listen(app);
    },
};

/** A real v2 client over Streamable HTTP, sending `x-user-id: user` with every request. */
async function connect(url: URL, era: Era, user: string): Promise<Client> {
  const client = new Client(
    { name: "test-client", version: "1.0.0" },
    era === "modern" ? { versionNegotiation: { mode: { pin: MODERN } } } : {},
  );
  await client.connect(
    new StreamableHTTPClientTransport(url, { requestInit: { headers: { "x-user-id": user } } }),
  );
  closers.unshift(() => client.close());
  return client;
}

async function errorOf(promise: Promise<unknown>): Promise<ProtocolError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProtocolError);
  return error as ProtocolError;
}

/** The tools/call requests the PDP decided, as `caller:tool`. */
function decidedCalls(pdp: RecordingPdp): string[] {
  return pdp.requests
    .filter((r) => r.operation.method === "tools/call")
    .map((r) => `${r.subject.id}:${r.operation.name ?? ""}`);
}

for (const [adapter, serve] of Object.entries(ADAPTERS)) {
  for (const era of ERAS) {
    // A transport connected by hand per request is served in the legacy era only: the SDK answers
    // the modern `server/discover` probe only through createMcpHandler (see the test below).
    if (adapter.includes("per request") && era === "modern") {
      describe(`SDK v2 adapter ${adapter}, modern era`, () => {
        it("refuses a client pinned to 2026-07-28, as the SDK does for any hand-wired transport", async () => {
          const url = await serve([], guardOptions(recordingPdp(functionPdp(callerPolicy))));
          await expect(connect(url, era, "alice")).rejects.toThrow(
            /did not offer pinned protocol version 2026-07-28/,
          );
        });
      });
      continue;
    }
    describe(`SDK v2 adapter ${adapter}, ${era} era`, () => {
      async function start(calls: string[] = []) {
        const pdp = recordingPdp(functionPdp(callerPolicy));
        const url = await serve(calls, guardOptions(pdp));
        const alice = await connect(url, era, "alice");
        const mallory = await connect(url, era, "mallory");
        return { pdp, alice, mallory };
      }

      it("negotiates the era through the adapter", async () => {
        const { alice } = await start();
        expect(alice.getNegotiatedProtocolVersion()).toBe(
          era === "modern" ? MODERN : SUPPORTED_PROTOCOL_VERSIONS[0],
        );
      });

      it("answers a denied tools/call with -32010 Unauthorized and never runs the tool", async () => {
        const calls: string[] = [];
        const { alice, mallory } = await start(calls);
        const aliceWrite = await errorOf(alice.callTool({ name: "write_file", arguments: {} }));
        expect(aliceWrite.code).toBe(UNAUTHORIZED_CODE);
        const malloryRead = await errorOf(mallory.callTool({ name: "read_file", arguments: {} }));
        expect(malloryRead.code).toBe(UNAUTHORIZED_CODE);
        expect(calls).toEqual([]);
      });

      it("runs a call the caller is allowed", async () => {
        const calls: string[] = [];
        const { alice } = await start(calls);
        const result = await alice.callTool({ name: "read_file", arguments: { path: "/x" } });
        expect(result.content).toEqual([{ type: "text", text: "read_file ran" }]);
        expect(calls).toEqual(["read_file"]);
      });

      it("filters tool and resource lists per caller named by the x-user-id header", async () => {
        const { alice, mallory } = await start();
        expect((await alice.listTools()).tools.map((t) => t.name)).toEqual(["read_file"]);
        expect((await mallory.listTools()).tools).toEqual([]);
        expect((await alice.listResources()).resources.map((r) => r.uri)).toEqual([
          "docs://readme",
        ]);
        expect((await mallory.listResources()).resources).toEqual([]);
      });

      it("asks the PDP about the caller the HTTP request's x-user-id header names", async () => {
        const { pdp, alice, mallory } = await start();
        await alice.callTool({ name: "read_file", arguments: {} });
        await errorOf(mallory.callTool({ name: "read_file", arguments: {} }));
        await errorOf(alice.callTool({ name: "write_file", arguments: {} }));
        expect(decidedCalls(pdp)).toEqual([
          "alice:read_file",
          "mallory:read_file",
          "alice:write_file",
        ]);
      });

      // subscriptions/listen is a 2026-07-28 request that createMcpHandler answers itself, so it
      // is guarded where the adapter is handed the fetch handler: guardListen(handler.fetch).
      if (era === "modern" && adapter.includes("toNodeHandler")) {
        it("answers a denied subscriptions/listen with -32010 before any stream opens", async () => {
          const { pdp, mallory } = await start();
          const error = await errorOf(mallory.listen({ resourceSubscriptions: ["docs://readme"] }));
          expect(error.code).toBe(UNAUTHORIZED_CODE);
          const listens = pdp.requests.filter((r) => r.action === "listen");
          expect(listens.map((r) => r.subject.id)).toEqual(["mallory"]);
        });

        it("opens a subscriptions/listen the caller may read every resource of", async () => {
          const { pdp, alice } = await start();
          const subscription = await alice.listen({ resourceSubscriptions: ["docs://readme"] });
          closers.unshift(() => subscription.close());
          const listens = pdp.requests.filter((r) => r.action === "listen");
          expect(listens.map((r) => r.subject.id)).toEqual(["alice"]);
        });
      }
    });
  }
}
