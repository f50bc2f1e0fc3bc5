import type { IncomingMessage, ServerResponse } from "node:http";
import { boundedText } from "@mcp-pdp/core";
import type {
  Transport,
  TransportSendOptions,
} from "@modelcontextprotocol/sdk/shared/transport.js";
import type {
  JSONRPCMessage,
  MessageExtraInfo,
  RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import {
  type InboundModernRoute,
  PerRequestHTTPServerTransport,
  ProtocolErrorCode,
} from "@modelcontextprotocol/server";
import { type Bridge, DEFAULT_MAX_LISTENS, restamped, stampOf } from "./bridge.js";

/**
 * The 2026-07-28-era revisions served without a session. The server's own `server/discover` still
 * decides whether it speaks one: a revision it does not offer fails the proxy's reads, and held
 * requests are refused.
 */
export const MODERN_REVISIONS: readonly string[] = ["2026-07-28"];

/** JSON-RPC error of a request the HTTP front does not relay. */
const NOT_RELAYED = ProtocolErrorCode.MethodNotFound;
const UNSUPPORTED_VERSION = ProtocolErrorCode.UnsupportedProtocolVersion;

/** One HTTP exchange in flight: its transport, and the id its caller gave the request. */
interface Exchange {
  readonly transport: PerRequestHTTPServerTransport;
  readonly id: RequestId;
  /** A `subscriptions/listen`: its response is a stream the subscription's notifications go to. */
  readonly listen: boolean;
}

/**
 * The client side of the one bridge all 2026-07-28 requests share. Each HTTP request is one
 * exchange; its request gets an id of the hub's before it enters the bridge, so callers picking
 * the same ids (every client starts at 0 or 1) never meet: an answer goes back to the exchange
 * that holds its id, and to nobody else. A `subscriptions/listen` is an exchange that stays open:
 * the bridge hands back its notifications stamped with the hub's id of the listen (the id the
 * guard decided it under), and each goes to that listen's stream alone, stamped with its caller's
 * own id.
 */
export class PerRequestHTTPHub implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  #lastId = 0;
  readonly #exchanges = new Map<number, Exchange>();
  #closed = false;

  /** Exchanges in flight. */
  get open(): number {
    return this.#exchanges.size;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const exchanges = [...this.#exchanges.values()];
    this.#exchanges.clear();
    await Promise.allSettled(exchanges.map((e) => e.transport.close()));
    this.onclose?.();
  }

  /**
   * Joins one exchange's transport to the hub. `extra` is the caller's identity as the guard reads
   * it (headers, verified token), taken from this HTTP request alone.
   */
  attach(transport: PerRequestHTTPServerTransport, extra: MessageExtraInfo): void {
    let hubId: number | undefined;
    transport.onmessage = (message) => {
      const m = message as { method?: unknown; id?: unknown };
      // A caller's notification is dropped: `notifications/cancelled` would name an id of the
      // hub's space (another caller's request), and a stateless exchange has nothing else to say
      // to the server. A caller cancels by closing its HTTP request.
      if (this.#closed || typeof m.method !== "string") return;
      if (typeof m.id !== "string" && typeof m.id !== "number") return;
      hubId = ++this.#lastId;
      this.#exchanges.set(hubId, {
        transport,
        id: m.id,
        listen: m.method === "subscriptions/listen",
      });
      this.onmessage?.({ ...message, id: hubId }, extra);
    };
    transport.onclose = () => {
      if (hubId === undefined || !this.#exchanges.delete(hubId)) return;
      // The caller went away before its answer: the server may stop working on it (a listen's
      // caller leaves this way: its subscription ends on the server).
      this.onmessage?.(
        {
          jsonrpc: "2.0",
          method: "notifications/cancelled",
          params: { requestId: hubId, reason: "the HTTP request was closed" },
        },
        extra,
      );
    };
    transport.onerror = (error) => {
      this.onerror?.(error);
    };
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const m = message as { method?: unknown; id?: unknown };
    if (typeof m.method !== "string") {
      const exchange = typeof m.id === "number" ? this.#exchanges.get(m.id) : undefined;
      // An answer to an exchange already gone (its caller closed the request) has no reader.
      if (exchange === undefined || typeof m.id !== "number") return Promise.resolve();
      this.#exchanges.delete(m.id);
      const result = (message as { result?: unknown }).result;
      if (exchange.listen && stampOf(result) !== undefined) {
        // The end of a subscription names it as its notifications did: by the caller's id.
        const ended = restamped(result as Record<string, unknown>, exchange.id);
        return exchange.transport.send({ ...message, id: exchange.id, result: ended });
      }
      return exchange.transport.send({ ...message, id: exchange.id });
    }
    if (m.id !== undefined) {
      // A request of the server's (elicitation, sampling, roots): protocol revision 2026-07-28 has
      // none. A server of that revision asks its client for input by answering the client's
      // request with an `input_required` result, and an HTTP exchange of it has no way to carry a
      // request to the caller. So the server is told at once that the method does not exist here,
      // rather than left waiting.
      const id = m.id as RequestId;
      const method = boundedText(m.method, 64);
      queueMicrotask(() => {
        this.onmessage?.({
          jsonrpc: "2.0",
          id,
          error: {
            code: NOT_RELAYED,
            message: `Method not found: ${method}: protocol revision 2026-07-28 has no requests from the server to the client (a server asks for input with an input_required result), so mcp-pdp proxy relays none to its HTTP callers`,
          },
        });
      });
      return Promise.resolve();
    }
    const params = (message as { params?: unknown }).params;
    const stamp = stampOf(params);
    if (stamp !== undefined) {
      // A notification of a subscription goes to the stream of the listen it is stamped with,
      // under its caller's id; one stamped with an id that is no open listen goes nowhere.
      const listen = typeof stamp === "number" ? this.#exchanges.get(stamp) : undefined;
      if (listen?.listen !== true) return Promise.resolve();
      return listen.transport.send(
        { ...message, params: restamped(params as Record<string, unknown>, listen.id) },
        { relatedRequestId: listen.id },
      );
    }
    const related = options?.relatedRequestId;
    const exchange = typeof related === "number" ? this.#exchanges.get(related) : undefined;
    // A notification of no exchange and no subscription (a log line, an unsolicited change) has no
    // caller to go to.
    if (exchange === undefined) return Promise.resolve();
    return exchange.transport.send(message, { relatedRequestId: exchange.id });
  }
}

/** Options of {@link ModernFront}. */
export interface ModernFrontOptions {
  /** Starts the shared bridge with `client` as its client side. */
  readonly open: (client: Transport) => Promise<Bridge>;
  /** Whether a server process may start now (the proxy's session limit). */
  readonly mayStart: () => boolean;
  /**
   * `subscriptions/listen` streams open at once; one more is answered 503 before it is decided or
   * reaches the server. @defaultValue 256
   */
  readonly maxListens?: number;
  /**
   * Milliseconds the shared server process may sit with no request in flight and no listen open
   * before it is stopped (the next request starts it again); `0` keeps it. @defaultValue 0
   */
  readonly idleMs?: number;
  /** Where the front's own problems go. */
  readonly report: (text: string) => void;
}

/** A JSON-RPC error the proxy answers itself. */
export interface JsonRpcError {
  readonly code: number;
  readonly message: string;
  readonly data?: unknown;
}

/** Answers `error` to the request `id` (`null` when the body named none) with `status`. */
export function answer(
  res: ServerResponse,
  status: number,
  id: unknown,
  error: JsonRpcError,
): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      jsonrpc: "2.0",
      id: typeof id === "string" || typeof id === "number" ? id : null,
      error: {
        code: error.code,
        message: error.message,
        ...(error.data !== undefined ? { data: error.data } : {}),
      },
    }),
  );
}

/** Writes a web `Response` (JSON, or an SSE stream) to a Node response. */
async function write(response: Response, res: ServerResponse): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  res.writeHead(response.status, headers);
  const body = response.body;
  if (body === null) {
    res.end();
    return;
  }
  const reader = (body as ReadableStream<Uint8Array>).getReader();
  res.once("close", () => {
    // The caller left mid-stream: cancelling ends the exchange, and the server hears of it.
    reader.cancel().catch(() => undefined);
  });
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    res.write(value);
  }
  res.end();
}

/**
 * Serves 2026-07-28 requests, which carry no session: each is self-contained (its `_meta`
 * envelope names the revision, the client and its capabilities), so all of them go through one
 * long-lived bridge, one server process. The bridge's guard and registration gate hold as on
 * stdio: nothing is decided before the server's lists are read, and each request is decided with
 * the identity of its own HTTP request.
 */
export class ModernFront {
  readonly #options: ModernFrontOptions;
  readonly #maxListens: number;
  readonly #idleMs: number;
  #running: { hub: PerRequestHTTPHub; bridge: Bridge } | undefined;
  #starting: Promise<{ hub: PerRequestHTTPHub; bridge: Bridge }> | undefined;
  /** Requests being served, open listen streams included: while any is, the server is not idle. */
  #serving = 0;
  /** Listen streams open (or being opened). */
  #listening = 0;
  /** Stops the shared server once it has been idle for `idleMs`. */
  #idle: NodeJS.Timeout | undefined;

  constructor(options: ModernFrontOptions) {
    this.#options = options;
    this.#maxListens = options.maxListens ?? DEFAULT_MAX_LISTENS;
    this.#idleMs = options.idleMs ?? 0;
  }

  /** (Re)starts the idle countdown once nothing is served. */
  #watchIdle(): void {
    clearTimeout(this.#idle);
    this.#idle = undefined;
    if (this.#idleMs === 0 || this.#serving > 0 || this.#running === undefined) return;
    this.#idle = setTimeout(() => {
      const running = this.#running;
      if (this.#serving > 0 || running === undefined) return;
      // The next request starts a new process, whose lists are read again before it decides.
      this.#running = undefined;
      this.#options.report(
        `the shared 2026-07-28 server idle for ${String(Math.round(this.#idleMs / 1000))} s, stopped`,
      );
      void running.bridge.close();
    }, this.#idleMs);
    this.#idle.unref();
  }

  /** Whether the shared server process runs (or is starting): it holds a session slot. */
  get holdsSlot(): boolean {
    return this.#running !== undefined || this.#starting !== undefined;
  }

  async #hub(): Promise<{ hub: PerRequestHTTPHub; bridge: Bridge } | undefined> {
    if (this.#running) return this.#running;
    if (this.#starting) return this.#starting;
    if (!this.#options.mayStart()) return undefined;
    const hub = new PerRequestHTTPHub();
    this.#starting = this.#options.open(hub).then((bridge) => {
      const running = { hub, bridge };
      this.#running = running;
      void bridge.done.then(() => {
        // Its server exited: the next request starts a new one.
        if (this.#running === running) this.#running = undefined;
      });
      return running;
    });
    try {
      return await this.#starting;
    } finally {
      this.#starting = undefined;
    }
  }

  /** Serves one request or notification the classifier routed to the 2026-07-28 era. */
  async serve(
    route: InboundModernRoute,
    req: IncomingMessage & { auth?: MessageExtraInfo["authInfo"] },
    res: ServerResponse,
  ): Promise<void> {
    this.#serving++;
    clearTimeout(this.#idle);
    this.#idle = undefined;
    try {
      await this.#serve(route, req, res);
    } finally {
      this.#serving--;
      this.#watchIdle();
    }
  }

  async #serve(
    route: InboundModernRoute,
    req: IncomingMessage & { auth?: MessageExtraInfo["authInfo"] },
    res: ServerResponse,
  ): Promise<void> {
    const message = route.message;
    const id = (message as { id?: unknown }).id;
    const revision = route.classification.revision;
    if (revision === undefined || !MODERN_REVISIONS.includes(revision)) {
      // Told apart here, not by the server: the shared bridge reads the server's lists in the first
      // revision claimed, so one caller's unknown revision must not reach it for everyone.
      answer(res, 400, id, {
        code: UNSUPPORTED_VERSION,
        message: `Unsupported protocol version: ${revision ?? "none named"}`,
        data: {
          supported: [...MODERN_REVISIONS],
          ...(revision !== undefined ? { requested: revision } : {}),
        },
      });
      return;
    }
    if (route.messageKind === "notification") {
      // Accepted and dropped: see PerRequestHTTPHub.attach.
      res.writeHead(202).end();
      return;
    }
    if (route.message.method !== "subscriptions/listen") {
      await this.#relay(route, req, res);
      return;
    }
    // Counted before anything is decided or started, so concurrent listens cannot pass it together.
    if (this.#listening >= this.#maxListens) {
      answer(res, 503, id, {
        code: -32000,
        message: `mcp-pdp proxy: too many open subscriptions/listen streams (at most ${String(this.#maxListens)}); try again later`,
      });
      return;
    }
    this.#listening++;
    try {
      await this.#relay(route, req, res);
    } finally {
      this.#listening--;
    }
  }

  /**
   * Hands one request to the shared bridge and writes its answer: a JSON body, or an SSE stream
   * (progress first, or a listen's notifications) that lasts until the answer or the caller leaves.
   */
  async #relay(
    route: InboundModernRoute,
    req: IncomingMessage & { auth?: MessageExtraInfo["authInfo"] },
    res: ServerResponse,
  ): Promise<void> {
    const message = route.message;
    const id = (message as { id?: unknown }).id;
    let running: { hub: PerRequestHTTPHub; bridge: Bridge } | undefined;
    try {
      running = await this.#hub();
    } catch (error) {
      this.#options.report(error instanceof Error ? error.message : String(error));
      answer(res, 502, id, { code: -32603, message: "the MCP server could not be started" });
      return;
    }
    if (running === undefined) {
      answer(res, 503, id, { code: -32000, message: "too many sessions" });
      return;
    }
    const transport = new PerRequestHTTPServerTransport({ classification: route.classification });
    const extra: MessageExtraInfo = {
      requestInfo: { headers: req.headers },
      ...(req.auth !== undefined ? { authInfo: req.auth } : {}),
    };
    running.hub.attach(transport, extra);
    await transport.start();
    res.once("close", () => {
      void transport.close();
    });
    let response: Response;
    try {
      response = await transport.handleMessage(message);
    } catch {
      // Closed before an answer: the caller left, or the shared server went away.
      answer(res, 502, id, { code: -32603, message: "the MCP server closed before answering" });
      return;
    }
    await write(response, res);
  }

  /** Stops the shared server process, if one runs. */
  async close(): Promise<void> {
    clearTimeout(this.#idle);
    this.#idle = undefined;
    const running = this.#running ?? (await this.#starting?.catch(() => undefined));
    await running?.bridge.close();
  }
}
