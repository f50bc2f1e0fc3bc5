/**
 * Serves an MCP server factory over Streamable HTTP: one transport (and one server) per session,
 * each guarded by the same authorization options.
 */
import { randomUUID } from "node:crypto";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { auditFromEnv, identityFromEnv } from "@mcp-pdp/core";
import {
  authorize,
  type GuardOptions,
  identityChallenge,
  type IdentityChallengeOptions,
} from "@mcp-pdp/mcp";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import express, { type RequestHandler } from "express";

export interface HttpServerOptions {
  readonly createServer: () => McpServer;
  readonly guard: GuardOptions;
  /** @defaultValue 0 (a free port) */
  readonly port?: number;
  /** @defaultValue "127.0.0.1" */
  readonly host?: string;
  /** Middleware run before MCP requests (for example the SDK's `requireBearerAuth`). */
  readonly middleware?: readonly RequestHandler[];
  /**
   * After that middleware, a token the guard's identity resolver refuses (bad signature, expired,
   * malformed) is answered `401` with a `WWW-Authenticate` challenge, so the client learns to
   * fetch a new one instead of seeing policy denials; `false` leaves such a caller to the policy
   * as unauthenticated. Refusals go to the guard's audit sink.
   * @defaultValue `{}` (on; a request without a token still goes on, unauthenticated)
   */
  readonly challenge?: IdentityChallengeOptions | false;
}

export interface RunningHttpServer {
  readonly url: URL;
  close(): Promise<void>;
}

export async function serveHttp(options: HttpServerOptions): Promise<RunningHttpServer> {
  // One identity resolver and one audit sink, read from the environment once when the guard names
  // none, for every session and the challenge middleware: a token is then verified once per
  // request, and remembered across a session's requests (jwtIdentity's verified-token memo).
  const identity = options.guard.identity ?? identityFromEnv();
  const audit = options.guard.audit ?? auditFromEnv();
  const guard: GuardOptions = { ...options.guard, identity, audit };
  const app = express();
  app.use(express.json({ limit: "4mb" }));
  const sessions = new Map<
    string,
    { transport: StreamableHTTPServerTransport; server: McpServer }
  >();

  const handle: RequestHandler = (req, res) => {
    const id = req.header("mcp-session-id");
    const existing = id === undefined ? undefined : sessions.get(id);
    if (existing) {
      void existing.transport.handleRequest(req, res, req.body);
      return;
    }
    if (req.method !== "POST" || id !== undefined || !isInitializeRequest(req.body)) {
      res
        .status(400)
        .json({ jsonrpc: "2.0", error: { code: -32000, message: "No valid session" }, id: null });
      return;
    }
    const server = options.createServer();
    authorize(server, guard);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => {
        sessions.set(sid, { transport, server });
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
  const challenge =
    options.challenge === false
      ? []
      : [
          // The resolver and sink authorize() uses.
          identityChallenge(identity, {
            ...(audit !== false ? { audit } : {}),
            ...options.challenge,
          }),
        ];
  app.all("/mcp", ...(options.middleware ?? []), ...challenge, handle);

  const http: HttpServer = await new Promise((resolve) => {
    const s = app.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      resolve(s);
    });
  });
  const { port } = http.address() as AddressInfo;
  return {
    url: new URL(`http://${options.host ?? "127.0.0.1"}:${port}/mcp`),
    async close() {
      await Promise.all([...sessions.values()].map(({ server }) => server.close()));
      sessions.clear();
      http.closeAllConnections();
      await new Promise<void>((resolve) =>
        http.close(() => {
          resolve();
        }),
      );
    },
  };
}
