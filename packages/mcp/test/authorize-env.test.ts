import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, fixedIdentity } from "@mcp-pdp/core";
import { functionPdp, recordingPdp } from "@mcp-pdp/core/testing";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type AuthorizeOptions, UNAUTHORIZED_CODE, authorize } from "../src/index.js";

function notesServer(): McpServer {
  const server = new McpServer({ name: "notes", version: "1.0.0" });
  for (const name of ["list_notes", "delete_note"]) {
    server.registerTool(name, { description: name }, () => ({
      content: [{ type: "text", text: `${name} ran` }],
    }));
  }
  return server;
}

/** An authorized notes server with a connected client. */
async function connected(options: AuthorizeOptions): Promise<Client> {
  const server = notesServer();
  authorize(server, options);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "test-client", version: "1.0.0" });
  await client.connect(clientSide);
  return client;
}

/** Allows the `user` role to list and to call list_notes. */
const userMayList = () =>
  recordingPdp(
    functionPdp(
      (req) =>
        (req.subject.roles ?? []).includes("user") &&
        (req.action === "list" || req.action === "list-notes"),
    ),
  );

const FIXED_USER = {
  MCP_PDP_IDENTITY: "fixed",
  MCP_PDP_IDENTITY_FIXED_VALUE: "alice",
  MCP_PDP_IDENTITY_ROLES: "user",
  MCP_PDP_AUDIT: "off",
};

describe("authorize() reads the environment for options not given in code", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("takes the caller from MCP_PDP_IDENTITY=fixed and its value, roles and tenant", async () => {
    const pdp = userMayList();
    const client = await connected({
      pdp,
      env: { ...FIXED_USER, MCP_PDP_IDENTITY_TENANT: "acme" },
    });
    const result = await client.callTool({ name: "list_notes" });
    expect(result.isError).toBeFalsy();
    expect(pdp.requests.at(-1)?.subject).toMatchObject({
      id: "alice",
      roles: ["user"],
      tenant: "acme",
      authenticated: true,
    });
  });

  it("reads process.env when no env is given", async () => {
    for (const [name, value] of Object.entries(FIXED_USER)) vi.stubEnv(name, value);
    const pdp = userMayList();
    const client = await connected({ pdp });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(["list_notes"]);
    expect(pdp.requests.at(-1)?.subject.id).toBe("alice");
  });

  it("names resources after MCP_SERVER_NAME and applies the other mapping variables", async () => {
    const pdp = recordingPdp();
    const client = await connected({
      pdp,
      env: { ...FIXED_USER, MCP_SERVER_NAME: "notes", MCP_PDP_TOOL_NAMES: "raw" },
    });
    await client.callTool({ name: "list_notes" });
    expect(pdp.requests.at(-1)).toMatchObject({
      resource: { type: "notes" },
      action: "list_notes",
    });
  });

  it("answers a deny the way MCP_PDP_DENY_MODE says", async () => {
    const client = await connected({
      pdp: userMayList(),
      env: { ...FIXED_USER, MCP_PDP_DENY_MODE: "tool-result" },
    });
    const result = await client.callTool({ name: "delete_note" });
    expect(result.isError).toBe(true);
  });

  it("writes audit events to the file MCP_PDP_AUDIT names", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mcp-pdp-audit-"));
    try {
      const file = join(dir, "audit.jsonl");
      const server = notesServer();
      const authorizer = authorize(server, {
        pdp: userMayList(),
        env: { ...FIXED_USER, MCP_PDP_AUDIT: file },
      });
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      await server.connect(serverSide);
      const client = new Client({ name: "test-client", version: "1.0.0" });
      await client.connect(clientSide);
      await client.callTool({ name: "list_notes" });
      await authorizer.close();
      const events = readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { action?: string; allow?: boolean });
      expect(events).toContainEqual(expect.objectContaining({ action: "list-notes", allow: true }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lets options given in code win over the environment, field by field for the mapping", async () => {
    const pdp = recordingPdp();
    const client = await connected({
      pdp,
      identity: fixedIdentity("bob", { roles: ["admin"] }),
      mapping: { serverName: "from_code" },
      denyMode: "error",
      env: {
        ...FIXED_USER,
        MCP_SERVER_NAME: "from_env",
        MCP_PDP_TOOL_NAMES: "raw",
        MCP_PDP_DENY_MODE: "tool-result",
      },
    });
    await client.callTool({ name: "list_notes" });
    expect(pdp.requests.at(-1)).toMatchObject({
      subject: { id: "bob", roles: ["admin"] },
      resource: { type: "from_code" },
      action: "list_notes",
    });
  });

  it("keeps the code's deny mode over MCP_PDP_DENY_MODE", async () => {
    const client = await connected({
      pdp: userMayList(),
      denyMode: "error",
      env: { ...FIXED_USER, MCP_PDP_DENY_MODE: "tool-result" },
    });
    const denied = await client.callTool({ name: "delete_note" }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(McpError);
    expect((denied as McpError).code).toBe(UNAUTHORIZED_CODE);
  });

  it("takes each HTTP caller from the headers MCP_PDP_IDENTITY=header names", async () => {
    const env = {
      MCP_PDP_IDENTITY: "header",
      MCP_PDP_IDENTITY_HEADER: "x-user",
      MCP_PDP_IDENTITY_ROLES_HEADER: "x-roles",
      MCP_PDP_AUDIT: "off",
    };
    const pdp = userMayList();
    // Stateless Streamable HTTP: one server and transport per request, each authorized the same way.
    const http = createServer((req, res) => {
      const server = notesServer();
      authorize(server, { pdp, env });
      const transport = new StreamableHTTPServerTransport({});
      res.on("close", () => void server.close());
      void server.connect(transport).then(() => transport.handleRequest(req, res));
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const url = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
    const clientAs = async (headers: Record<string, string>) => {
      const client = new Client({ name: "test-client", version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
      return client;
    };
    try {
      const alice = await clientAs({ "x-user": "alice", "x-roles": "user" });
      const { tools } = await alice.listTools();
      expect(tools.map((t) => t.name)).toEqual(["list_notes"]);
      expect(pdp.requests.at(-1)?.subject).toMatchObject({ id: "alice", roles: ["user"] });
      await alice.close();
      const anonymous = await clientAs({});
      const denied = await anonymous.callTool({ name: "list_notes" }).catch((e: unknown) => e);
      expect((denied as McpError).code).toBe(UNAUTHORIZED_CODE);
      await anonymous.close();
    } finally {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it("fails at start-up naming the variable whose value is bad", () => {
    expect(() =>
      authorize(notesServer(), {
        pdp: userMayList(),
        env: { MCP_PDP_IDENTITY: "telepathy" },
      }),
    ).toThrow(ConfigError);
    expect(() =>
      authorize(notesServer(), { pdp: userMayList(), env: { MCP_PDP_DENY_MODE: "shrug" } }),
    ).toThrow(/MCP_PDP_DENY_MODE/);
  });
});
