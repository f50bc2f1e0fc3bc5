import { type AuthorizationRequest, type Decision, jsonLinesAuditSink } from "@mcp-pdp/core";
import {
  allowAll,
  denyAll,
  functionPdp,
  memoryAuditSink,
  recordingPdp,
} from "@mcp-pdp/core/testing";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { PassThrough } from "node:stream";
import {
  authorize,
  guardTransport,
  type GuardOptions,
  TransportDecorator,
  UNAUTHORIZED_CODE,
} from "../src/index.js";

function buildServer(calls: string[]) {
  const server = new McpServer({ name: "demo", version: "1.0.0" });
  for (const name of ["read_file", "write_file", "admin_reset"]) {
    server.registerTool(
      name,
      { description: name, inputSchema: { path: z.string().optional() } },
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
  server.registerResource(
    "doc",
    new ResourceTemplate("docs://page/{id}", { list: undefined }),
    {},
    (uri) => ({ contents: [{ uri: uri.href, text: `page ${uri.href}` }] }),
  );
  server.registerPrompt("greet", { argsSchema: { name: z.string() } }, ({ name }) => ({
    messages: [{ role: "user", content: { type: "text", text: `hi ${name}` } }],
  }));
  return server;
}

async function connect(server: McpServer | Server) {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "test-client", version: "1.0.0" });
  await client.connect(clientSide);
  return client;
}

/** Allows read_* tools, docs://readme, the docs://page template, and every coarse list. */
const readerPolicy = (req: AuthorizationRequest): boolean => {
  if (req.action === "list") return true;
  if (req.operation.component === "tool") return req.operation.name?.startsWith("read_") ?? false;
  if (req.operation.component === "resource" || req.operation.component === "resource_template") {
    return (
      req.operation.uri === "docs://readme" ||
      (req.operation.uri?.startsWith("docs://page/") ?? false)
    );
  }
  return false;
};

function options(pdp: GuardOptions["pdp"], extra: Partial<GuardOptions> = {}): GuardOptions {
  return { pdp, audit: false, mapping: { serverName: "demo" }, ...extra };
}

describe("authorize(McpServer)", () => {
  it("answers a denied call with -32010 Unauthorized and never runs the tool", async () => {
    const calls: string[] = [];
    const server = buildServer(calls);
    authorize(server, options(functionPdp(readerPolicy)));
    const client = await connect(server);
    const error = await client
      .callTool({ name: "write_file", arguments: { path: "/x" } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(UNAUTHORIZED_CODE);
    expect((error as McpError).message).toContain("Unauthorized");
    expect(calls).toEqual([]);
    const ok = await client.callTool({ name: "read_file", arguments: { path: "/x" } });
    expect(ok.content).toEqual([{ type: "text", text: "read_file ran" }]);
    expect(calls).toEqual(["read_file"]);
  });

  it("filters every list per item with one bulk check per page", async () => {
    const pdp = recordingPdp(functionPdp(readerPolicy));
    const server = buildServer([]);
    authorize(server, options(pdp));
    const client = await connect(server);
    pdp.reset();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(["read_file"]);
    expect(pdp.bulkCalls).toEqual([3]);
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(["docs://readme"]);
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((r) => r.uriTemplate)).toEqual(["docs://page/{id}"]);
    const { prompts } = await client.listPrompts();
    expect(prompts).toEqual([]);
    expect(pdp.bulkCalls).toEqual([3, 2, 1, 1]);
  });

  it("decides list items with the same resource and action as calling them, in the list phase", async () => {
    const pdp = recordingPdp(allowAll());
    const server = buildServer([]);
    authorize(server, options(pdp));
    const client = await connect(server);
    pdp.reset();
    await client.listTools();
    const item = pdp.requests.find(
      (r) => r.operation.phase === "list" && r.operation.name === "read_file",
    );
    expect(item?.resource.type).toBe("demo");
    expect(item?.action).toBe("read-file");
    expect(item?.operation.arguments).toBeUndefined();
    pdp.reset();
    await client.callTool({ name: "read_file", arguments: { path: "/a" } });
    expect(pdp.requests[0]?.resource.type).toBe("demo");
    expect(pdp.requests[0]?.action).toBe("read-file");
    expect(pdp.requests[0]?.resource.attributes.arg_path).toBe("/a");
  });

  it("returns an empty list when the coarse list check denies", async () => {
    const pdp = recordingPdp(
      functionPdp((r) => !(r.action === "list" && r.resource.type === "demo_tools")),
    );
    const server = buildServer([]);
    authorize(server, options(pdp));
    const client = await connect(server);
    pdp.reset();
    expect((await client.listTools()).tools).toEqual([]);
    expect(pdp.bulkCalls).toEqual([]); // the server never ran, so nothing was filtered
    expect((await client.listResources()).resources).toHaveLength(2);
  });

  it("keeps a hidden tool uncallable by name", async () => {
    const calls: string[] = [];
    const server = buildServer(calls);
    authorize(server, options(functionPdp(readerPolicy)));
    const client = await connect(server);
    expect((await client.listTools()).tools.map((t) => t.name)).not.toContain("admin_reset");
    await expect(client.callTool({ name: "admin_reset", arguments: {} })).rejects.toMatchObject({
      code: UNAUTHORIZED_CODE,
    });
    expect(calls).toEqual([]);
  });

  it("decides a read through a resource template on the concrete URI", async () => {
    const pdp = recordingPdp(functionPdp(readerPolicy));
    const server = buildServer([]);
    authorize(server, options(pdp));
    const client = await connect(server);
    pdp.reset();
    const page = await client.readResource({ uri: "docs://page/7" });
    expect(page.contents[0]).toMatchObject({ uri: "docs://page/7" });
    expect(pdp.requests[0]?.resource.key).toBe("docs://page/7");
    expect(pdp.requests[0]?.action).toBe("read");
    await expect(client.readResource({ uri: "docs://secret" })).rejects.toMatchObject({
      code: UNAUTHORIZED_CODE,
    });
  });

  it("guards tools registered after authorize() and after connect()", async () => {
    const calls: string[] = [];
    const server = new McpServer({ name: "late", version: "1.0.0" });
    authorize(
      server,
      options(
        functionPdp(
          (r) =>
            r.action === "list" || r.operation.name === "early" || r.operation.name === "late_ok",
        ),
      ),
    );
    server.registerTool("early", {}, () => {
      calls.push("early");
      return { content: [] };
    });
    server.registerTool("early_denied", {}, () => {
      calls.push("early_denied");
      return { content: [] };
    });
    const client = await connect(server);
    server.registerTool("late_ok", {}, () => {
      calls.push("late_ok");
      return { content: [] };
    });
    server.registerTool("late_denied", {}, () => {
      calls.push("late_denied");
      return { content: [] };
    });
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual([
      "early",
      "late_ok",
    ]);
    await client.callTool({ name: "late_ok" });
    await expect(client.callTool({ name: "late_denied" })).rejects.toMatchObject({
      code: UNAUTHORIZED_CODE,
    });
    await expect(client.callTool({ name: "early_denied" })).rejects.toMatchObject({
      code: UNAUTHORIZED_CODE,
    });
    expect(calls).toEqual(["late_ok"]);
  });

  it("still denies when the PDP answers late: the check is awaited", async () => {
    const calls: string[] = [];
    const server = buildServer(calls);
    const slowDeny = functionPdp(
      (r) =>
        new Promise<boolean>((resolve) =>
          setTimeout(() => {
            resolve(r.action === "list");
          }, 80),
        ),
    );
    authorize(server, options(slowDeny));
    const client = await connect(server);
    await expect(client.callTool({ name: "read_file", arguments: {} })).rejects.toMatchObject({
      code: UNAUTHORIZED_CODE,
    });
    expect(calls).toEqual([]);
  });

  it("denies with an audit event when the PDP throws, without leaking the error to the client", async () => {
    const audit = memoryAuditSink();
    const calls: string[] = [];
    const server = buildServer(calls);
    const broken = {
      name: "broken",
      check: () => Promise.reject(new Error("db password=hunter2 unreachable")),
    };
    authorize(server, options(broken, { audit }));
    const client = await connect(server);
    const error = (await client
      .callTool({ name: "read_file" })
      .catch((e: unknown) => e)) as McpError;
    expect(error.code).toBe(UNAUTHORIZED_CODE);
    expect(JSON.stringify(error.data)).not.toContain("hunter2");
    expect(calls).toEqual([]);
    const event = audit.events.find((e) => e.method === "tools/call");
    expect(event).toMatchObject({ allow: false, source: "error", action: "read-file" });
    expect(event?.reason).toContain("unreachable");
  });

  it("treats a PDP answer whose allow is an un-awaited Promise as a deny", async () => {
    const calls: string[] = [];
    const server = buildServer(calls);
    const sloppy = {
      name: "sloppy",
      check: () =>
        Promise.resolve({ allow: Promise.resolve(true), source: "pdp" } as unknown as Decision),
    };
    authorize(server, options(sloppy));
    const client = await connect(server);
    await expect(client.callTool({ name: "read_file" })).rejects.toMatchObject({
      code: UNAUTHORIZED_CODE,
    });
    expect(calls).toEqual([]);
  });

  it("sends the PDP's reason only when exposeReasons is on, and a PDP's caller message always", async () => {
    const reasoned = functionPdp(() => ({
      allow: false,
      source: "pdp",
      reason: "rule internal-7 matched",
      decisionId: "d-1",
    }));
    const s1 = buildServer([]);
    authorize(s1, options(reasoned));
    const hidden = (await (
      await connect(s1)
    )
      .callTool({ name: "read_file" })
      .catch((e: unknown) => e)) as McpError;
    expect(hidden.data).toEqual({ reason: "access denied by policy", decisionId: "d-1" });
    const s2 = buildServer([]);
    authorize(s2, options(reasoned, { exposeReasons: true }));
    const shown = (await (
      await connect(s2)
    )
      .callTool({ name: "read_file" })
      .catch((e: unknown) => e)) as McpError;
    expect(shown.data).toEqual({ reason: "rule internal-7 matched", decisionId: "d-1" });
    const s3 = buildServer([]);
    authorize(
      s3,
      options(
        functionPdp(() => ({
          allow: false,
          source: "pdp",
          reason: "x",
          message: "needs scope files:write",
        })),
      ),
    );
    const msg = (await (
      await connect(s3)
    )
      .callTool({ name: "read_file" })
      .catch((e: unknown) => e)) as McpError;
    expect(msg.data).toEqual({ reason: "needs scope files:write" });
  });

  it("answers an isError tool result in tool-result mode", async () => {
    const server = buildServer([]);
    authorize(server, options(denyAll(), { denyMode: "tool-result" }));
    const client = await connect(server);
    const result = await client.callTool({ name: "read_file" });
    expect(result.isError).toBe(true);
    expect(result.content).toEqual([
      { type: "text", text: "Unauthorized: access denied by policy" },
    ]);
  });

  it("reports denied components as missing in not-found mode", async () => {
    const server = buildServer([]);
    authorize(server, options(denyAll(), { denyMode: "not-found" }));
    const client = await connect(server);
    await expect(client.callTool({ name: "read_file" })).rejects.toMatchObject({
      code: -32602,
      message: expect.stringContaining("Tool read_file not found"),
    });
    await expect(client.readResource({ uri: "docs://readme" })).rejects.toMatchObject({
      code: -32002,
    });
    await expect(
      client.getPrompt({ name: "greet", arguments: { name: "x" } }),
    ).rejects.toMatchObject({ code: -32602 });
  });

  it("lets initialize and ping through a deny-all PDP", async () => {
    const pdp = recordingPdp(denyAll());
    const server = buildServer([]);
    authorize(server, options(pdp));
    const client = await connect(server);
    await client.ping();
    expect(pdp.requests).toEqual([]);
  });

  it("refuses to authorize a server twice or after it connected", async () => {
    const server = buildServer([]);
    authorize(server, options(allowAll()));
    expect(() => authorize(server, options(allowAll()))).toThrow(/already authorized/);
    const connected = buildServer([]);
    await connect(connected);
    expect(() => authorize(connected, options(allowAll()))).toThrow(/already connected/);
  });

  it("writes one audit event per decision as JSON lines", async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    stream.on("data", (chunk: Buffer) =>
      lines.push(...chunk.toString().split("\n").filter(Boolean)),
    );
    const server = buildServer([]);
    authorize(
      server,
      options(functionPdp(readerPolicy), { audit: jsonLinesAuditSink({ destination: stream }) }),
    );
    const client = await connect(server);
    await client.callTool({ name: "read_file" });
    await client.listTools();
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      events.filter((e) => e.type === "decision").map((e) => [e.method, e.action, e.allow]),
    ).toEqual([
      ["tools/call", "read-file", true],
      ["tools/list", "list", true],
      ["tools/call", "read-file", true],
      ["tools/call", "write-file", false],
      ["tools/call", "admin-reset", false],
    ]);
    expect(events.filter((e) => e.type === "list")).toMatchObject([
      { method: "tools/list", items: 3, visible: 1 },
    ]);
  });
});

describe("component metadata at call time", () => {
  it("comes from the server's registrations before any list, never from the client", async () => {
    const pdp = recordingPdp(allowAll());
    const server = new McpServer({ name: "meta", version: "1.0.0" });
    server.registerTool(
      "wipe",
      { annotations: { destructiveHint: true }, _meta: { tags: ["admin"] } },
      () => ({ content: [] }),
    );
    server.registerResource(
      "page",
      new ResourceTemplate("docs://page/{id}", { list: undefined }),
      { description: "a page", _meta: { tags: ["docs"] } },
      (uri) => ({ contents: [{ uri: uri.href, text: "" }] }),
    );
    authorize(server, options(pdp));
    const client = await connect(server);
    pdp.reset();
    await client.callTool({ name: "wipe", arguments: {}, _meta: { tags: ["public"] } });
    expect(pdp.requests[0]?.operation.metadata).toMatchObject({
      annotations: { destructiveHint: true },
      tags: ["admin"],
    });
    await client.readResource({ uri: "docs://page/3" });
    expect(pdp.requests[1]?.operation.metadata).toMatchObject({
      description: "a page",
      tags: ["docs"],
    });
  });
});

describe("guardTransport on a low-level Server", () => {
  function paginatedServer(calls: string[]) {
    const server = new Server({ name: "low", version: "1.0.0" }, { capabilities: { tools: {} } });
    const pages: Record<
      string,
      { tools: { name: string; inputSchema: { type: "object" } }[]; nextCursor?: string }
    > = {
      first: {
        tools: [
          { name: "a", inputSchema: { type: "object" } },
          { name: "b", inputSchema: { type: "object" } },
        ],
        nextCursor: "p2",
      },
      p2: {
        tools: [
          { name: "c", inputSchema: { type: "object" } },
          { name: "d", inputSchema: { type: "object" } },
        ],
      },
    };
    server.setRequestHandler(
      ListToolsRequestSchema,
      (req) => pages[req.params?.cursor ?? "first"] ?? { tools: [] },
    );
    server.setRequestHandler(CallToolRequestSchema, (req) => {
      calls.push(req.params.name);
      return { content: [] };
    });
    return server;
  }

  it("filters each page and keeps nextCursor, even when a page ends up short", async () => {
    const pdp = recordingPdp(
      functionPdp(
        (r) => r.action === "list" || r.operation.name === "b" || r.operation.name === "c",
      ),
    );
    const server = paginatedServer([]);
    authorize(server, options(pdp));
    const client = await connect(server);
    pdp.reset();
    const first = await client.listTools();
    expect(first.tools.map((t) => t.name)).toEqual(["b"]);
    expect(first.nextCursor).toBe("p2");
    const second = await client.listTools({ cursor: "p2" });
    expect(second.tools.map((t) => t.name)).toEqual(["c"]);
    expect(second.nextCursor).toBeUndefined();
    expect(pdp.bulkCalls).toEqual([2, 2]);
  });

  it("guards a transport decorated by hand", async () => {
    const calls: string[] = [];
    const server = paginatedServer(calls);
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(
      guardTransport(serverSide, options(functionPdp((r) => r.operation.name === "a"))),
    );
    const client = new Client({ name: "c", version: "1" });
    await client.connect(clientSide);
    await client.callTool({ name: "a" });
    await expect(client.callTool({ name: "b" })).rejects.toMatchObject({ code: UNAUTHORIZED_CODE });
    expect(calls).toEqual(["a"]);
  });
});

describe("the transport a caller's context names", () => {
  it("is the one a decorator wraps, not the decorator's own class", async () => {
    class Passing extends TransportDecorator {
      protected override receive(...args: Parameters<TransportDecorator["deliver"]>): void {
        this.deliver(...args);
      }
    }
    const seen: unknown[] = [];
    const server = buildServer([]);
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(
      guardTransport(new Passing(new Passing(serverSide)), {
        ...options(functionPdp(() => true)),
        identity: (context) => {
          seen.push(context.transport);
          return { id: "ada", authenticated: true };
        },
      }),
    );
    const client = new Client({ name: "c", version: "1" });
    await client.connect(clientSide);
    await client.callTool({ name: "read_file", arguments: {} });
    expect(seen).toEqual(["memory"]);
  });
});

describe("guard bookkeeping", () => {
  it("forgets a list request the server answered with an error, and filters the next one", async () => {
    const server = new Server({ name: "flaky", version: "1.0.0" }, { capabilities: { tools: {} } });
    let fail = true;
    server.setRequestHandler(ListToolsRequestSchema, () => {
      if (fail) throw new McpError(-32603, "backend down");
      return {
        tools: [
          { name: "a", inputSchema: { type: "object" } },
          { name: "b", inputSchema: { type: "object" } },
        ],
      };
    });
    const pdp = recordingPdp(functionPdp((r) => r.action === "list" || r.operation.name === "a"));
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const guarded = guardTransport(serverSide, options(pdp));
    await server.connect(guarded);
    const client = new Client({ name: "c", version: "1" });
    await client.connect(clientSide);
    await expect(client.listTools()).rejects.toMatchObject({
      message: expect.stringContaining("backend down"),
    });
    fail = false;
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["a"]);
  });
});

describe("guard hardening", () => {
  async function rawPair(server: McpServer | Server, pdp = allowAll()) {
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const authorizer = authorize(server, options(pdp));
    await server.connect(serverSide);
    const received: Record<string, unknown>[] = [];
    clientSide.onmessage = (m) => received.push(m);
    await clientSide.start();
    const send = (m: Record<string, unknown>) => clientSide.send({ jsonrpc: "2.0", ...m } as never);
    await send({
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "raw", version: "1" },
      },
    });
    await send({ method: "notifications/initialized" });
    return { send, received, authorizer };
  }
  const settle = () => new Promise((r) => setTimeout(r, 120));

  it("refuses a request reusing the id of one still in flight, so it can't take over its filtering", async () => {
    const server = new Server(
      { name: "slow", version: "1" },
      { capabilities: { tools: {}, prompts: {} } },
    );
    server.setRequestHandler(ListToolsRequestSchema, async () => {
      await new Promise((r) => setTimeout(r, 50));
      return {
        tools: [
          { name: "read_file", inputSchema: { type: "object" } },
          { name: "admin_reset", inputSchema: { type: "object" } },
        ],
      };
    });
    const { send, received } = await rawPair(server, functionPdp(readerPolicy));
    await send({ id: 7, method: "tools/list" });
    await send({ id: 7, method: "tools/list" });
    await settle();
    const answers = received.filter((m) => m.id === 7);
    expect(answers).toHaveLength(2);
    expect(answers.find((m) => m.error)?.error).toMatchObject({ code: -32600 });
    const listed = answers.find((m) => m.result)?.result as { tools: { name: string }[] };
    expect(listed.tools.map((t) => t.name)).toEqual(["read_file"]);
  });

  it("keeps each request in flight to its own answer and refuses duplicates, one or several at a time", async () => {
    const server = new Server({ name: "slow", version: "1" }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, async () => {
      await new Promise((r) => setTimeout(r, 50));
      return {
        tools: [
          { name: "read_file", inputSchema: { type: "object" } },
          { name: "admin_reset", inputSchema: { type: "object" } },
        ],
      };
    });
    const { send, received } = await rawPair(server, functionPdp(readerPolicy));
    // Three in flight at once (the guard holds the first apart from the others), each id sent
    // twice while it is: every second one is refused, every first one answered and filtered.
    for (const id of [1, "1", 2]) await send({ id, method: "tools/list" });
    for (const id of [2, "1", 1]) await send({ id, method: "tools/list" });
    await settle();
    for (const id of [1, "1", 2]) {
      const answers = received.filter((m) => m.id === id);
      expect(answers).toHaveLength(2);
      expect(answers.find((m) => m.error)?.error).toMatchObject({ code: -32600 });
      const listed = answers.find((m) => m.result)?.result as { tools: { name: string }[] };
      expect(listed.tools.map((t) => t.name)).toEqual(["read_file"]);
    }
    // Answered, each id is free again; one at a time, the same holds.
    await send({ id: 2, method: "tools/list" });
    await send({ id: 2, method: "tools/list" });
    await settle();
    const again = received.filter((m) => m.id === 2).slice(2);
    expect(again.map((m) => (m.error ? "refused" : "listed")).sort()).toEqual([
      "listed",
      "refused",
    ]);
    expect((again.find((m) => m.result)?.result as { tools: unknown[] }).tools).toHaveLength(1);
  });

  it("drops a request cancelled while it is decided, holds its id until the decision comes, then frees it", async () => {
    const calls: string[] = [];
    let release: (() => void) | undefined;
    const slow = {
      name: "slow",
      check: (request: AuthorizationRequest) =>
        request.operation.name === "read_file"
          ? new Promise<Decision>((resolve) => {
              release = () => {
                resolve({ allow: true, source: "pdp" });
              };
            })
          : Promise.resolve<Decision>({ allow: true, source: "pdp" }),
    };
    const { send, received } = await rawPair(buildServer(calls), slow);
    const call = { method: "tools/call", params: { name: "read_file", arguments: {} } };
    await send({ id: 9, ...call });
    await send({ method: "notifications/cancelled", params: { requestId: 9 } });
    // Still being decided: the id is taken.
    await send({ id: 9, method: "tools/list" });
    await settle();
    expect(received.filter((m) => m.id === 9).map((m) => m.error)).toEqual([
      expect.objectContaining({ code: -32600 }),
    ]);
    release?.();
    await settle();
    // The cancelled call was dropped: never run, never answered.
    expect(calls).toEqual([]);
    expect(received.filter((m) => m.id === 9)).toHaveLength(1);
    // Its id is free again.
    await send({ id: 9, method: "tools/call", params: { name: "write_file", arguments: {} } });
    await settle();
    expect(calls).toEqual(["write_file"]);
    expect(received.filter((m) => m.id === 9).at(-1)?.result).toBeDefined();
  });

  it("denies every spelling of a denied URI and never runs the read", async () => {
    const seen: string[] = [];
    const server = new McpServer({ name: "docs", version: "1" });
    server.registerResource("secret", "docs://host/secret", {}, (uri) => {
      seen.push(uri.href);
      return { contents: [{ uri: uri.href, text: "SECRET" }] };
    });
    const pdp = recordingPdp(functionPdp((r) => r.resource.key !== "docs://host/secret"));
    const client = await (async () => {
      authorize(server, options(pdp));
      return connect(server);
    })();
    for (const spelling of [
      "docs://host/secret",
      "DOCS://host/secret",
      "docs://host/x/../secret",
    ]) {
      await expect(client.readResource({ uri: spelling })).rejects.toMatchObject({
        code: UNAUTHORIZED_CODE,
      });
    }
    expect(seen).toEqual([]);
  });

  it("hands the server the client's exact URI, decided on its canonical form", async () => {
    // A server that serves exactly the strings it lists, as many low-level servers do.
    const listed = ["file:///tmp/My Notes.txt", "https://example.com", "docs://a/b/../c"];
    const server = new Server({ name: "exact", version: "1" }, { capabilities: { resources: {} } });
    const seen: string[] = [];
    server.setRequestHandler(ListResourcesRequestSchema, () => ({
      resources: listed.map((uri) => ({ uri, name: uri })),
    }));
    server.setRequestHandler(ReadResourceRequestSchema, (req) => {
      seen.push(req.params.uri);
      if (!listed.includes(req.params.uri)) {
        throw new McpError(-32002, `Resource ${req.params.uri} not found`);
      }
      return { contents: [{ uri: req.params.uri, text: `content of ${req.params.uri}` }] };
    });
    const pdp = recordingPdp(allowAll());
    authorize(server, options(pdp));
    const client = await connect(server);
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(listed);
    for (const uri of listed) {
      const read = await client.readResource({ uri });
      expect(read.contents).toEqual([{ uri, text: `content of ${uri}` }]);
    }
    expect(seen).toEqual(listed);
    // The decisions were about the canonical forms.
    const decided = pdp.requests
      .filter((r) => r.operation.method === "resources/read" && r.operation.phase === "call")
      .map((r) => r.resource.key);
    expect(decided).toEqual(["file:///tmp/My%20Notes.txt", "https://example.com/", "docs://a/c"]);
  });

  it("denies a read of another spelling of a denied URI, as the canonical form is decided", async () => {
    const server = new Server({ name: "exact", version: "1" }, { capabilities: { resources: {} } });
    const seen: string[] = [];
    server.setRequestHandler(ReadResourceRequestSchema, (req) => {
      seen.push(req.params.uri);
      return { contents: [{ uri: req.params.uri, text: "C" }] };
    });
    authorize(server, options(functionPdp((r) => r.resource.key !== "docs://a/c")));
    const client = await connect(server);
    for (const uri of ["docs://a/c", "docs://a/b/../c"]) {
      await expect(client.readResource({ uri })).rejects.toMatchObject({
        code: UNAUTHORIZED_CODE,
      });
    }
    expect(seen).toEqual([]);
  });

  it("answers a deny when deciding throws unexpectedly, instead of leaving the request hanging", async () => {
    const server = buildServer([]);
    const { send, received, authorizer } = await rawPair(server);
    authorizer.components.setFallback(() => {
      throw new Error("registry exploded");
    });
    await send({ id: 9, method: "tools/call", params: { name: "read_file", arguments: {} } });
    await settle();
    expect(received.find((m) => m.id === 9)?.error).toMatchObject({ code: UNAUTHORIZED_CODE });
  });

  it("takes a templated read's metadata from the template the SDK routes it to", async () => {
    const pdp = recordingPdp(allowAll());
    const server = new McpServer({ name: "t", version: "1" });
    server.registerResource(
      "plain",
      new ResourceTemplate("notes://{id}", { list: undefined }),
      {},
      (uri) => ({ contents: [{ uri: uri.href, text: "plain" }] }),
    );
    server.registerResource(
      "secret",
      new ResourceTemplate("notes://{+path}", { list: undefined }),
      { _meta: { tags: ["secret"] } },
      (uri) => ({ contents: [{ uri: uri.href, text: "secret" }] }),
    );
    authorize(server, options(pdp));
    const client = await connect(server);
    pdp.reset();
    const read = await client.readResource({ uri: "notes://a,b" });
    expect(read.contents[0]).toMatchObject({ text: "secret" });
    expect(pdp.requests[0]?.operation.metadata?.tags).toEqual(["secret"]);
  });

  it("guards again a transport that was guarded with another policy", async () => {
    const calls: string[] = [];
    const server = buildServer(calls);
    authorize(server, options(denyAll()));
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(guardTransport(serverSide, options(allowAll())));
    const client = new Client({ name: "c", version: "1" });
    await client.connect(clientSide);
    await expect(client.callTool({ name: "read_file" })).rejects.toMatchObject({
      code: UNAUTHORIZED_CODE,
    });
    expect(calls).toEqual([]);
  });
});

describe("guarded transport: answers the client cancelled, and transports that throw", () => {
  /** A guard in front of a raw server that answers whatever it is sent, cancelled or not. */
  async function rawServer() {
    const pdp = functionPdp((r) => r.action === "list" || r.operation.name === "public");
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const guarded = guardTransport(serverSide, { pdp, audit: false });
    const atServer: Record<string, unknown>[] = [];
    guarded.onmessage = (m) => atServer.push(m);
    await guarded.start();
    const atClient: Record<string, unknown>[] = [];
    clientSide.onmessage = (m) => atClient.push(m);
    await clientSide.start();
    const fromClient = (m: Record<string, unknown>) =>
      clientSide.send({ jsonrpc: "2.0", ...m } as never);
    const fromServer = (m: Record<string, unknown>) =>
      guarded.send({ jsonrpc: "2.0", ...m } as never);
    return { fromClient, fromServer, atServer, atClient };
  }
  const tools = {
    tools: [
      { name: "public", inputSchema: { type: "object" } },
      { name: "secret", inputSchema: { type: "object" } },
    ],
  };
  const pause = () => new Promise((r) => setTimeout(r, 20));

  it("drops a late answer to a cancelled list instead of sending it unfiltered", async () => {
    const { fromClient, fromServer, atClient } = await rawServer();
    await fromClient({ id: 1, method: "tools/list" });
    await pause();
    await fromServer({ id: 1, result: tools });
    await pause();
    expect((atClient.at(-1)?.result as typeof tools).tools.map((t) => t.name)).toEqual(["public"]);
    await fromClient({ id: 2, method: "tools/list" });
    await pause();
    await fromClient({ method: "notifications/cancelled", params: { requestId: 2 } });
    await pause();
    await fromServer({ id: 2, result: tools });
    await pause();
    expect(atClient.filter((m) => m.id === 2)).toEqual([]);
  });

  it("keeps a cancelled request's id taken until the server answers it, so it cannot be reused meanwhile", async () => {
    const { fromClient, fromServer, atServer, atClient } = await rawServer();
    await fromClient({ id: 3, method: "tools/call", params: { name: "public" } });
    await pause();
    await fromClient({ method: "notifications/cancelled", params: { requestId: 3 } });
    await fromClient({ id: 3, method: "tools/list" });
    await pause();
    expect(atServer.filter((m) => m.id === 3).map((m) => m.method)).toEqual(["tools/call"]);
    expect(atClient.find((m) => m.id === 3)?.error).toMatchObject({ code: -32600 });
    // The late answer frees the id; it is not sent.
    await fromServer({ id: 3, result: { content: [] } });
    await fromClient({ id: 3, method: "tools/list" });
    await pause();
    await fromServer({ id: 3, result: tools });
    await pause();
    const answers = atClient.filter((m) => m.id === 3 && m.result !== undefined);
    expect(answers.map((m) => (m.result as typeof tools).tools.map((t) => t.name))).toEqual([
      ["public"],
    ]);
  });

  it("frees a cancelled request's id when the server answers it, with other requests in flight", async () => {
    const { fromClient, fromServer, atServer, atClient } = await rawServer();
    // Two in flight, the first answered, then the second cancelled and answered late.
    await fromClient({ id: 1, method: "tools/call", params: { name: "public" } });
    await fromClient({ id: 2, method: "tools/call", params: { name: "public" } });
    await pause();
    await fromServer({ id: 1, result: { content: [] } });
    await fromClient({ method: "notifications/cancelled", params: { requestId: 2 } });
    await pause();
    await fromServer({ id: 2, result: { content: [] } });
    await pause();
    expect(atClient.filter((m) => m.id === 2)).toEqual([]);
    // Its id is free: a list reusing it reaches the server and comes back filtered.
    await fromClient({ id: 2, method: "tools/list" });
    await pause();
    expect(atServer.filter((m) => m.id === 2).map((m) => m.method)).toEqual([
      "tools/call",
      "tools/list",
    ]);
    await fromServer({ id: 2, result: tools });
    await pause();
    const listed = atClient.find((m) => m.id === 2)?.result as typeof tools;
    expect(listed.tools.map((t) => t.name)).toEqual(["public"]);
  });

  it("never frees the id of a cancelled request the server still holds, however many are cancelled", async () => {
    const { fromClient, fromServer, atServer, atClient } = await rawServer();
    // A list the client cancels; the server holds it.
    await fromClient({ id: "x", method: "tools/list" });
    await pause();
    await fromClient({ method: "notifications/cancelled", params: { requestId: "x" } });
    // Enough cancelled calls that a bounded memory of cancelled ids would drop "x".
    for (let id = 1; id <= 1100; id++) {
      await fromClient({ id, method: "tools/call", params: { name: "public" } });
    }
    await pause();
    for (let id = 1; id <= 1100; id++) {
      await fromClient({ method: "notifications/cancelled", params: { requestId: id } });
    }
    await pause();
    // Past the bound, cancellations are not forwarded: those requests complete normally.
    const cancels = () => atServer.filter((m) => m.method === "notifications/cancelled");
    expect(cancels()).toHaveLength(1024);
    await fromClient({ id: 2000, method: "tools/list" });
    await pause();
    await fromClient({ method: "notifications/cancelled", params: { requestId: 2000 } });
    await pause();
    expect(cancels()).toHaveLength(1024);
    // The id is still taken: a ping reusing it is refused, so it can't collect the list's answer.
    await fromClient({ id: "x", method: "ping" });
    await pause();
    expect(atServer.filter((m) => m.id === "x").map((m) => m.method)).toEqual(["tools/list"]);
    await fromServer({ id: "x", result: tools });
    await fromServer({ id: "x", result: {} });
    await fromServer({ id: 2000, result: tools });
    await pause();
    expect(atClient.filter((m) => m.id === "x")).toEqual([
      expect.objectContaining({ error: expect.objectContaining({ code: -32600 }) }),
    ]);
    // The uncancelled list's answer is filtered as usual.
    const late = atClient.find((m) => m.id === 2000)?.result as typeof tools;
    expect(late.tools.map((t) => t.name)).toEqual(["public"]);
  });

  it("refuses params nested deeper than 64 levels with -32602 before anything walks them", async () => {
    const calls: string[] = [];
    const { send, received } = await (async () => {
      const server = buildServer(calls);
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      authorize(server, { pdp: allowAll(), audit: false });
      await server.connect(serverSide);
      const got: Record<string, unknown>[] = [];
      clientSide.onmessage = (m) => got.push(m);
      await clientSide.start();
      return {
        received: got,
        send: (m: Record<string, unknown>) => clientSide.send({ jsonrpc: "2.0", ...m } as never),
      };
    })();
    const nested = (depth: number): Record<string, unknown> => {
      let value: Record<string, unknown> = {};
      for (let i = 1; i < depth; i++) value = { a: value };
      return value;
    };
    // params itself is the first level.
    await send({ id: 1, method: "ping", params: { deep: nested(100_000) } });
    await send({
      id: 2,
      method: "tools/call",
      params: { name: "read_file", arguments: nested(70) },
    });
    await send({ id: 3, method: "ping", params: { deep: nested(63) } });
    await pause();
    const byId = (id: number) => received.find((m) => m.id === id);
    for (const id of [1, 2]) {
      expect(byId(id)?.error).toEqual({
        code: -32602,
        message: "Invalid params: nested deeper than 64 levels",
      });
    }
    expect(byId(3)?.result).toEqual({});
    expect(calls).toEqual([]);
  });

  it("answers the server with -32602 for a client's response nested deeper than 64 levels", async () => {
    const { fromClient, atServer } = await rawServer();
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    await fromClient({ id: "sampling-1", result: deep });
    await fromClient({ id: "sampling-2", result: { content: { type: "text", text: "ok" } } });
    await pause();
    expect(atServer).toEqual([
      {
        jsonrpc: "2.0",
        id: "sampling-1",
        error: { code: -32602, message: "Invalid result: nested deeper than 64 levels" },
      },
      { jsonrpc: "2.0", id: "sampling-2", result: { content: { type: "text", text: "ok" } } },
    ]);
  });

  it("turns a transport's synchronous throw into a rejection, so a server's timer cannot crash", async () => {
    const throwing = {
      start: () => Promise.resolve(),
      close: () => Promise.resolve(),
      send: (): Promise<void> => {
        throw new Error("socket gone");
      },
    };
    const guarded = guardTransport(throwing, { pdp: allowAll(), audit: false });
    await expect(
      guarded.send({ jsonrpc: "2.0", method: "notifications/message", params: {} } as never),
    ).rejects.toThrow("socket gone");
    await expect(guarded.send({ jsonrpc: "2.0", id: 1, result: {} } as never)).resolves.toBe(
      undefined,
    );
  });
});
