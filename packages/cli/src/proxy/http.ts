import { randomUUID } from "node:crypto";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Writable } from "node:stream";
import { type Authorizer, describeError, integerOption } from "@mcp-pdp/core";
import type { DenyMode, NodeMiddleware } from "@mcp-pdp/mcp";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { classifyInboundRequest } from "@modelcontextprotocol/server";
import {
  type Bridge,
  DEFAULT_MAX_LISTENS,
  type ServerCommand,
  bridgeOptions,
  openBridge,
} from "./bridge.js";
import { ModernFront, answer } from "./modern.js";
import { CLAIM_NOT_A_STRING, INVALID_PARAMS_CODE, malformedClaim } from "./prefetch.js";

/** Options of {@link runHttpProxy}. */
export interface HttpProxyOptions {
  readonly server: ServerCommand;
  readonly authorizer: Authorizer;
  readonly denyMode?: DenyMode;
  readonly exposeReasons?: boolean;
  /** Read each server's lists before its client's first request is decided. @defaultValue true */
  readonly prefetch?: boolean;
  /** The port; 0 picks a free one. */
  readonly port: number;
  /** @defaultValue `"127.0.0.1"` */
  readonly host?: string;
  /** The endpoint path. @defaultValue `"/mcp"` */
  readonly path?: string;
  /** Sessions (each one a server process) open at once; more are refused with 503. @defaultValue 32 */
  readonly maxSessions?: number;
  /**
   * How long a session may go without a request (and with no request or stream open) before its
   * server process is stopped and its slot freed, in milliseconds; `0` keeps idle sessions until
   * the client deletes them. Clients that vanish without a DELETE would otherwise hold their
   * server process, and a slot of `maxSessions`, for good. The process shared by 2026-07-28
   * requests is stopped the same way once no request is in flight and no listen is open, and
   * started again (its lists read again) by the next request. @defaultValue 1,800,000 (30 minutes)
   */
  readonly sessionIdleMs?: number;
  /**
   * 2026-07-28 `subscriptions/listen` streams open at once; one more is answered 503 (`-32000`)
   * before it is decided or reaches the server. @defaultValue 256
   */
  readonly maxListens?: number;
  /** Largest request body accepted, in bytes. @defaultValue 4 MiB */
  readonly maxBodyBytes?: number;
  /**
   * Runs before any request is handled, such as `identityChallenge()`; it answers a request itself
   * by not calling `next`. @defaultValue none
   */
  readonly challenge?: NodeMiddleware;
  /** The servers' stderr and the proxy's own messages. */
  readonly stderr: Writable;
  /** Aborting closes every session and stops listening. */
  readonly signal?: AbortSignal;
  /** Called when a session's server process started. */
  readonly onSession?: (pid: number | undefined) => void;
  /** Called once listening, with the endpoint's URL. */
  readonly onListening?: (url: URL) => void;
}

interface Session {
  readonly transport: StreamableHTTPServerTransport;
  readonly bridge: Bridge;
  /** Requests and streams of this session still open. */
  open: number;
  /** Stops the session once it has been idle for `sessionIdleMs`. */
  idle: NodeJS.Timeout | undefined;
}

function jsonError(res: ServerResponse, status: number, code: number, message: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));
}

class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyError(413, `request body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch {
    throw new BodyError(400, "Parse error: the body is not JSON");
  }
}

/** `{ [key]: value }`, or nothing when the header is absent (optional fields take no `undefined`). */
function optionalHeader<K extends string>(
  key: K,
  value: string | undefined,
): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

function isLoopback(host: string): boolean {
  return host === "127.0.0.1" || host === "localhost" || host === "::1";
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Why a request is refused before anything else happens (and before a server process is started
 * for it), as the status and message to answer; `undefined` when it may go on. The checks the SDK's
 * transport makes later, made first: a refused request must not cost a process.
 */
function refusal(
  req: IncomingMessage,
  allowedHosts: readonly string[] | undefined,
): { status: number; message: string } | undefined {
  if (allowedHosts) {
    // A browser page must not reach a proxy on this machine through a rebound DNS name, nor
    // through a cross-site request to the loopback address.
    const host = header(req, "host");
    if (host === undefined || !allowedHosts.includes(host)) {
      return { status: 403, message: `Invalid Host header: ${String(host)}` };
    }
    const origin = header(req, "origin");
    if (origin !== undefined && !allowedHosts.some((h) => origin === `http://${h}`)) {
      return { status: 403, message: `Invalid Origin header: ${origin}` };
    }
  }
  if (req.method !== "POST") return undefined;
  const accept = header(req, "accept") ?? "";
  if (!accept.includes("application/json") || !accept.includes("text/event-stream")) {
    return {
      status: 406,
      message: "Not Acceptable: Client must accept both application/json and text/event-stream",
    };
  }
  const type = header(req, "content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json") {
    return {
      status: 415,
      message: "Unsupported Media Type: Content-Type must be application/json",
    };
  }
  return undefined;
}

/**
 * Serves Streamable HTTP in front of a stdio server: each MCP session gets its own server process,
 * joined through the guard like the stdio proxy. The caller can differ per request (header or JWT
 * identity). Resolves with 0 once stopped through `signal`.
 */
export async function runHttpProxy(options: HttpProxyOptions): Promise<number> {
  const path = options.path ?? "/mcp";
  const host = options.host ?? "127.0.0.1";
  const maxSessions = options.maxSessions ?? 32;
  const maxBody = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const idleMs = integerOption(
    "runHttpProxy",
    "sessionIdleMs",
    options.sessionIdleMs,
    30 * 60 * 1000,
    0,
    2 ** 31 - 1, // the longest timer Node keeps (longer ones fire at once)
  );
  const sessions = new Map<string, Session>();
  let starting = 0;
  let allowedHosts: string[] | undefined;

  const bridgeFor = (client: Transport): Promise<Bridge> =>
    openBridge(bridgeOptions(client, options));
  // 2026-07-28 requests carry no session: one shared server process, holding one session slot.
  const modern = new ModernFront({
    open: async (client) => {
      const bridge = await bridgeFor(client);
      options.onSession?.(bridge.pid);
      return bridge;
    },
    mayStart: () => sessions.size + starting < maxSessions,
    idleMs,
    maxListens: integerOption(
      "runHttpProxy",
      "maxListens",
      options.maxListens,
      DEFAULT_MAX_LISTENS,
      1,
      100_000,
    ),
    report: (text) => {
      options.stderr.write(`mcp-pdp proxy: ${text}\n`);
    },
  });
  const slotsTaken = (): number => sessions.size + starting + (modern.holdsSlot ? 1 : 0);

  const openSession = async (): Promise<StreamableHTTPServerTransport> => {
    // The session registers once the transport assigned its id, by then the bridge exists.
    const opened: { bridge?: Bridge } = {};
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        if (!opened.bridge) return;
        // Busy with its initialize request until that response closes (see handle()).
        const session: Session = { transport, bridge: opened.bridge, open: 1, idle: undefined };
        sessions.set(id, session);
      },
      // A browser page must not reach a proxy on this machine through a rebound DNS name.
      ...(allowedHosts ? { enableDnsRebindingProtection: true, allowedHosts } : {}),
    });
    const bridge = await bridgeFor(transport);
    opened.bridge = bridge;
    options.onSession?.(bridge.pid);
    void bridge.done.then(() => {
      const id = transport.sessionId;
      if (id === undefined) return;
      clearTimeout(sessions.get(id)?.idle);
      sessions.delete(id);
    });
    return transport;
  };

  /** (Re)starts the idle countdown of a session with nothing open. */
  const watchIdle = (id: string, session: Session): void => {
    clearTimeout(session.idle);
    session.idle = undefined;
    // A session already gone (deleted, stopped) needs no countdown.
    if (idleMs === 0 || session.open > 0 || sessions.get(id) !== session) return;
    session.idle = setTimeout(() => {
      if (sessions.get(id) !== session || session.open > 0) return;
      sessions.delete(id);
      options.stderr.write(
        `mcp-pdp proxy: session ${id} idle for ${String(Math.round(idleMs / 1000))} s, its server stopped\n`,
      );
      void session.bridge.close();
    }, idleMs);
    session.idle.unref();
  };

  /** One of the session's responses closed: the countdown starts when none is left open. */
  const responseClosed = (id: string, session: Session): void => {
    session.open--;
    watchIdle(id, session);
  };

  /** Hands a request to its session, which counts as busy until the response closes. */
  const serve = async (
    id: string,
    session: Session,
    req: IncomingMessage,
    res: ServerResponse,
    body?: unknown,
  ): Promise<void> => {
    session.open++;
    clearTimeout(session.idle);
    session.idle = undefined;
    res.once("close", () => {
      responseClosed(id, session);
    });
    await session.transport.handleRequest(req, res, body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== path) {
      res.writeHead(404).end();
      return;
    }
    const refused = refusal(req, allowedHosts);
    if (refused) {
      jsonError(res, refused.status, -32000, refused.message);
      return;
    }
    const challenge = options.challenge;
    if (challenge) {
      // A request the challenge answered (401) is finished: it never reaches a session.
      const pass = await new Promise<boolean>((resolve, reject) => {
        res.once("close", () => {
          resolve(false);
        });
        challenge(req, res, (error) => {
          if (error === undefined) resolve(true);
          else reject(error instanceof Error ? error : new Error(describeError(error)));
        });
      });
      if (!pass) return;
    }
    const sessionId = header(req, "mcp-session-id");
    if (req.method === "POST") {
      let body: unknown;
      try {
        body = await readJson(req, maxBody);
      } catch (error) {
        if (error instanceof BodyError) {
          jsonError(res, error.status, -32700, error.message);
          return;
        }
        throw error;
      }
      // Refused before it is classified, reaches a session or starts a process: the guard would
      // count it a 2026-07-28 request and the proxy's era tracking would not (see ClaimCheck).
      const messages: unknown[] = Array.isArray(body) ? body : [body];
      if (messages.some(malformedClaim)) {
        answer(res, 400, Array.isArray(body) ? null : (body as { id?: unknown } | null)?.id, {
          code: INVALID_PARAMS_CODE,
          message: CLAIM_NOT_A_STRING,
        });
        return;
      }
      if (sessionId === undefined) {
        // A 2026-07-28 request (its `_meta` envelope names the revision) has no session to join;
        // the classifier also refuses a header that contradicts the body.
        const route = classifyInboundRequest({
          httpMethod: "POST",
          body,
          ...optionalHeader("protocolVersionHeader", header(req, "mcp-protocol-version")),
          ...optionalHeader("mcpMethodHeader", header(req, "mcp-method")),
          ...optionalHeader("mcpNameHeader", header(req, "mcp-name")),
        });
        if (route.kind === "reject") {
          answer(res, route.httpStatus, (body as { id?: unknown } | null)?.id, route);
          return;
        }
        if (route.kind === "modern") {
          await modern.serve(route, req, res);
          return;
        }
        if (!isInitializeRequest(body)) {
          jsonError(res, 400, -32000, "Bad Request: no session; start with an initialize request");
          return;
        }
        if (slotsTaken() >= maxSessions) {
          jsonError(res, 503, -32000, `too many sessions (at most ${maxSessions})`);
          return;
        }
        starting++;
        let transport: StreamableHTTPServerTransport;
        try {
          transport = await openSession();
        } catch (error) {
          options.stderr.write(
            `mcp-pdp proxy: ${error instanceof Error ? error.message : String(error)}\n`,
          );
          jsonError(res, 502, -32603, "the MCP server could not be started");
          return;
        } finally {
          starting--;
        }
        // The session's first request: it counts as busy until this response closes.
        res.once("close", () => {
          const id = transport.sessionId;
          const session = id === undefined ? undefined : sessions.get(id);
          if (id !== undefined && session?.transport === transport) responseClosed(id, session);
        });
        await transport.handleRequest(req, res, body);
        // An initialize the transport refused leaves no session: its server process must go.
        const id = transport.sessionId;
        if (id === undefined || !sessions.has(id)) await transport.close();
        return;
      }
      const session = sessions.get(sessionId);
      if (!session) {
        jsonError(res, 404, -32001, "Session not found");
        return;
      }
      await serve(sessionId, session, req, res, body);
      return;
    }
    if (req.method === "GET" || req.method === "DELETE") {
      const session = sessionId !== undefined ? sessions.get(sessionId) : undefined;
      if (!session) {
        jsonError(res, sessionId === undefined ? 400 : 404, -32001, "Session not found");
        return;
      }
      await serve(sessionId as string, session, req, res);
      return;
    }
    res.writeHead(405, { allow: "GET, POST, DELETE" }).end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.stderr.write(
        `mcp-pdp proxy: request failed: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      jsonError(res, 500, -32603, "Internal error");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  if (isLoopback(host)) {
    allowedHosts = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
  }
  const shown = host.includes(":") ? `[${host}]` : host;
  options.onListening?.(new URL(`http://${shown}:${port}${path}`));

  await new Promise<void>((resolve) => {
    if (options.signal?.aborted === true) resolve();
    options.signal?.addEventListener(
      "abort",
      () => {
        resolve();
      },
      { once: true },
    );
  });
  for (const session of sessions.values()) clearTimeout(session.idle);
  await Promise.allSettled([
    ...[...sessions.values()].map((s) => s.bridge.close()),
    modern.close(),
  ]);
  server.closeAllConnections();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return 0;
}
