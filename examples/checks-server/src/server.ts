/**
 * Example: an MCP server over Streamable HTTP whose tools are guarded by callable checks on the
 * scopes of the caller's bearer token. The SDK's `requireBearerAuth` validates the token; the
 * checks decide what each token may list and call.
 *
 *   pnpm --filter @mcp-pdp/example-checks-server start
 *
 * The tokens are fixed demo values printed at start-up; a real server verifies tokens issued by
 * its authorization server instead.
 */
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import {
  AuthorizationError,
  type AuthCheck,
  authInfoIdentity,
  checksPdp,
  requireAuth,
  requireScopes,
  restrictTag,
} from "@mcp-pdp/core";
import { authorize } from "@mcp-pdp/mcp";
import { InvalidTokenError } from "@modelcontextprotocol/sdk/server/auth/errors.js";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import type { OAuthTokenVerifier } from "@modelcontextprotocol/sdk/server/auth/provider.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { type CallToolResult, isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import express, { type RequestHandler } from "express";
import { z } from "zod";

/** Demo tokens and the scopes they grant. */
const TOKENS: Record<string, { clientId: string; scopes: string[] }> = {
  "demo-reader": { clientId: "reader", scopes: ["notes:read"] },
  "demo-writer": { clientId: "writer", scopes: ["notes:read", "notes:write"] },
  "demo-admin": { clientId: "admin", scopes: ["notes:read", "notes:write", "admin"] },
};

const verifier: OAuthTokenVerifier = {
  verifyAccessToken(token) {
    const grant = TOKENS[token];
    if (!grant) return Promise.reject(new InvalidTokenError("unknown token"));
    return Promise.resolve({
      token,
      clientId: grant.clientId,
      scopes: grant.scopes,
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
    });
  },
};

const notes = new Map<string, string>([
  ["1", "Checks are plain functions."],
  ["2", "Tags come from the tool's _meta."],
]);
let nextId = 3;

/** Notes each client may add per process run, enforced by an async check. */
const QUOTA = 5;
const added = new Map<string, number>();

/**
 * An async check, as one that asks a database would be. Throwing AuthorizationError denies with a
 * message the client sees. It only reads: the tool itself counts what was added.
 */
const withinQuota: AuthCheck = async function withinQuota({ subject }) {
  await new Promise((resolve) => setTimeout(resolve, 10));
  if ((added.get(subject.id) ?? 0) >= QUOTA)
    throw new AuthorizationError(`quota of ${QUOTA} notes reached`);
  return true;
};

const pdp = checksPdp({
  name: "notes-checks",
  // Every operation needs a valid token; components tagged "admin" also need the admin scope.
  default: [requireAuth(), restrictTag("admin", { scopes: ["admin"] })],
  tools: {
    read_note: requireScopes("notes:read"),
    add_note: [requireScopes("notes:write"), withinQuota],
  },
  resources: { "notes://index": requireScopes("notes:read") },
});

function text(t: string): CallToolResult {
  return { content: [{ type: "text", text: t }] };
}

function createServer(): McpServer {
  const server = new McpServer({ name: "checks-example", version: "1.0.0" });
  server.registerTool(
    "list_notes",
    { description: "List the ids of all notes", annotations: { readOnlyHint: true } },
    () => text([...notes.keys()].join(", ")),
  );
  server.registerTool(
    "read_note",
    { description: "Read one note", inputSchema: { id: z.string() } },
    ({ id }) => text(notes.get(id) ?? `no note ${id}`),
  );
  server.registerTool(
    "add_note",
    { description: "Add a note", inputSchema: { body: z.string() } },
    ({ body }, extra) => {
      const id = String(nextId++);
      notes.set(id, body);
      const client = extra.authInfo?.clientId ?? "unknown";
      added.set(client, (added.get(client) ?? 0) + 1);
      return text(`added note ${id}`);
    },
  );
  server.registerTool(
    "purge_notes",
    {
      description: "Delete every note",
      annotations: { destructiveHint: true },
      _meta: { tags: ["admin"] },
    },
    () => {
      notes.clear();
      return text("all notes deleted");
    },
  );
  server.registerResource("index", "notes://index", { description: "All notes" }, (uri) => ({
    contents: [
      { uri: uri.href, text: [...notes].map(([id, body]) => `${id}: ${body}`).join("\n") },
    ],
  }));
  return server;
}

const app = express();
app.use(express.json());
const sessions = new Map<string, StreamableHTTPServerTransport>();

const handle: RequestHandler = (req, res) => {
  const sessionId = req.header("mcp-session-id");
  const existing = sessionId === undefined ? undefined : sessions.get(sessionId);
  if (existing) {
    void existing.handleRequest(req, res, req.body);
    return;
  }
  if (req.method !== "POST" || sessionId !== undefined || !isInitializeRequest(req.body)) {
    res.status(400).json({
      jsonrpc: "2.0",
      error: { code: -32000, message: "No valid session" },
      id: null,
    });
    return;
  }
  // One server and one transport per session, all guarded by the same checks.
  const server = createServer();
  authorize(server, { pdp, identity: authInfoIdentity() });
  const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    onsessioninitialized: (id) => {
      sessions.set(id, transport);
    },
  });
  transport.onclose = () => {
    if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
  };
  server
    .connect(transport)
    .then(() => transport.handleRequest(req, res, req.body))
    .catch((error: unknown) => {
      if (!res.headersSent) res.status(500).json({ error: String(error) });
    });
};

app.all("/mcp", requireBearerAuth({ verifier }), handle);

const port = Number(process.env.PORT ?? 3000);
const http = app.listen(port, "127.0.0.1", () => {
  const { port: actual } = http.address() as AddressInfo;
  process.stderr.write(
    [
      `checks example listening on http://127.0.0.1:${actual}/mcp`,
      "send one of these bearer tokens:",
      ...Object.entries(TOKENS).map(([token, g]) => `  ${token}  scopes: ${g.scopes.join(" ")}`),
      "",
    ].join("\n"),
  );
});
