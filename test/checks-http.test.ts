/**
 * Callable checks end to end: a real McpServer behind express and the SDK's bearer middleware over
 * Streamable HTTP, secured by checksPdp, and a real SDK Client sending bearer tokens whose scopes
 * decide what is listed and callable.
 */
import {
  AuthorizationError,
  authInfoIdentity,
  checksPdp,
  requireAuth,
  requireScopes,
  restrictTag,
} from "@mcp-pdp/core";
import { memoryAuditSink } from "@mcp-pdp/core/testing";
import { UNAUTHORIZED_CODE } from "@mcp-pdp/mcp";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InvalidTokenError } from "@modelcontextprotocol/sdk/server/auth/errors.js";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import type { OAuthTokenVerifier } from "@modelcontextprotocol/sdk/server/auth/provider.js";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { type CallToolResult, McpError } from "@modelcontextprotocol/sdk/types.js";
import { type RunningHttpServer, serveHttp } from "@mcp-pdp/example-local-server/http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

const TOKENS: Record<string, { clientId: string; scopes: string[] }> = {
  "no-scope-token": { clientId: "nobody", scopes: [] },
  "reader-token": { clientId: "reader", scopes: ["notes:read"] },
  "writer-token": { clientId: "writer", scopes: ["notes:read", "notes:write"] },
  "admin-token": { clientId: "admin", scopes: ["notes:read", "notes:write", "admin"] },
};

const verifier: OAuthTokenVerifier = {
  verifyAccessToken(token) {
    const known = TOKENS[token];
    if (!known) return Promise.reject(new InvalidTokenError("unknown token"));
    return Promise.resolve({
      token,
      clientId: known.clientId,
      scopes: known.scopes,
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
    });
  },
};

const SECRET_DETAIL = "db password=hunter2 rejected";
const checkFailures: unknown[] = [];
let slowCheckRuns = 0;

const pdp = checksPdp({
  default: [requireAuth(), restrictTag("admin", { scopes: ["admin"] })],
  tools: {
    write_note: requireScopes("notes:write"),
    slow_search: async function slowSearch(ctx) {
      slowCheckRuns++;
      await new Promise((resolve) => setTimeout(resolve, 50));
      return (ctx.subject.scopes ?? []).includes("notes:read");
    },
    flaky_tool: function lookupEntitlement() {
      throw new Error(SECRET_DETAIL);
    },
    quota_tool: () => {
      throw new AuthorizationError("daily quota exceeded");
    },
  },
  resources: {
    "notes://index": requireScopes("notes:read"),
    "notes://note/{id}": requireScopes("notes:read"),
  },
  onError: (error) => {
    checkFailures.push(error);
  },
});

const ran: string[] = [];

function createServer(): McpServer {
  const server = new McpServer({ name: "checks-e2e", version: "1.0.0" });
  const text = (name: string, t: string): CallToolResult => {
    ran.push(name);
    return { content: [{ type: "text", text: t }] };
  };
  server.registerTool("read_note", { inputSchema: { id: z.string() } }, ({ id }) =>
    text("read_note", `note ${id}`),
  );
  server.registerTool("write_note", { inputSchema: { body: z.string() } }, () =>
    text("write_note", "written"),
  );
  server.registerTool(
    "wipe_notes",
    { description: "Delete every note", _meta: { tags: ["admin"] } },
    () => text("wipe_notes", "wiped"),
  );
  server.registerTool("slow_search", {}, () => text("slow_search", "found"));
  server.registerTool("flaky_tool", {}, () => text("flaky_tool", "ran"));
  server.registerTool("quota_tool", {}, () => text("quota_tool", "ran"));
  server.registerResource("index", "notes://index", {}, (uri) => ({
    contents: [{ uri: uri.href, text: "1: Welcome" }],
  }));
  server.registerResource(
    "note",
    new ResourceTemplate("notes://note/{id}", { list: undefined }),
    {},
    (uri, { id }) => ({ contents: [{ uri: uri.href, text: `body of ${String(id)}` }] }),
  );
  return server;
}

const audit = memoryAuditSink();
let running: RunningHttpServer;
let url: URL;

beforeAll(async () => {
  // One McpServer per session, each guarded by the same checks, behind the SDK's bearer middleware.
  running = await serveHttp({
    createServer,
    guard: { pdp, identity: authInfoIdentity(), audit },
    middleware: [requireBearerAuth({ verifier })],
  });
  url = running.url;
});

afterAll(async () => {
  await running.close();
});

const clients: Client[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
});

async function connect(token: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: "checks-e2e-client", version: "1.0.0" });
  await client.connect(transport);
  clients.push(client);
  return client;
}

async function denial(promise: Promise<unknown>): Promise<McpError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(McpError);
  return error as McpError;
}

async function toolNames(client: Client): Promise<string[]> {
  return (await client.listTools()).tools.map((t) => t.name).sort();
}

describe("callable checks over Streamable HTTP with bearer tokens", () => {
  it("refuses a request without a token at the bearer middleware", async () => {
    const client = new Client({ name: "anonymous", version: "1.0.0" });
    await expect(client.connect(new StreamableHTTPClientTransport(url))).rejects.toThrow();
  });

  it("decides a tagged tool by its registered tags before any list was sent", async () => {
    const writer = await connect("writer-token");
    const error = await denial(writer.callTool({ name: "wipe_notes", arguments: {} }));
    expect(error.code).toBe(UNAUTHORIZED_CODE);
    expect(error.message).toContain("Unauthorized");
    expect(ran).not.toContain("wipe_notes");

    const admin = await connect("admin-token");
    const result = await admin.callTool({ name: "wipe_notes", arguments: {} });
    expect(result.content).toEqual([{ type: "text", text: "wiped" }]);
  });

  it("lists to each token exactly the tools its scopes allow", async () => {
    expect(await toolNames(await connect("no-scope-token"))).toEqual(["read_note"]);
    expect(await toolNames(await connect("reader-token"))).toEqual(["read_note", "slow_search"]);
    expect(await toolNames(await connect("writer-token"))).toEqual([
      "read_note",
      "slow_search",
      "write_note",
    ]);
    expect(await toolNames(await connect("admin-token"))).toEqual([
      "read_note",
      "slow_search",
      "wipe_notes",
      "write_note",
    ]);
  });

  it("lets a token call a tool only when it holds the tool's scopes", async () => {
    const reader = await connect("reader-token");
    await reader.listTools();
    const error = await denial(reader.callTool({ name: "write_note", arguments: { body: "x" } }));
    expect(error.code).toBe(UNAUTHORIZED_CODE);
    expect(ran).not.toContain("write_note");

    const writer = await connect("writer-token");
    const result = await writer.callTool({ name: "write_note", arguments: { body: "x" } });
    expect(result.content).toEqual([{ type: "text", text: "written" }]);
  });

  it("waits for an async check that resolves after 50 ms", async () => {
    const before = slowCheckRuns;
    const reader = await connect("reader-token");
    const result = await reader.callTool({ name: "slow_search", arguments: {} });
    expect(result.content).toEqual([{ type: "text", text: "found" }]);
    expect(slowCheckRuns).toBe(before + 1);

    const nobody = await connect("no-scope-token");
    const error = await denial(nobody.callTool({ name: "slow_search", arguments: {} }));
    expect(error.code).toBe(UNAUTHORIZED_CODE);
  });

  it("denies when a check throws, without sending the exception's text to the client", async () => {
    const admin = await connect("admin-token");
    const error = await denial(admin.callTool({ name: "flaky_tool", arguments: {} }));
    expect(error.code).toBe(UNAUTHORIZED_CODE);
    expect(JSON.stringify({ message: error.message, data: error.data })).not.toContain("hunter2");
    expect(ran).not.toContain("flaky_tool");
    // The operator still learns what failed.
    expect(checkFailures.map((e) => (e as Error).message)).toContain(SECRET_DETAIL);
    const events = audit.events.filter((e) => e.errorCode === "CHECK_FAILED");
    expect(events.length).toBeGreaterThan(0);
    expect(JSON.stringify(audit.events)).not.toContain("hunter2");
  });

  it("sends the message of an AuthorizationError to the client", async () => {
    const admin = await connect("admin-token");
    const error = await denial(admin.callTool({ name: "quota_tool", arguments: {} }));
    expect(error.code).toBe(UNAUTHORIZED_CODE);
    expect(error.data).toMatchObject({ reason: "daily quota exceeded" });
  });

  it("matches a resource read against the URI template's checks", async () => {
    const nobody = await connect("no-scope-token");
    const error = await denial(nobody.readResource({ uri: "notes://note/42" }));
    expect(error.code).toBe(UNAUTHORIZED_CODE);

    const admin = await connect("admin-token");
    const read = await admin.readResource({ uri: "notes://note/42" });
    expect(read.contents).toEqual([{ uri: "notes://note/42", text: "body of 42" }]);
  });

  it("decides a static resource by its scopes", async () => {
    const nobody = await connect("no-scope-token");
    await denial(nobody.readResource({ uri: "notes://index" }));
    const reader = await connect("reader-token");
    const read = await reader.readResource({ uri: "notes://index" });
    expect(read.contents).toEqual([{ uri: "notes://index", text: "1: Welcome" }]);
    expect((await reader.listResources()).resources.map((r) => r.uri)).toEqual(["notes://index"]);
    expect((await nobody.listResources()).resources).toEqual([]);
  });
});
