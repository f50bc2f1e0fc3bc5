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

/**
 * Milliseconds between a server's `list_changed` notification and the read it causes: a server
 * registering several tools at once sends one notification each, and they cost one read.
 */
export const RELOAD_DELAY_MS = 10;

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
 * `initialize`. `lists` is `undefined` for the first read (every list the server declares; in the
 * 2026-07-28 era also `server/discover` first, and a subscription to the server's list changes),
 * else the lists the server said changed.
 */
export type ReadRegistrations = (
  protocolVersion: string | undefined,
  lists: readonly ListMethod[] | undefined,
) => Promise<void>;

/** The lists a server's `notifications/.../list_changed` says changed, by its method. */
const LISTS_CHANGED_BY: Readonly<Record<string, readonly ListMethod[]>> = {
  "notifications/tools/list_changed": ["tools/list"],
  "notifications/prompts/list_changed": ["prompts/list"],
  "notifications/resources/list_changed": ["resources/list", "resources/templates/list"],
};

/** The lists a server notification says changed; `undefined` when it is no `list_changed`. */
export function listsChangedBy(method: unknown): readonly ListMethod[] | undefined {
  return typeof method === "string" && Object.hasOwn(LISTS_CHANGED_BY, method)
    ? LISTS_CHANGED_BY[method]
    : undefined;
}

/** A client message held until the lists are read, and how many list changes were known then. */
interface Held {
  readonly message: JSONRPCMessage;
  readonly extra: MessageExtraInfo | undefined;
  readonly changes: number;
}

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
 *
 * When the server later says a list changed ({@link listChanged}), that list is read again, and
 * requests are held again until it is: a component the server added is never decided without
 * what it declares. A request waits for the read that began after the last change it could know
 * of, so a server announcing changes without pause delays a request by two reads at most.
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
  /** Whether a read of every list has succeeded: later reads are of the changed lists only. */
  #loaded = false;
  /** Lists the server said changed since the read that covers them began. */
  readonly #changed = new Set<ListMethod>();
  /** `list_changed` notifications so far. */
  #changes = 0;
  /** The pending start of a read after a change (see {@link RELOAD_DELAY_MS}). */
  #reload: NodeJS.Timeout | undefined;
  #closed = false;
  #queue: Held[] = [];

  /** `read` reads the server's registrations and rejects when it cannot. */
  constructor(inner: Transport, read: ReadRegistrations) {
    super(inner);
    this.#read = read;
  }

  override close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reload);
    this.#queue = [];
    return super.close();
  }

  /** The server answered the client's `initialize`: its registrations can be read now. */
  serverInitialized(): void {
    this.#serverInitialized = true;
    this.#maybeRead();
  }

  /**
   * The server said `lists` changed (a `list_changed` notification): they are read again before
   * any request that comes from now on is decided. With `now: false` the read waits for the next
   * request (used when the proxy can no longer hear of changes, so as not to read in a loop).
   */
  listChanged(lists: readonly ListMethod[], now = true): void {
    if (this.#closed || lists.length === 0) return;
    for (const list of lists) this.#changed.add(list);
    this.#changes++;
    // Before the first read succeeded, it reads every list anyway.
    if (!this.#loaded) return;
    if (this.#state === "ready") this.#state = "waiting";
    if (!now || this.#state !== "waiting" || this.#reload !== undefined) return;
    this.#reload = setTimeout(() => {
      this.#reload = undefined;
      this.#maybeRead();
    }, RELOAD_DELAY_MS);
    this.#reload.unref();
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
    this.#queue.push({ message, extra, changes: this.#changes });
    // After a failed read, a new request tries again.
    if (this.#state === "failed") this.#state = "waiting";
    this.#maybeRead();
  }

  #maybeRead(): void {
    // While a read after a change is due, it starts then: a burst of changes costs one read.
    if (this.#state !== "waiting" || this.#closed || this.#reload !== undefined) return;
    if (!this.#loaded) {
      if (this.#era === "modern") {
        // No handshake to wait for; nothing to read for until a request waits.
        if (this.#queue.length === 0) return;
      } else {
        if (!this.#serverInitialized) return;
        if (!this.#clientInitialized && this.#queue.length === 0) return;
      }
    }
    const lists = this.#loaded ? [...this.#changed] : undefined;
    if (lists?.length === 0) {
      this.#state = "ready";
      this.#release(Infinity);
      return;
    }
    this.#changed.clear();
    const covers = this.#changes;
    this.#state = "reading";
    this.#read(this.#era === "modern" ? this.#protocolVersion : undefined, lists).then(
      () => {
        if (this.#closed) return;
        this.#loaded = true;
        if (this.#changed.size === 0) {
          this.#state = "ready";
          this.#release(Infinity);
          return;
        }
        // Changed again while it read: what came after that change waits for the next read.
        this.#release(covers);
        this.#state = "waiting";
        this.#maybeRead();
      },
      () => {
        if (this.#closed) return;
        // The lists it did not read are still to be read; the next request tries again.
        for (const list of lists ?? []) this.#changed.add(list);
        this.#state = "failed";
        this.#refuseHeld();
      },
    );
  }

  /** Delivers, in order, what was held and knew of no change after the `covered`-th. */
  #release(covered: number): void {
    let count = 0;
    while (count < this.#queue.length && (this.#queue[count] as Held).changes <= covered) count++;
    const released = this.#queue.splice(0, count);
    for (const { message, extra } of released) this.deliver(message, extra);
  }

  /**
   * After a failed read, the held requests are refused (their notifications delivered): the
   * client learns that the lists could not be read, the detail goes to the proxy's stderr.
   */
  #refuseHeld(): void {
    const queue = this.#queue;
    this.#queue = [];
    for (const { message, extra } of queue) {
      const { id } = message as { id?: unknown };
      if (typeof id === "string" || typeof id === "number") this.#refuse(id, LISTS_UNREADABLE);
      else this.deliver(message, extra);
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

/** The `subscriptions/listen` filter field that asks for each capability's `list_changed`. */
const CHANGE_FILTERS: Record<string, string> = {
  tools: "toolsListChanged",
  prompts: "promptsListChanged",
  resources: "resourcesListChanged",
};

/**
 * What a 2026-07-28 server says it announces changes of (the capabilities of its
 * `server/discover` result with `listChanged: true`): the `subscriptions/listen` filter that asks
 * for those changes, and the lists they concern. A server of that revision sends `list_changed`
 * only on a subscription that asked for it.
 */
export function announcedChanges(capabilities: unknown): {
  readonly filter: Record<string, true>;
  readonly lists: ListMethod[];
} {
  const filter: Record<string, true> = {};
  const lists: ListMethod[] = [];
  if (typeof capabilities !== "object" || capabilities === null) return { filter, lists };
  for (const [capability, field] of Object.entries(CHANGE_FILTERS)) {
    const declared: unknown = Object.hasOwn(capabilities, capability)
      ? (capabilities as Record<string, unknown>)[capability]
      : undefined;
    if ((declared as { listChanged?: unknown } | undefined)?.listChanged !== true) continue;
    filter[field] = true;
    lists.push(...(BY_CAPABILITY[capability] ?? []));
  }
  return { filter, lists };
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
