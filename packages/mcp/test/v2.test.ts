import type { AuthorizationRequest } from "@mcp-pdp/core";
import { headerIdentity } from "@mcp-pdp/core";
import { functionPdp, recordingPdp } from "@mcp-pdp/core/testing";
import {
  Client,
  ProtocolError,
  StreamableHTTPClientTransport,
  type Transport as ClientTransport,
} from "@modelcontextprotocol/client";
import {
  InMemoryTransport,
  McpServer,
  SUPPORTED_PROTOCOL_VERSIONS,
  Server,
  acceptedContent,
  createMcpHandler,
  inputRequired,
} from "@modelcontextprotocol/server";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  type GuardOptions,
  UNAUTHORIZED_CODE,
  authorize,
  authorizeFactory,
  guardListen,
  guardTransport,
} from "../src/index.js";

const MODERN = "2026-07-28";
/** What a server must list to answer `server/discover` when it is not behind an SDK entry. */
const ALL_VERSIONS = [MODERN, ...SUPPORTED_PROTOCOL_VERSIONS];

type Era = "legacy" | "modern";
const ERAS: readonly Era[] = ["legacy", "modern"];

function newClient(era: Era): Client {
  return new Client(
    { name: "test-client", version: "1.0.0" },
    era === "modern" ? { versionNegotiation: { mode: { pin: MODERN } } } : {},
  );
}

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

/** Allows read_* tools, docs://readme and every coarse list. */
const readerPolicy = (req: AuthorizationRequest): boolean => {
  if (req.action === "list") return true;
  if (req.operation.component === "tool") return req.operation.name?.startsWith("read_") ?? false;
  if (req.operation.component === "resource") return req.operation.uri === "docs://readme";
  return false;
};

function options(pdp: GuardOptions["pdp"], extra: Partial<GuardOptions> = {}): GuardOptions {
  return { pdp, audit: false, mapping: { serverName: "demo" }, env: {}, ...extra } as GuardOptions;
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/**
 * The ways a v2 server is served, each connected to a real v2 client in the given era. The
 * `serveStdio` entry takes any transport, so an in-memory pair stands in for the process's pipes.
 */
const SETUPS: Record<string, (era: Era, calls: string[], guard: GuardOptions) => Promise<Client>> =
  {
    "authorize(McpServer) over a transport it connects to": async (era, calls, guard) => {
      const server = buildServer(calls);
      authorize(server, guard);
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      await server.connect(serverSide);
      // A server connected by hand speaks the legacy handshake only until it negotiates: the
      // modern era is served through the SDK's entries (below); legacy is what this setup covers.
      const client = newClient(era);
      await client.connect(clientSide);
      closers.push(() => client.close());
      return client;
    },
    "serveStdio(authorizeFactory(factory))": (era, calls, guard) =>
      overStdio(era, (transport) =>
        serveStdio(
          authorizeFactory(() => buildServer(calls), guard),
          { transport },
        ),
      ),
    "serveStdio over a guarded transport": (era, calls, guard) =>
      overStdio(era, (transport) =>
        serveStdio(() => buildServer(calls), { transport: guardTransport(transport, guard) }),
      ),
    "createMcpHandler(authorizeFactory(factory))": async (era, calls, guard) => {
      const handler = createMcpHandler(authorizeFactory(() => buildServer(calls), guard));
      const client = newClient(era);
      await client.connect(httpTransport(handler.fetch));
      closers.push(
        () => client.close(),
        () => handler.close(),
      );
      return client;
    },
  };

/**
 * A client connected through the SDK's stdio entry, which takes any transport: an in-memory pair
 * stands in for the process's pipes.
 */
async function overStdio(
  era: Era,
  serve: (transport: InMemoryTransport) => { close(): Promise<void> },
): Promise<Client> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const handle = serve(serverSide);
  const client = newClient(era);
  await client.connect(clientSide);
  closers.push(
    () => client.close(),
    () => handle.close(),
  );
  return client;
}

/** A client transport whose HTTP requests go straight to a fetch handler, without a socket. */
function httpTransport(
  fetch: (request: Request) => Promise<Response>,
  headers: Record<string, string> = {},
): ClientTransport {
  return new StreamableHTTPClientTransport(new URL("http://mcp.test/mcp"), {
    fetch: (url, init) => fetch(new Request(url, init)),
    requestInit: { headers },
  });
}

async function errorOf(promise: Promise<unknown>): Promise<ProtocolError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProtocolError);
  return error as ProtocolError;
}

for (const [setup, connect] of Object.entries(SETUPS)) {
  for (const era of ERAS) {
    // A server connected by hand has no modern era to offer (see above).
    if (setup.startsWith("authorize(McpServer)") && era === "modern") continue;
    describe(`SDK v2, ${setup}, ${era} era`, () => {
      it("answers a denied call with -32010 Unauthorized and never runs the tool", async () => {
        const calls: string[] = [];
        const client = await connect(era, calls, options(functionPdp(readerPolicy)));
        expect(client.getNegotiatedProtocolVersion()).toBe(
          era === "modern" ? MODERN : SUPPORTED_PROTOCOL_VERSIONS[0],
        );
        const error = await errorOf(client.callTool({ name: "write_file", arguments: {} }));
        expect(error.code).toBe(UNAUTHORIZED_CODE);
        expect(calls).toEqual([]);
        const ok = await client.callTool({ name: "read_file", arguments: { path: "/x" } });
        expect(ok.content).toEqual([{ type: "text", text: "read_file ran" }]);
        expect(calls).toEqual(["read_file"]);
      });

      it("filters tool and resource lists per item", async () => {
        const client = await connect(era, [], options(functionPdp(readerPolicy)));
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name)).toEqual(["read_file"]);
        const { resources } = await client.listResources();
        expect(resources.map((r) => r.uri)).toEqual(["docs://readme"]);
      });

      it("answers an empty list when the coarse list check is denied", async () => {
        const client = await connect(era, [], options(functionPdp((req) => req.action !== "list")));
        const { tools } = await client.listTools();
        expect(tools).toEqual([]);
      });

      it("marks a filtered list as private to the caller", async () => {
        const client = await connect(era, [], options(functionPdp(readerPolicy)));
        const result = await client.listTools();
        // Legacy results carry no cache hints; modern ones may never be shared across callers.
        expect((result as { cacheScope?: unknown }).cacheScope).toBe(
          era === "modern" ? "private" : undefined,
        );
      });

      it("refuses a denied resource read and serves an allowed one", async () => {
        const client = await connect(era, [], options(functionPdp(readerPolicy)));
        const error = await errorOf(client.readResource({ uri: "docs://secret" }));
        expect(error.code).toBe(UNAUTHORIZED_CODE);
        const { contents } = await client.readResource({ uri: "docs://readme" });
        expect(contents).toEqual([{ uri: "docs://readme", text: "readme" }]);
      });

      it("never asks the PDP about the handshake (initialize, server/discover, notifications)", async () => {
        const pdp = recordingPdp(functionPdp(readerPolicy));
        await connect(era, [], options(pdp));
        expect(pdp.requests.map((r) => r.operation.method)).toEqual([]);
      });

      it("answers a denied call as not found in the not-found mode", async () => {
        const client = await connect(
          era,
          [],
          options(functionPdp(readerPolicy), { denyMode: "not-found" }),
        );
        const error = await errorOf(client.callTool({ name: "write_file", arguments: {} }));
        expect(error.code).toBe(-32602);
        expect(error.message).toContain("Tool write_file not found");
      });

      it("answers a denied call with an isError tool result in the tool-result mode", async () => {
        const calls: string[] = [];
        const client = await connect(
          era,
          calls,
          options(functionPdp(readerPolicy), { denyMode: "tool-result" }),
        );
        const result = await client.callTool({ name: "write_file", arguments: {} });
        expect(result.isError).toBe(true);
        expect(calls).toEqual([]);
      });
    });
  }
}

describe("SDK v2 low-level Server", () => {
  function lowLevel(calls: string[]): Server {
    const server = new Server(
      { name: "low", version: "1.0.0" },
      { capabilities: { tools: {} }, supportedProtocolVersions: ALL_VERSIONS },
    );
    server.setRequestHandler("tools/list", () => ({
      tools: ["read_file", "write_file"].map((name) => ({
        name,
        inputSchema: { type: "object" as const },
      })),
    }));
    server.setRequestHandler("tools/call", (request) => {
      calls.push(request.params.name);
      return { content: [{ type: "text", text: "ran" }] };
    });
    return server;
  }

  for (const era of ERAS) {
    it(`is guarded behind createMcpHandler in the ${era} era`, async () => {
      const calls: string[] = [];
      const handler = createMcpHandler(
        authorizeFactory(() => lowLevel(calls), options(functionPdp(readerPolicy))),
      );
      const client = newClient(era);
      await client.connect(httpTransport(handler.fetch));
      closers.push(
        () => client.close(),
        () => handler.close(),
      );
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(["read_file"]);
      const error = await errorOf(client.callTool({ name: "write_file", arguments: {} }));
      expect(error.code).toBe(UNAUTHORIZED_CODE);
      await client.callTool({ name: "read_file", arguments: {} });
      expect(calls).toEqual(["read_file"]);
    });
  }
});

describe("SDK v2 over HTTP", () => {
  for (const era of ERAS) {
    it(`resolves the caller from the HTTP request's headers in the ${era} era`, async () => {
      const pdp = recordingPdp(
        functionPdp((req) => req.subject.id === "alice" && readerPolicy(req)),
      );
      const handler = createMcpHandler(
        authorizeFactory(
          () => buildServer([]),
          options(pdp, { identity: headerIdentity({ header: "x-user-id" }) }),
        ),
      );
      const alice = newClient(era);
      await alice.connect(httpTransport(handler.fetch, { "x-user-id": "alice" }));
      const mallory = newClient(era);
      await mallory.connect(httpTransport(handler.fetch, { "x-user-id": "mallory" }));
      closers.push(
        () => alice.close(),
        () => mallory.close(),
        () => handler.close(),
      );
      await alice.callTool({ name: "read_file", arguments: {} });
      const error = await errorOf(mallory.callTool({ name: "read_file", arguments: {} }));
      expect(error.code).toBe(UNAUTHORIZED_CODE);
      expect(pdp.requests.map((r) => r.subject.id)).toEqual(["alice", "mallory"]);
    });
  }

  it("fails a request whose factory returns something that is not a server", async () => {
    const errors: Error[] = [];
    const handler = createMcpHandler(
      authorizeFactory(() => Object.create(null) as McpServer, options(functionPdp(readerPolicy))),
      { onerror: (e) => errors.push(e) },
    );
    closers.push(() => handler.close());
    const client = newClient("legacy");
    await expect(client.connect(httpTransport(handler.fetch))).rejects.toThrow();
    expect(errors.some((e) => e.message.includes("not a server"))).toBe(true);
  });
});

describe("SDK v2 subscriptions/listen over a guarded stdio connection", () => {
  /** Allows a listen only when every resource it subscribes to is docs://readme. */
  const listenPolicy = (req: AuthorizationRequest): boolean => {
    if (req.action !== "listen") return readerPolicy(req);
    const uris = req.resource.attributes.resource_uris as string[];
    return uris.every((uri) => uri === "docs://readme");
  };

  async function modernClient(pdp: GuardOptions["pdp"]): Promise<Client> {
    return overStdio("modern", (transport) =>
      serveStdio(() => buildServer([]), {
        transport: guardTransport(transport, options(pdp)),
      }),
    );
  }

  it("decides a listen on the resources it subscribes to, before the entry serves it", async () => {
    const pdp = recordingPdp(functionPdp(listenPolicy));
    const client = await modernClient(pdp);
    const error = await errorOf(
      client.listen({ resourceSubscriptions: ["docs://readme", "docs://secret"] }),
    );
    expect(error.code).toBe(UNAUTHORIZED_CODE);
    const listen = pdp.requests.find((r) => r.action === "listen");
    expect(listen?.resource).toEqual({
      type: "demo_subscriptions",
      attributes: {
        mcp_method: "subscriptions/listen",
        resource_uris: ["docs://readme", "docs://secret"],
      },
    });
  });

  it("opens a listen whose every resource the caller may read", async () => {
    const pdp = recordingPdp(functionPdp(listenPolicy));
    const client = await modernClient(pdp);
    const subscription = await client.listen({ resourceSubscriptions: ["docs://readme"] });
    closers.unshift(() => subscription.close());
    expect(pdp.requests.filter((r) => r.action === "listen")).toHaveLength(1);
  });
});

describe("SDK v2 input-required second leg (2026-07-28)", () => {
  /** Denies a deploy to prod by an argument rule; everything else is allowed. */
  const deployPolicy = (req: AuthorizationRequest): boolean =>
    req.resource.attributes.arg_env !== "prod";

  /** A tool that asks the client to confirm before it runs. */
  function deployServer(runs: string[]): McpServer {
    const server = new McpServer(
      { name: "demo", version: "1.0.0" },
      { supportedProtocolVersions: ALL_VERSIONS },
    );
    const confirmation = z.object({ confirm: z.boolean() });
    server.registerTool(
      "deploy",
      { inputSchema: z.object({ env: z.string() }) },
      ({ env }, ctx) => {
        const confirmed = acceptedContent(ctx.mcpReq.inputResponses, "confirm", confirmation);
        if (confirmed?.confirm !== true) {
          return inputRequired({
            inputRequests: {
              confirm: inputRequired.elicit({
                message: `Deploy to ${env}?`,
                requestedSchema: confirmation,
              }),
            },
          });
        }
        runs.push(env);
        return { content: [{ type: "text", text: `deployed to ${env}` }] };
      },
    );
    return server;
  }

  const CONFIRMED = { confirm: { action: "accept", content: { confirm: true } } };

  const ENTRIES: Record<string, (runs: string[], pdp: GuardOptions["pdp"]) => Promise<Client>> = {
    "serveStdio(authorizeFactory(factory))": async (runs, pdp) => {
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      const handle = serveStdio(
        authorizeFactory(() => deployServer(runs), options(pdp)),
        { transport: serverSide },
      );
      const client = confirmingClient();
      await client.connect(clientSide);
      closers.push(
        () => client.close(),
        () => handle.close(),
      );
      return client;
    },
    "createMcpHandler(authorizeFactory(factory))": async (runs, pdp) => {
      const handler = createMcpHandler(authorizeFactory(() => deployServer(runs), options(pdp)));
      const client = confirmingClient();
      await client.connect(httpTransport(handler.fetch));
      closers.push(
        () => client.close(),
        () => handler.close(),
      );
      return client;
    },
  };

  /** A modern-era client that confirms every elicitation. */
  function confirmingClient(): Client {
    const client = new Client(
      { name: "test-client", version: "1.0.0" },
      {
        versionNegotiation: { mode: { pin: MODERN } },
        capabilities: { elicitation: { form: {} } },
      },
    );
    client.setRequestHandler("elicitation/create", () => ({
      action: "accept",
      content: { confirm: true },
    }));
    return client;
  }

  for (const [entry, connect] of Object.entries(ENTRIES)) {
    it(`re-decides the second leg on its own arguments behind ${entry}`, async () => {
      const runs: string[] = [];
      const pdp = recordingPdp(functionPdp(deployPolicy));
      const client = await connect(runs, pdp);
      // First leg: allowed, and the server asks for input instead of running.
      const first = (await client.callTool(
        { name: "deploy", arguments: { env: "staging" } },
        { allowInputRequired: true },
      )) as unknown as { resultType: string; requestState?: string };
      expect(first.resultType).toBe("input_required");
      expect(runs).toEqual([]);
      // Second leg: the answer to the server's question, with arguments swapped for denied ones.
      const retry = {
        name: "deploy",
        arguments: { env: "prod" },
        inputResponses: CONFIRMED,
        ...(first.requestState !== undefined ? { requestState: first.requestState } : {}),
      };
      const error = await errorOf(client.callTool(retry));
      expect(error.code).toBe(UNAUTHORIZED_CODE);
      expect(runs).toEqual([]);
      const legs = pdp.requests.filter((r) => r.operation.method === "tools/call");
      expect(legs.map((r) => r.resource.attributes.arg_env)).toEqual(["staging", "prod"]);
    });

    it(`runs a confirmed call whose every leg is allowed behind ${entry}`, async () => {
      const runs: string[] = [];
      const pdp = recordingPdp(functionPdp(deployPolicy));
      const client = await connect(runs, pdp);
      // The client's driver answers the elicitation and sends the second leg itself.
      const result = await client.callTool({ name: "deploy", arguments: { env: "staging" } });
      expect(result.content).toEqual([{ type: "text", text: "deployed to staging" }]);
      expect(runs).toEqual(["staging"]);
      const legs = pdp.requests.filter((r) => r.operation.method === "tools/call");
      expect(legs).toHaveLength(2);
    });
  }
});

describe("SDK v2 subscriptions/listen behind createMcpHandler", () => {
  /** Allows alice a listen only when every resource it subscribes to is docs://readme. */
  const listenPolicy = (req: AuthorizationRequest): boolean => {
    if (req.subject.id !== "alice") return false;
    if (req.action !== "listen") return readerPolicy(req);
    const uris = req.resource.attributes.resource_uris as string[];
    return uris.every((uri) => uri === "docs://readme");
  };

  /** The demo server, offering resource subscriptions (without them a listen honors none). */
  function subscribableServer(): McpServer {
    const server = buildServer([]);
    server.server.registerCapabilities({ resources: { subscribe: true } });
    return server;
  }

  async function modernClient(
    pdp: GuardOptions["pdp"],
    user = "alice",
  ): Promise<{ client: Client; handler: ReturnType<typeof createMcpHandler> }> {
    const guard = options(pdp, { identity: headerIdentity({ header: "x-user-id" }) });
    const handler = createMcpHandler(authorizeFactory(subscribableServer, guard));
    const client = newClient("modern");
    await client.connect(httpTransport(guardListen(handler.fetch, guard), { "x-user-id": user }));
    closers.push(
      () => client.close(),
      () => handler.close(),
    );
    return { client, handler };
  }

  it("refuses a listen naming a resource the caller may not read before any stream opens", async () => {
    const pdp = recordingPdp(functionPdp(listenPolicy));
    const { client } = await modernClient(pdp);
    const error = await errorOf(
      client.listen({ resourceSubscriptions: ["docs://readme", "docs://secret"] }),
    );
    expect(error.code).toBe(UNAUTHORIZED_CODE);
    const listen = pdp.requests.find((r) => r.action === "listen");
    expect(listen?.subject.id).toBe("alice");
    expect(listen?.resource.attributes.resource_uris).toEqual(["docs://readme", "docs://secret"]);
  });

  it("refuses a listen by a caller the policy does not allow to listen at all", async () => {
    const { client } = await modernClient(functionPdp(listenPolicy), "mallory");
    const error = await errorOf(client.listen({ resourceSubscriptions: ["docs://readme"] }));
    expect(error.code).toBe(UNAUTHORIZED_CODE);
  });

  it("opens an allowed listen, which delivers updates of its readable resources only", async () => {
    const { client, handler } = await modernClient(functionPdp(listenPolicy));
    const updated: string[] = [];
    let delivered: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => (delivered = resolve));
    client.setNotificationHandler("notifications/resources/updated", (notification) => {
      updated.push(notification.params.uri);
      delivered();
    });
    const subscription = await client.listen({ resourceSubscriptions: ["docs://readme"] });
    closers.unshift(() => subscription.close());
    expect(subscription.honoredFilter).toEqual({ resourceSubscriptions: ["docs://readme"] });
    handler.notify.resourceUpdated("docs://secret");
    handler.notify.resourceUpdated("docs://readme");
    await arrived;
    expect(updated).toEqual(["docs://readme"]);
  });
});

describe("SDK v2 methods the 2026-07-28 revision removed", () => {
  /** One raw 2026-07-28 request, as a modern client frames it, to a handler's fetch. */
  async function post(
    fetchImpl: (request: Request) => Promise<Response>,
    method: string,
    params: Record<string, unknown>,
  ): Promise<{ status: number; code: unknown }> {
    const response = await fetchImpl(
      new Request("http://127.0.0.1/mcp", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": MODERN,
          "mcp-method": method,
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 7,
          method,
          params: {
            ...params,
            _meta: {
              "io.modelcontextprotocol/protocolVersion": MODERN,
              "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1.0.0" },
              "io.modelcontextprotocol/clientCapabilities": {},
            },
          },
        }),
      }),
    );
    const text = await response.text();
    const json = text.startsWith("{")
      ? (JSON.parse(text) as { error?: { code?: unknown } })
      : (JSON.parse(text.split("data: ")[1]?.split("\n")[0] ?? "{}") as {
          error?: { code?: unknown };
        });
    return { status: response.status, code: json.error?.code };
  }

  for (const [method, params] of [
    ["resources/subscribe", {}],
    ["resources/unsubscribe", {}],
    ["logging/setLevel", { level: "debug" }],
    // Not removed, but the server has no handler for it.
    ["acme/custom", {}],
  ] as const) {
    it(`answers a modern ${method} "method not found" as the unguarded server does, undecided, with a PDP that waits`, async () => {
      const bare = createMcpHandler(() => buildServer([]));
      const pdp = recordingPdp(functionPdp(() => true));
      const guarded = createMcpHandler(authorizeFactory(() => buildServer([]), options(pdp)));
      closers.push(
        () => bare.close(),
        () => guarded.close(),
      );
      const unguarded = await post(bare.fetch, method, params);
      expect(unguarded.code).toBe(-32601);
      expect(await post(guarded.fetch, method, params)).toEqual(unguarded);
      expect(pdp.requests).toEqual([]);
    });
  }
});

describe("guardListen's body limit", () => {
  it("refuses a body over 4 MiB with 413 after reading no more than the limit", async () => {
    const handler = createMcpHandler(() => buildServer([]));
    closers.push(() => handler.close());
    const guarded = guardListen(handler.fetch, options(functionPdp(() => true)));
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // 64 MiB at most, so a guard that reads it all still ends.
        if (pulled >= 64 * 1024 * 1024) {
          controller.close();
          return;
        }
        pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const response = await guarded(
      new Request("http://127.0.0.1/mcp", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body,
        duplex: "half",
      }),
    );
    expect(response.status).toBe(413);
    expect(pulled).toBeLessThanOrEqual(5 * 1024 * 1024);
  });

  it("refuses a body whose declared length is over 4 MiB without reading it", async () => {
    const handler = createMcpHandler(() => buildServer([]));
    closers.push(() => handler.close());
    const guarded = guardListen(handler.fetch, options(functionPdp(() => true)));
    const response = await guarded(
      new Request("http://127.0.0.1/mcp", {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": String(5 * 1024 * 1024) },
        body: "{}",
      }),
    );
    expect(response.status).toBe(413);
  });
});
