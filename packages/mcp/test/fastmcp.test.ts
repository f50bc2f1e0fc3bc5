import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import type { IncomingMessage } from "node:http";
import { type AuthorizationRequest, ConfigError } from "@mcp-pdp/core";
import { functionPdp, recordingPdp } from "@mcp-pdp/core/testing";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { FastMCP } from "fastmcp";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { authorizeFastMCP, defaultSubject, forwardAuth } from "../src/fastmcp.js";
import { UNAUTHORIZED_CODE } from "../src/index.js";

interface User extends Record<string, unknown> {
  id: string;
  role: "admin" | "user";
  scopes: string[];
  apiKey: string;
  department: string;
}

const USERS: Record<string, User> = {
  "alice-key": {
    id: "alice",
    role: "admin",
    scopes: ["notes:read", "notes:write"],
    apiKey: "alice-key",
    department: "ops",
  },
  "bob-key": {
    id: "bob",
    role: "user",
    scopes: ["notes:read"],
    apiKey: "bob-key",
    department: "sales",
  },
};

async function checkKey(request: IncomingMessage): Promise<User> {
  const user = USERS[String(request.headers["x-api-key"])];
  // FastMCP answers a thrown Response as it is: a 401.
  // eslint-disable-next-line @typescript-eslint/only-throw-error
  if (!user) throw new Response(null, { status: 401, statusText: "Unauthorized" });
  return Promise.resolve(user);
}

/** Admins may delete notes; everyone may read them and list. */
function notesPolicy(request: AuthorizationRequest): boolean {
  if (request.action === "list" || request.action === "read-note") return true;
  if (request.action === "delete-note") return request.subject.roles?.includes("admin") ?? false;
  return request.operation.component === "tool";
}

const quiet = { debug() {}, error() {}, info() {}, log() {}, warn() {} };

/** A FastMCP server with three tools; `ran` records each execute that actually ran. */
function notesServer(ran: string[]) {
  const server = new FastMCP<User>({
    name: "notes",
    version: "1.0.0",
    authenticate: forwardAuth(checkKey),
    logger: quiet,
  });
  for (const name of ["read_note", "delete_note"]) {
    server.addTool({
      name,
      parameters: z.object({ id: z.string() }),
      execute: (args, context) => {
        ran.push(`${name}:${context.session?.id ?? "?"}`);
        return Promise.resolve(`${name} ${args.id}`);
      },
    });
  }
  // FastMCP's own per-tool check: only admins' sessions get this tool at all.
  server.addTool({
    name: "export_notes",
    canAccess: (auth) => auth.role === "admin",
    execute: (_args, context) => {
      ran.push(`export_notes:${context.session?.id ?? "?"}`);
      return Promise.resolve("exported");
    },
  });
  return server;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => {
        if (typeof address === "object" && address) resolve(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startHttp(server: FastMCP<User>, stateless = false): Promise<URL> {
  const port = await freePort();
  await server.start({
    transportType: "httpStream",
    httpStream: { port, host: "127.0.0.1", endpoint: "/mcp", stateless },
  });
  cleanups.push(() => server.stop());
  return new URL(`http://127.0.0.1:${port}/mcp`);
}

async function clientFor(url: URL, apiKey: string): Promise<Client> {
  const client = new Client({ name: `client-${apiKey}`, version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(url, { requestInit: { headers: { "x-api-key": apiKey } } }),
  );
  cleanups.push(() => client.close());
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
  return (await client.listTools()).tools.map((tool) => tool.name).sort();
}

describe("authorizeFastMCP over httpStream", () => {
  for (const stateless of [false, true]) {
    const mode = stateless ? "stateless" : "stateful";

    it(`${mode}: two callers authenticated differently see and call different tools`, async () => {
      const ran: string[] = [];
      const server = notesServer(ran);
      authorizeFastMCP(server, {
        pdp: functionPdp(notesPolicy),
        audit: false,
        mapping: { serverName: "notes" },
      });
      const url = await startHttp(server, stateless);
      const alice = await clientFor(url, "alice-key");
      const bob = await clientFor(url, "bob-key");

      expect(await toolNames(alice)).toEqual(["delete_note", "export_notes", "read_note"]);
      expect(await toolNames(bob)).toEqual(["read_note"]);

      const denied = await denial(bob.callTool({ name: "delete_note", arguments: { id: "1" } }));
      expect(denied.code).toBe(UNAUTHORIZED_CODE);
      expect(denied.data).toEqual({ reason: "access denied by policy" });

      const allowed = await alice.callTool({ name: "delete_note", arguments: { id: "1" } });
      expect(allowed.content).toEqual([{ type: "text", text: "delete_note 1" }]);
      await bob.callTool({ name: "read_note", arguments: { id: "2" } });
      // Bob's denied call never reached the tool; the tools saw the same session auth as the PDP.
      expect(ran).toEqual(["delete_note:alice", "read_note:bob"]);
    });
  }

  it("a denied call answers as authorize() does: denyMode and exposeReasons apply", async () => {
    const ran: string[] = [];
    const server = notesServer(ran);
    authorizeFastMCP(server, {
      pdp: functionPdp((request) =>
        notesPolicy(request) ? true : { allow: false, reason: "admins only", source: "pdp" },
      ),
      audit: false,
      mapping: { serverName: "notes" },
      denyMode: "tool-result",
      exposeReasons: true,
    });
    const bob = await clientFor(await startHttp(server), "bob-key");

    const result = await bob.callTool({ name: "delete_note", arguments: { id: "1" } });
    expect(result).toEqual({
      content: [{ type: "text", text: "Unauthorized: admins only" }],
      isError: true,
    });
    expect(ran).toEqual([]);
  });

  it("the PDP gets the subject mapped from the session auth, without credentials", async () => {
    const pdp = recordingPdp();
    const server = notesServer([]);
    authorizeFastMCP(server, { pdp, audit: false, mapping: { serverName: "notes" } });
    const alice = await clientFor(await startHttp(server), "alice-key");

    await alice.callTool({ name: "read_note", arguments: { id: "1" } });
    const call = pdp.requests.find((r) => r.operation.method === "tools/call");
    expect(call?.subject).toEqual({
      id: "alice",
      authenticated: true,
      roles: ["admin"],
      scopes: ["notes:read", "notes:write"],
      attributes: { department: "ops" },
    });
  });

  it("a subject mapping of the user's replaces the default", async () => {
    const pdp = recordingPdp();
    const server = notesServer([]);
    authorizeFastMCP<User>(server, {
      pdp,
      audit: false,
      subject: (auth) => ({ id: `user:${auth.id}`, authenticated: true, tenant: auth.department }),
    });
    const bob = await clientFor(await startHttp(server), "bob-key");

    await bob.listTools();
    expect(pdp.requests[0]?.subject).toEqual({
      id: "user:bob",
      authenticated: true,
      tenant: "sales",
    });
  });

  it("FastMCP's canAccess and the policy must both allow a tool", async () => {
    const ran: string[] = [];
    const server = notesServer(ran);
    // The policy allows export_notes to everyone and denies it to alice: canAccess hides it from bob.
    authorizeFastMCP(server, {
      pdp: functionPdp(
        (request) =>
          request.action !== "export-notes" ||
          request.subject.id !== "alice" ||
          request.operation.phase === "list",
      ),
      audit: false,
    });
    const url = await startHttp(server);
    const alice = await clientFor(url, "alice-key");
    const bob = await clientFor(url, "bob-key");

    expect(await toolNames(bob)).not.toContain("export_notes");
    const hidden = await denial(bob.callTool({ name: "export_notes", arguments: {} }));
    expect(hidden.code).not.toBe(UNAUTHORIZED_CODE);
    const denied = await denial(alice.callTool({ name: "export_notes", arguments: {} }));
    expect(denied.code).toBe(UNAUTHORIZED_CODE);
    expect(ran).toEqual([]);
  });

  it("a server whose authenticate is wrapped but that was never authorized refuses every request", async () => {
    const ran: string[] = [];
    const server = notesServer(ran);
    const url = await startHttp(server);

    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "x-api-key": "alice-key",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: "2025-06-18",
          capabilities: {},
          clientInfo: { name: "raw", version: "1" },
        },
      }),
    });
    expect(response.status).toBe(401);
  });
});

describe("authorizeFastMCP with connect(transport, auth)", () => {
  it("decides with the auth passed to connect()", async () => {
    const ran: string[] = [];
    const server = notesServer(ran);
    authorizeFastMCP(server, { pdp: functionPdp(notesPolicy), audit: false });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const session = await server.connect(serverSide, USERS["bob-key"]);
    cleanups.push(() => session.close());
    const client = new Client({ name: "memory", version: "1.0.0" });
    await client.connect(clientSide);
    cleanups.push(() => client.close());

    expect((await client.listTools()).tools.map((t) => t.name)).not.toContain("delete_note");
    const denied = await denial(client.callTool({ name: "delete_note", arguments: { id: "1" } }));
    expect(denied.code).toBe(UNAUTHORIZED_CODE);
    expect(ran).toEqual([]);
  });
});

describe("authorizeFastMCP over stdio", () => {
  it("decides with the auth authenticate returned at start", async () => {
    const main = fileURLToPath(new URL("./fixtures/fastmcp-stdio.ts", import.meta.url));
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ["--conditions=@mcp-pdp/source", "--import", "tsx", main],
      env: { ...(process.env as Record<string, string>), NOTES_USER: "bob" },
      stderr: "pipe",
    });
    const client = new Client({ name: "stdio", version: "1.0.0" });
    await client.connect(transport);
    cleanups.push(() => client.close());

    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["read_note"]);
    const denied = await denial(client.callTool({ name: "delete_note", arguments: { id: "1" } }));
    expect(denied.code).toBe(UNAUTHORIZED_CODE);
    const read = await client.callTool({ name: "read_note", arguments: { id: "1" } });
    // The fixture's tools report every execute: only the allowed one ran.
    expect(read.content).toEqual([{ type: "text", text: "note 1 for bob; ran: read_note" }]);
  });
});

describe("authorizeFastMCP configuration", () => {
  it("refuses a server whose authenticate is not wrapped in forwardAuth", () => {
    const server = new FastMCP({
      name: "x",
      version: "1.0.0",
      authenticate: checkKey,
      logger: quiet,
    });
    expect(() => authorizeFastMCP(server, { pdp: functionPdp(() => true), audit: false })).toThrow(
      ConfigError,
    );
  });

  it("refuses a server authorized twice", () => {
    const server = notesServer([]);
    authorizeFastMCP(server, { pdp: functionPdp(() => true), audit: false });
    expect(() => authorizeFastMCP(server, { pdp: functionPdp(() => true), audit: false })).toThrow(
      /already authorized/,
    );
  });

  it("maps a session auth without an id, or none, to an unauthenticated subject", () => {
    expect(defaultSubject(undefined).authenticated).toBe(false);
    expect(defaultSubject({ role: "admin" }).authenticated).toBe(false);
    expect(defaultSubject({ sub: "s1", roles: "a b", token: "t" })).toEqual({
      id: "s1",
      authenticated: true,
      roles: ["a", "b"],
      attributes: {},
    });
  });
});
