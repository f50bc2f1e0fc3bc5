import { type Authorizer, LIST_METHODS, type ListMethod } from "@mcp-pdp/core";
import { TransportDecorator } from "@mcp-pdp/mcp";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type {
  JSONRPCMessage,
  MessageExtraInfo,
  RequestId,
} from "@modelcontextprotocol/sdk/types.js";

/** JSON-RPC error of a request refused because the server's registrations are not known. */
export const NOT_READY_CODE = -32603;

/**
 * What held requests are told when the server's lists could not be read. The detail (the server's
 * own error text, a timeout) goes to the proxy's stderr only: it is the server's, not the client's.
 */
export const LISTS_UNREADABLE =
  "mcp-pdp proxy: the request cannot be decided: the server's lists could not be read; the next request tries again";

/** JSON-RPC error of a request whose `_meta` names its protocol revision with something not a string. */
export const INVALID_PARAMS_CODE = -32602;

/** What a request with a malformed protocol revision claim is told. */
export const CLAIM_NOT_A_STRING =
  "Invalid params: _meta io.modelcontextprotocol/protocolVersion must be a string";

/** Requests held at most while the server's registrations are read; more are refused. */
const MAX_HELD = 1000;

type GateState = "waiting" | "reading" | "ready" | "failed";

/** The `_meta` key by which a 2026-07-28 request names its protocol revision. */
export const PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion";
/** The `_meta` key by which a 2026-07-28 request names its client. */
export const CLIENT_INFO_META = "io.modelcontextprotocol/clientInfo";
/** The `_meta` key by which a 2026-07-28 request declares the client's capabilities (required). */
export const CLIENT_CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities";

/** The protocol revision a request claims in its `_meta` envelope (2026-07-28 on), if any. */
export function claimedVersion(message: JSONRPCMessage): string | undefined {
  const meta = (message as { params?: { _meta?: Record<string, unknown> } }).params?._meta;
  const version = meta?.[PROTOCOL_VERSION_META];
  return typeof version === "string" ? version : undefined;
}

/**
 * Whether a message's `_meta` holds the protocol revision key with a value that is not a string.
 * The guard counts a request as 2026-07-28 when the key is there at all, the proxy's era tracking
 * when it names a revision: such a request would be one era to one and the other to the other, so
 * the proxy refuses it before either sees it.
 */
export function malformedClaim(message: unknown): boolean {
  const params = (message as { params?: unknown } | null)?.params;
  const meta = (params as { _meta?: unknown } | null | undefined)?._meta;
  return (
    typeof meta === "object" &&
    meta !== null &&
    PROTOCOL_VERSION_META in meta &&
    typeof (meta as Record<string, unknown>)[PROTOCOL_VERSION_META] !== "string"
  );
}

/**
 * The client's side of the proxy, outermost: a request whose `_meta` names its protocol revision
 * with a value that is not a string is answered -32602 and goes no further (a notification of the
 * kind is dropped), so the proxy and the guard never disagree on which era a request is of.
 */
export class ClaimCheck extends TransportDecorator {
  protected override receive(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void {
    const { method, id } = message as { method?: unknown; id?: unknown };
    if (typeof method !== "string" || !malformedClaim(message)) {
      this.deliver(message, extra);
      return;
    }
    if (typeof id !== "string" && typeof id !== "number") return;
    this.inner
      .send(
        { jsonrpc: "2.0", id, error: { code: INVALID_PARAMS_CODE, message: CLAIM_NOT_A_STRING } },
        { relatedRequestId: id },
      )
      .catch((error: unknown) => {
        this.reportError(error);
      });
  }
}

/**
 * Reads the server's registrations for a session; rejects when it cannot (having reported why on
 * the proxy's stderr: the client is told only that they could not be read). `protocolVersion` is the
 * revision the client's requests claim in their `_meta` envelope when the session opened in the
 * 2026-07-28 era (no `initialize`: each request carries it), `undefined` for a session opened with
 * `initialize`.
 */
export type ReadRegistrations = (protocolVersion: string | undefined) => Promise<void>;

/**
 * The client's side of the proxy, in front of the guard: every request except `initialize`,
 * `server/discover` and `ping` is held until the server's registrations (annotations, `_meta`)
 * have been read, so none is ever decided without them. If they cannot be read, the held requests
 * are answered with an error (never decided without the metadata) and the next request tries
 * again. Responses (to the server's own requests) are never held: the server may wait on one
 * before it answers anything.
 *
 * A session opens with `initialize` (the 2025 era: the lists are read once the server answered
 * it) or, from 2026-07-28 on, with any request whose `_meta` names a protocol revision: such a
 * session has no handshake (a client may even send `server/discover` to another process and start
 * here with its first call), so the lists are read at once, in that revision.
 */
export class RegistrationGate extends TransportDecorator {
  readonly #read: ReadRegistrations;
  #state: GateState = "waiting";
  /** How the session opened: `initialize`, or a 2026-07-28 request (no handshake). */
  #era: "legacy" | "modern" | undefined;
  /** The revision the first request of a 2026-07-28 session claimed. */
  #protocolVersion: string | undefined;
  #serverInitialized = false;
  #clientInitialized = false;
  #queue: [JSONRPCMessage, MessageExtraInfo | undefined][] = [];

  /** `read` reads the server's registrations and rejects when it cannot. */
  constructor(inner: Transport, read: ReadRegistrations) {
    super(inner);
    this.#read = read;
  }

  override close(): Promise<void> {
    this.#queue = [];
    return super.close();
  }

  /** The server answered the client's `initialize`: its registrations can be read now. */
  serverInitialized(): void {
    this.#serverInitialized = true;
    this.#maybeRead();
  }

  protected override receive(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void {
    const { method, id } = message as { method?: unknown; id?: unknown };
    if (typeof method !== "string" || this.#state === "ready") {
      this.deliver(message, extra);
      return;
    }
    const version = claimedVersion(message);
    // A session is of the 2026-07-28 era once a request names its revision (server/discover
    // included), as the guard counts a request of that era: by its claim, not by its method.
    if (this.#era === undefined) {
      if (method === "initialize") this.#era = "legacy";
      else if (version !== undefined) this.#era = "modern";
    }
    // The first claim is the one the proxy's own reads make: the server pins its era on it.
    if (this.#era === "modern") this.#protocolVersion ??= version;
    if (method === "initialize" || method === "server/discover" || method === "ping") {
      this.deliver(message, extra);
      return;
    }
    if (method === "notifications/initialized") {
      this.#clientInitialized = true;
      this.deliver(message, extra);
      this.#maybeRead();
      return;
    }
    const request = typeof id === "string" || typeof id === "number" ? id : undefined;
    if (request !== undefined && this.#era === undefined) {
      // Nothing would ever let it through: answered now rather than held for good.
      this.#refuse(request, "Invalid request: the session is not initialized", -32600);
      return;
    }
    if (this.#queue.length >= MAX_HELD) {
      if (request !== undefined) {
        this.#refuse(
          request,
          `mcp-pdp proxy: more than ${MAX_HELD} requests wait for the server's registrations`,
        );
      }
      return;
    }
    this.#queue.push([message, extra]);
    // After a failed read, a new request tries again.
    if (this.#state === "failed") this.#state = "waiting";
    this.#maybeRead();
  }

  #maybeRead(): void {
    if (this.#state !== "waiting") return;
    if (this.#era === "modern") {
      // No handshake to wait for; nothing to read for until a request waits.
      if (this.#queue.length === 0) return;
    } else {
      if (!this.#serverInitialized) return;
      if (!this.#clientInitialized && this.#queue.length === 0) return;
    }
    this.#state = "reading";
    this.#read(this.#era === "modern" ? this.#protocolVersion : undefined).then(
      () => {
        this.#state = "ready";
        this.#flush(false);
      },
      () => {
        // The reader reported why on stderr.
        this.#state = "failed";
        this.#flush(true);
      },
    );
  }

  /** Delivers what was held, in order; after a failed read, its requests are refused instead. */
  #flush(failed: boolean): void {
    const queue = this.#queue;
    this.#queue = [];
    for (const [message, extra] of queue) {
      const { id } = message as { id?: unknown };
      if (failed && (typeof id === "string" || typeof id === "number")) {
        this.#refuse(id, LISTS_UNREADABLE);
      } else {
        this.deliver(message, extra);
      }
    }
  }

  #refuse(id: RequestId, message: string, code = NOT_READY_CODE): void {
    this.inner
      .send({ jsonrpc: "2.0", id, error: { code, message } }, { relatedRequestId: id })
      .catch((error: unknown) => {
        this.reportError(error);
      });
  }
}

/** The list methods to read for each capability a server may advertise. */
const BY_CAPABILITY: Record<string, readonly ListMethod[]> = {
  tools: ["tools/list"],
  prompts: ["prompts/list"],
  resources: ["resources/list", "resources/templates/list"],
};

/**
 * Which lists to read, from the capabilities of the server's `initialize` or `server/discover`
 * result (all of them when unknown).
 */
export function listsFor(capabilities: unknown): ListMethod[] {
  if (typeof capabilities !== "object" || capabilities === null) {
    return Object.values(BY_CAPABILITY).flat();
  }
  return Object.entries(BY_CAPABILITY)
    .filter(([capability]) => Object.hasOwn(capabilities, capability))
    .flatMap(([, methods]) => methods);
}

/** An error answer of the server to one of the proxy's own requests. */
export class ServerError extends Error {
  constructor(
    readonly code: unknown,
    message: string,
  ) {
    super(message);
    this.name = "ServerError";
  }
}

/** JSON-RPC "method not found": the server has no such list, so nothing of that kind to know. */
const METHOD_NOT_FOUND = -32601;

/** Options of {@link prefetchComponents}. */
export interface PrefetchOptions {
  readonly authorizer: Authorizer;
  readonly lists: readonly ListMethod[];
  /**
   * Sends one request to the server and resolves with its result (rejects on an error answer,
   * with a {@link ServerError}).
   */
  readonly request: (method: string, params: Record<string, unknown>) => Promise<unknown>;
  /** Pages read per list at most; a longer list fails the read. @defaultValue 100 */
  readonly maxPages?: number;
}

/**
 * Reads the server's lists and remembers what it declares about each component (annotations,
 * `_meta`, tags), so a call is decided on the server's declarations even when the client calls
 * before it lists. Rejects when a list cannot be read in full: its components would be decided
 * without their declarations. A list the server does not implement (method not found) holds
 * nothing to know.
 */
export async function prefetchComponents(options: PrefetchOptions): Promise<void> {
  const maxPages = options.maxPages ?? 100;
  await Promise.all(
    options.lists.map(async (method) => {
      const { field, component } = LIST_METHODS[method];
      let cursor: string | undefined;
      for (let page = 0; page < maxPages; page++) {
        let result: unknown;
        try {
          result = await options.request(method, cursor !== undefined ? { cursor } : {});
        } catch (error) {
          if (error instanceof ServerError && error.code === METHOD_NOT_FOUND) return;
          throw new Error(`${method}: ${error instanceof Error ? error.message : String(error)}`, {
            cause: error,
          });
        }
        const record = (typeof result === "object" && result !== null ? result : {}) as Record<
          string,
          unknown
        >;
        const items = record[field];
        if (!Array.isArray(items)) throw new Error(`${method}: the result has no ${field} list`);
        options.authorizer.components.remember(component, items);
        cursor = typeof record.nextCursor === "string" ? record.nextCursor : undefined;
        if (cursor === undefined) return;
      }
      throw new Error(`${method}: more than ${maxPages} pages`);
    }),
  );
}
