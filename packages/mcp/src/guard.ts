import {
  type Authorization,
  Authorizer,
  type AuthorizerOptions,
  type Decision,
  type ListMethod,
  type RequestContext,
  type Subject,
  boundedText,
  isListMethod,
} from "@mcp-pdp/core";
import type {
  Transport,
  TransportSendOptions,
} from "@modelcontextprotocol/sdk/shared/transport.js";
import type {
  JSONRPCMessage,
  MessageExtraInfo,
  RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import { TransportDecorator, asError } from "./decorator.js";
import { TaskBindings, subjectKey } from "./tasks.js";

/** JSON-RPC error code of a denied request (the code the Permit middleware uses). */
export const UNAUTHORIZED_CODE = -32010;

/** How a denied request is answered. */
export type DenyMode = "error" | "tool-result" | "not-found";

/** Options of {@link guardTransport} and {@link authorize}. */
export interface GuardOptions extends AuthorizerOptions {
  /**
   * `error`: JSON-RPC error -32010 `Unauthorized`. `tool-result`: a denied `tools/call` answers an
   * `isError` tool result (other methods still get the error). `not-found`: the component is
   * reported as not existing (-32602 for tools and prompts, -32002 for resources).
   * @defaultValue `"error"`
   */
  readonly denyMode?: DenyMode;
  /**
   * Send the PDP's reason to the client. Off by default: reasons can reveal policy internals or PDP
   * failures; the client gets a generic reason (or a check's own message) and the decision id.
   * @defaultValue false
   */
  readonly exposeReasons?: boolean;
  /**
   * Where the tasks created through this guard are bound to their creators. Share one between the
   * transports of one server so a task created on one connection (or, behind `createMcpHandler`,
   * one HTTP request) can be fetched on the next; `authorizeFactory` shares one for you.
   * @defaultValue `authorize()`: one per server; `guardTransport()`: one per transport, made when
   * its first task is created
   */
  readonly tasks?: TaskBindings;
}

interface JsonRpcRequest {
  jsonrpc: "2.0";
  id: RequestId;
  method: string;
  params?: Record<string, unknown>;
}

/**
 * A task-augmented `tools/call` (params with `task`) handed to the server: a task its result
 * creates is bound to this caller. Plain calls carry no such state, so they cost nothing more.
 */
/**
 * What a task keeps of the call that created it: the tool and its arguments, all `tasks/result`
 * is decided on (arguments within the mapping's limits, or the call was denied), not the rest of
 * the params a client sent.
 */
function taskCallOf(params: Record<string, unknown> | undefined): Record<string, unknown> {
  return params?.arguments === undefined
    ? { name: params?.name }
    : { name: params.name, arguments: params.arguments };
}

class TaskCall {
  constructor(
    readonly subject: string,
    readonly params: Readonly<Record<string, unknown>>,
  ) {}
}

/** A `tasks/list` handed to the server: its result keeps only this caller's tasks. */
class TaskListing {
  constructor(readonly subject: string) {}
}

/** The task methods that name one task: answered only for the task's creator. */
const TASK_METHODS: ReadonlySet<string> = new Set(["tasks/get", "tasks/result", "tasks/cancel"]);

/** A list request handed to the server: its result is filtered for this caller on the way back. */
interface PendingList {
  readonly method: ListMethod;
  readonly subject: Subject;
  readonly context: RequestContext;
}

function transportKind(transport: Transport): string {
  // A decorator (the proxy's holding gate, FastMCP's auth forwarding) is named for what it wraps.
  let inner = transport;
  for (let depth = 0; inner instanceof TransportDecorator && depth < 16; depth++)
    inner = inner.inner;
  const name = inner.constructor.name;
  if (name.includes("Stdio")) return "stdio";
  if (name.includes("StreamableHTTP") || name.includes("PerRequestHTTP")) return "http";
  if (name.includes("SSE")) return "sse";
  if (name.includes("InMemory")) return "memory";
  return name || "unknown";
}

/** Web `Headers` as the plain map identity resolvers read (names come lowercased). */
export function headerMap(headers: Headers): Record<string, string> {
  const map: Record<string, string> = {};
  headers.forEach((value, name) => {
    map[name] = value;
  });
  return map;
}

/**
 * A request being decided, and the check options handed to the PDP: its AbortController is made
 * only if a PDP reads the signal (most decisions are synchronous and never do).
 */
class Deciding {
  aborted = false;
  #controller: AbortController | undefined;

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.aborted) this.#controller.abort();
    return this.#controller.signal;
  }

  abort(): void {
    this.aborted = true;
    this.#controller?.abort();
  }
}

/** The state of a request the server has and the client cancelled. */
const CANCELLED: unique symbol = Symbol("cancelled");
/**
 * Requests the server holds that the client cancelled, at most. Their ids stay taken until the
 * server answers (an SDK server never does), so past this bound a cancellation is not forwarded:
 * the request completes and its answer goes the normal, filtered way (a client ignores answers to
 * requests it cancelled). Freeing an id the server still holds instead would let a reused id
 * receive the old request's answer.
 */
const MAX_CANCELLED = 1024;

/**
 * The requests in flight, by id: a Map, except that an entry set while nothing else is in flight
 * is held in two fields instead, so a client that waits for each answer before its next call (the
 * usual case) costs no Map operation. Filling and emptying a V8 Map on every call is not cheap: it
 * reallocates its table each time a delete leaves it empty and rehashes it every few inserts.
 * Ids compare as Map keys do (an id that is `NaN` is never held in the fields).
 */
class InFlight<V> {
  /** The id held in the fields; undefined when they hold nothing. */
  #id: RequestId | undefined;
  #value: V | undefined;
  readonly #map = new Map<RequestId, V>();

  has(id: RequestId): boolean {
    return id === this.#id || this.#map.has(id);
  }

  get(id: RequestId): V | undefined {
    return id === this.#id ? this.#value : this.#map.get(id);
  }

  set(id: RequestId, value: V): void {
    if (id === this.#id) {
      this.#value = value;
    } else if (this.#id === undefined && this.#map.size === 0 && id === id) {
      this.#id = id;
      this.#value = value;
    } else {
      this.#map.set(id, value);
    }
  }

  delete(id: RequestId): void {
    if (id === this.#id) {
      this.#id = undefined;
      this.#value = undefined;
    } else {
      this.#map.delete(id);
    }
  }

  values(): V[] {
    const values = [...this.#map.values()];
    if (this.#id !== undefined) values.push(this.#value as V);
    return values;
  }

  clear(): void {
    this.#id = undefined;
    this.#value = undefined;
    this.#map.clear();
  }
}

/** Nesting depth of a message's params accepted at most. */
const MAX_PARAMS_DEPTH = 64;

/**
 * Whether `value` (an object or array) nests more than `left` levels of objects and arrays. The
 * recursion stops at `left`, so it cannot overflow the stack itself; JSON serializers, schema
 * validators and copies further on can, and they never see such params. Primitives are skipped
 * without a call: this runs on every request.
 */
function tooDeep(value: object, left: number): boolean {
  if (left === 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === "object" && item !== null && tooDeep(item, left - 1)) return true;
    }
    return false;
  }
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    if (typeof item === "object" && item !== null && tooDeep(item, left - 1)) return true;
  }
  return false;
}

const TOO_DEEP = {
  code: -32602,
  message: `Invalid params: nested deeper than ${MAX_PARAMS_DEPTH} levels`,
} as const;

const TOO_DEEP_RESULT = {
  code: -32602,
  message: `Invalid result: nested deeper than ${MAX_PARAMS_DEPTH} levels`,
} as const;

/** The refusal of a task request naming a task the caller did not create (or an unknown one). */
const NOT_OWNED: Decision = {
  allow: false,
  source: "guard",
  reason: "task not found for this caller (created by another subject, or unknown)",
};

const FAILED: Decision = {
  allow: false,
  source: "error",
  reason: "authorization failed unexpectedly",
  errorCode: "PDP_ERROR",
};

/** The `_meta` key by which a 2026-07-28 change notification names the listen it belongs to. */
const SUBSCRIPTION_ID_META = "io.modelcontextprotocol/subscriptionId";

/** The notification each of whose resources is decided again, for its subscriber, as it leaves. */
const RESOURCE_UPDATED = "notifications/resources/updated";

/**
 * Open subscriptions remembered per transport, at most (listens and subscribed URIs each): past
 * it the oldest is forgotten, and its updates are then decided for no one in particular (a listen's
 * are dropped). The SDK's listen router refuses more than 1024 listens of its own.
 */
const MAX_SUBSCRIBERS = 1024;

/** The `_meta` key by which a 2026-07-28 request names its protocol revision. */
const PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion";

/**
 * Client requests of the 2025 revisions that 2026-07-28 removed: a server of that revision never
 * dispatches them. Sent in the modern era they are answered "method not found" here, at once and
 * without a decision, as the server would: deciding first turned a malformed one (a subscribe
 * without a URI) into an authorization error, and a decision that waits on the PDP made an SDK v2
 * HTTP server answer 200 instead of 404.
 */
const REMOVED_IN_2026: ReadonlySet<string> = new Set([
  "logging/setLevel",
  "resources/subscribe",
  "resources/unsubscribe",
  "sampling/createMessage",
  "elicitation/create",
  "roots/list",
]);

function isModern(params: unknown): boolean {
  const meta = (params as { _meta?: unknown } | undefined)?._meta;
  return typeof meta === "object" && meta !== null && PROTOCOL_VERSION_META in meta;
}

/**
 * A result the guard answers itself, shaped for the request's protocol era: from 2026-07-28 on
 * (a request that carries its revision in `_meta`), a result says it is `complete` and a list
 * carries cache hints (a client rejects either missing); this list is for this caller only.
 */
function ownResult(
  params: Record<string, unknown> | undefined,
  result: Record<string, unknown>,
  list = false,
): Record<string, unknown> {
  if (!isModern(params)) return result;
  return list
    ? { ...result, resultType: "complete", ttlMs: 0, cacheScope: "private" }
    : { ...result, resultType: "complete" };
}

/** The reason shown to the client for a deny. */
export function clientReason(decision: Decision, exposeReasons: boolean): string {
  if (exposeReasons && decision.reason) return decision.reason;
  if (decision.message) return decision.message;
  return decision.source === "error"
    ? "authorization could not be decided"
    : "access denied by policy";
}

/**
 * A transport decorated with authorization: each incoming request is decided before the server
 * sees it (a denied request is answered by the guard, so server code never runs) and each outgoing
 * list result is filtered per item before it leaves. Works with any SDK `Transport`.
 */
export class GuardedTransport extends TransportDecorator {
  readonly authorizer: Authorizer;
  readonly #denyMode: DenyMode;
  readonly #exposeReasons: boolean;
  readonly #kind: string;
  /**
   * Client requests in flight, by id: being decided (their {@link Deciding}); handed to the server
   * and not yet answered (the method's name, or the {@link PendingList} of a list to filter); or
   * handed to the server and then cancelled by the client (`CANCELLED`). An id stays taken until
   * the server answered it, so an answer always meets the request it belongs to. One map, so a
   * request costs one lookup to check its id.
   */
  readonly #inFlight = new InFlight<
    Deciding | string | PendingList | TaskCall | TaskListing | typeof CANCELLED
  >();
  /** How many ids are held as `CANCELLED` (see {@link MAX_CANCELLED}). */
  #cancelled = 0;
  #tasks: TaskBindings | undefined;
  readonly #handles: ((method: string) => boolean) | undefined;
  /**
   * Who opened each `subscriptions/listen` the server was handed, by the listen's id (the id its
   * updates are stamped with): their updates are decided for that caller. Made at the first.
   */
  #listens: Map<RequestId, RequestContext> | undefined;
  /** Who subscribed (2025 `resources/subscribe`) to each URI last. Made at the first. */
  #subscribers: Map<string, RequestContext> | undefined;

  constructor(
    inner: Transport,
    authorizer: Authorizer,
    options: Pick<GuardOptions, "denyMode" | "exposeReasons" | "tasks"> & {
      /**
       * Whether the server has a handler for a request method. A request it has none for is
       * handed on undecided, to be answered "method not found" at once as the unguarded server
       * would (nothing runs; an SDK v2 HTTP entry maps that answer to 404 only when it comes at
       * once). `authorize()` reads it off the server it secures.
       */
      readonly handles?: (method: string) => boolean;
    } = {},
  ) {
    super(inner);
    this.authorizer = authorizer;
    this.#denyMode = options.denyMode ?? "error";
    this.#exposeReasons = options.exposeReasons ?? false;
    this.#kind = transportKind(inner);
    this.#tasks = options.tasks;
    this.#handles = options.handles;
  }

  /** The tasks bound through this guard. */
  get tasks(): TaskBindings {
    return (this.#tasks ??= new TaskBindings());
  }

  override close(): Promise<void> {
    for (const pending of this.#inFlight.values()) if (pending instanceof Deciding) pending.abort();
    this.#inFlight.clear();
    this.#cancelled = 0;
    this.#listens = undefined;
    this.#subscribers = undefined;
    return super.close();
  }

  override send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    // A transport that throws instead of rejecting must not throw out of a timer of the SDK's.
    try {
      return this.#send(message, options);
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  #send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const m = message as { id?: unknown; result?: unknown; method?: unknown };
    // Only a response (no method) to a list request the guard let through is filtered, and a
    // resource update decided for its subscriber; an error response just ends the wait. Anything
    // else goes straight through, without an extra await.
    if (m.method !== undefined || (typeof m.id !== "string" && typeof m.id !== "number")) {
      if (m.method === RESOURCE_UPDATED) return this.#sendUpdate(message, options);
      return this.inner.send(message, options);
    }
    const state = this.#inFlight.get(m.id);
    // Not a request the server holds (none at all, or one still being decided): dropped.
    if (state === undefined || state instanceof Deciding) return Promise.resolve();
    this.#inFlight.delete(m.id);
    // A listen's final answer (the server closed it): nothing more comes for it.
    if (state === "subscriptions/listen") this.#listens?.delete(m.id);
    if (state === CANCELLED) {
      // The client cancelled it: it must not come back at all (a list would come unfiltered).
      this.#cancelled--;
      return Promise.resolve();
    }
    if (typeof state === "string" || m.result === undefined) {
      return this.inner.send(message, options);
    }
    if (state instanceof TaskCall) {
      this.#bindTask(m.result, state);
      return this.inner.send(message, options);
    }
    if (state instanceof TaskListing) {
      const result = this.#ownTasks(m.result, state);
      return this.inner.send({ ...message, result }, options);
    }
    return this.#sendFiltered(message, m.result, state, options);
  }

  /**
   * Sends a `notifications/resources/updated` only if its subscriber may read the resource now: it
   * is decided as a `resources/read` of its URI (audited as one), for the caller who opened the
   * listen it is stamped with, or who subscribed to the URI last (a connection's own identity when
   * nobody on it did, as for a server `serveStdio` made, whose listens its entry serves). A
   * permission revoked while a subscription is open so withholds the next update. An update that
   * names no URI, or a listen the guard never let through, is dropped.
   */
  #sendUpdate(message: JSONRPCMessage, options: TransportSendOptions | undefined): Promise<void> {
    const params = (message as { params?: Record<string, unknown> }).params;
    const uri = params?.uri;
    if (typeof uri !== "string") {
      this.reportError(new Error(`${RESOURCE_UPDATED} without a resource URI; dropped`));
      return Promise.resolve();
    }
    const meta = params?._meta;
    const listen =
      typeof meta === "object" && meta !== null
        ? (meta as Record<string, unknown>)[SUBSCRIPTION_ID_META]
        : undefined;
    let context: RequestContext | undefined;
    if (listen === undefined) {
      context = this.#subscribers?.get(uri) ?? this.#context(undefined, undefined);
    } else {
      context =
        typeof listen === "string" || typeof listen === "number"
          ? this.#listens?.get(listen)
          : undefined;
      // Stamped for a listen this guard did not let through: no one here asked for it.
      if (context === undefined) return Promise.resolve();
    }
    const forward = (outcome: Authorization): Promise<void> =>
      outcome.kind === "bypass" || outcome.decision.allow
        ? this.inner.send(message, options)
        : Promise.resolve();
    let outcome: Authorization | Promise<Authorization>;
    try {
      outcome = this.authorizer.decide("resources/read", { uri }, context);
    } catch (error) {
      this.reportError(error);
      return Promise.resolve();
    }
    if (!(outcome instanceof Promise)) return forward(outcome);
    return outcome.then(forward, (error: unknown) => {
      this.reportError(error);
    });
  }

  /** Remembers who opened a listen or subscribed to a URI, for the updates that follow. */
  #remember(method: string, id: RequestId, params: unknown, context: RequestContext): void {
    if (method === "subscriptions/listen") {
      this.#listens = remembered(this.#listens, id, context);
      return;
    }
    const uri = (params as { uri?: unknown } | undefined)?.uri;
    if (typeof uri !== "string") return;
    if (method === "resources/subscribe") {
      this.#subscribers = remembered(this.#subscribers, uri, context);
    } else {
      this.#subscribers?.delete(uri);
    }
  }

  /** Binds the task a task-augmented call created (a `CreateTaskResult`) to the caller. */
  #bindTask(result: unknown, call: TaskCall): void {
    const task =
      typeof result === "object" && result !== null
        ? (result as { task?: unknown }).task
        : undefined;
    if (typeof task !== "object" || task === null) return;
    const { taskId, ttl } = task as { taskId?: unknown; ttl?: unknown };
    // A task without a usable id can't be named by anyone, its creator included.
    if (typeof taskId === "string") this.tasks.bind(taskId, call.subject, call.params, ttl);
  }

  /**
   * A `tasks/list` page with only the caller's tasks; a task the guard never bound (created past
   * it, or its binding evicted) is no one's, so it is hidden.
   */
  #ownTasks(result: unknown, listing: TaskListing): Record<string, unknown> {
    const page = (typeof result === "object" && result !== null ? result : {}) as Record<
      string,
      unknown
    >;
    const tasks = Array.isArray(page.tasks) ? (page.tasks as unknown[]) : [];
    const own = tasks.filter((task) => {
      const taskId =
        typeof task === "object" && task !== null
          ? (task as { taskId?: unknown }).taskId
          : undefined;
      return typeof taskId === "string" && this.#tasks?.isOwnedBy(taskId, listing.subject) === true;
    });
    return "cacheScope" in page
      ? { ...page, tasks: own, cacheScope: "private" }
      : { ...page, tasks: own };
  }

  async #sendFiltered(
    message: JSONRPCMessage,
    page: unknown,
    pending: PendingList,
    options: TransportSendOptions | undefined,
  ): Promise<void> {
    const { result } = await this.authorizer.filterList(
      pending.method,
      page,
      pending.context,
      pending.subject,
    );
    // A filtered page is this caller's view: a 2026-07-28 cache hint may not let a shared cache
    // hand it to anyone else.
    const scoped = "cacheScope" in result;
    await this.inner.send(
      { ...message, result: scoped ? { ...result, cacheScope: "private" } : result },
      options,
    );
  }

  #context(id: RequestId | undefined, extra: MessageExtraInfo | undefined): RequestContext {
    const context: {
      transport: string;
      headers?: NonNullable<RequestContext["headers"]>;
      authInfo?: NonNullable<RequestContext["authInfo"]>;
      sessionId?: string;
      requestId?: RequestId;
    } = { transport: this.#kind };
    const headers = extra?.requestInfo?.headers;
    if (headers) context.headers = headers;
    else if (extra !== undefined) {
      // SDK v2 hands over the web `Request` instead of `requestInfo`.
      const request = (extra as { request?: { headers?: unknown } }).request;
      if (request?.headers instanceof Headers) context.headers = headerMap(request.headers);
    }
    if (extra?.authInfo) context.authInfo = extra.authInfo;
    const sessionId = this.inner.sessionId;
    if (sessionId !== undefined) context.sessionId = sessionId;
    if (id !== undefined) context.requestId = id;
    return context;
  }

  protected override receive(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void {
    // Each field is read once: messages come in many shapes, so every read is a slow lookup.
    const { method, id } = message as { method?: unknown; id?: unknown };
    if (typeof method !== "string") {
      // Responses to the server's own requests (sampling, elicitation, roots). One nested too
      // deep is answered to the server as an error, which then does not wait for it in vain.
      const { result } = message as { result?: unknown };
      if (
        typeof result === "object" &&
        result !== null &&
        (typeof id === "string" || typeof id === "number") &&
        tooDeep(result, MAX_PARAMS_DEPTH)
      ) {
        this.deliver({ jsonrpc: "2.0", id, error: TOO_DEEP_RESULT }, extra);
        return;
      }
      this.deliver(message, extra);
      return;
    }
    if (typeof id === "string" || typeof id === "number") {
      // Responses are matched to requests by id: a second request with the id of one still in
      // flight could otherwise take the first one's place (and its list filtering).
      if (this.#inFlight.has(id)) {
        this.#reply({
          jsonrpc: "2.0",
          id,
          error: { code: -32600, message: "Invalid request: duplicate id of a request in flight" },
        });
        return;
      }
      const { params } = message as { params?: unknown };
      if (typeof params === "object" && params !== null && tooDeep(params, MAX_PARAMS_DEPTH)) {
        this.#reply({ jsonrpc: "2.0", id, error: TOO_DEEP });
        return;
      }
      if (REMOVED_IN_2026.has(method) && isModern(params)) {
        this.#reply({
          jsonrpc: "2.0",
          id,
          error: { code: -32601, message: `Method not found: ${method}` },
        });
        return;
      }
      if (this.#handles !== undefined && !this.#handles(method)) {
        this.#inFlight.set(id, method);
        this.deliver(message, extra);
        return;
      }
      // Checked even when the mapping bypasses them: a task is its creator's whatever the policy.
      if (method.startsWith("tasks/")) {
        this.#decideTask(message as JsonRpcRequest, id, method, extra);
        return;
      }
      if (this.authorizer.isBypassed(method)) {
        this.#inFlight.set(id, method);
        this.deliver(message, extra);
        return;
      }
      this.#decide(message as JsonRpcRequest, id, method, extra);
      return;
    }
    if (id !== undefined) {
      this.deliver(message, extra); // not a valid request: the server answers it
      return;
    }
    const params = (message as { params?: Record<string, unknown> }).params;
    if (params !== undefined && tooDeep(params, MAX_PARAMS_DEPTH)) {
      // A notification cannot be answered: refused, and said so.
      this.reportError(new Error(`${method}: ${TOO_DEEP.message}; dropped`));
      return;
    }
    if (method === "notifications/cancelled") {
      const cancelled = params?.requestId;
      const pending =
        typeof cancelled === "string" || typeof cancelled === "number"
          ? this.#inFlight.get(cancelled)
          : undefined;
      // One still being decided is dropped when its decision comes (and holds its id until
      // then). One the server has keeps its id until the server answers anyway (the answer is
      // dropped, never sent unfiltered) or, as SDK servers do, never does.
      if (pending instanceof Deciding) {
        pending.abort();
      } else if (pending !== undefined && pending !== CANCELLED) {
        // Past the bound the server is not told: it answers, and the answer is filtered as usual.
        if (this.#cancelled >= MAX_CANCELLED) return;
        this.#inFlight.set(cancelled as RequestId, CANCELLED);
        this.#cancelled++;
        // A cancelled listen ends: an update still stamped with it goes nowhere.
        if (pending === "subscriptions/listen") this.#listens?.delete(cancelled as RequestId);
      }
    }
    if (this.authorizer.isBypassed(method)) {
      this.deliver(message, extra);
      return;
    }
    // A notification cannot be answered: one the policy denies is dropped.
    this.authorizer
      .authorize(method, params, this.#context(undefined, extra))
      .then((outcome) => {
        if (outcome.kind === "bypass" || outcome.decision.allow) this.deliver(message, extra);
      })
      .catch((error: unknown) => {
        this.reportError(error);
      });
  }

  /**
   * Decides one request. When the identity resolver and the PDP answer synchronously (the local
   * engine, a cache hit), the request reaches the server in the same tick, as it would unguarded;
   * otherwise once the decision resolves. The abort signal is only made when a PDP asks for it.
   */
  #decide(
    message: JsonRpcRequest,
    id: RequestId,
    method: string,
    extra: MessageExtraInfo | undefined,
  ): void {
    const context = this.#context(id, extra);
    const pending = new Deciding();
    let outcome: Authorization | Promise<Authorization>;
    try {
      outcome = this.authorizer.decide(method, message.params, context, pending);
    } catch (error) {
      this.#failed(message, error);
      return;
    }
    if (outcome instanceof Promise) {
      // Tracked while it waits: a cancellation aborts it, a duplicate id is refused.
      this.#inFlight.set(id, pending);
      outcome.then(
        (o) => {
          this.#inFlight.delete(id);
          this.#settle(message, id, method, extra, context, pending, o);
        },
        (error: unknown) => {
          this.#failed(message, error);
        },
      );
    } else {
      this.#settle(message, id, method, extra, context, pending, outcome);
    }
  }

  /** Deciding failed unexpectedly: the request is refused, never forwarded or left hanging. */
  #failed(message: JsonRpcRequest, error: unknown): void {
    if (this.#inFlight.get(message.id) instanceof Deciding) this.#inFlight.delete(message.id);
    this.#reply(this.#denial(message, FAILED));
    this.reportError(error);
  }

  #settle(
    message: JsonRpcRequest,
    id: RequestId,
    method: string,
    extra: MessageExtraInfo | undefined,
    context: RequestContext,
    pending: Deciding,
    outcome: Authorization,
  ): void {
    // A request the client cancelled while it was being decided is dropped without an answer.
    if (pending.aborted) return;
    if (outcome.kind === "bypass" || outcome.decision.allow) {
      if (
        method === "subscriptions/listen" ||
        method === "resources/subscribe" ||
        method === "resources/unsubscribe"
      ) {
        this.#remember(method, id, message.params, context);
      }
      this.#inFlight.set(
        id,
        outcome.kind === "decided"
          ? isListMethod(method)
            ? { method, subject: outcome.subject, context }
            : method === "tools/call" && message.params?.task !== undefined
              ? new TaskCall(subjectKey(outcome.subject), taskCallOf(message.params))
              : method
          : method,
      );
      // Decided on the canonical form of a resource URI, but the server gets the client's own
      // spelling: it matches URIs as the strings it listed.
      this.deliver(message, extra);
      return;
    }
    // The coarse list check denied: the caller sees an empty list rather than an error.
    const empty = Authorizer.emptyList(method);
    this.#reply(
      empty
        ? { jsonrpc: "2.0", id, result: ownResult(message.params, empty, true) }
        : this.#denial(message, outcome.decision),
    );
  }

  /**
   * Decides a `tasks/*` request. The caller must be the task's creator: a task of another subject
   * and a task never bound are both answered as not found, so no one learns another's task exists.
   * `tasks/result` is then decided as the `tools/call` that created the task (same resource,
   * action and arguments, for the caller now), so a permission revoked since also withholds the
   * result; `tasks/get` and `tasks/cancel` on their own mapping; `tasks/list` on its own mapping,
   * its page filtered to the caller's tasks.
   */
  #decideTask(
    message: JsonRpcRequest,
    id: RequestId,
    method: string,
    extra: MessageExtraInfo | undefined,
  ): void {
    const context = this.#context(id, extra);
    const pending = new Deciding();
    // Held while the subject resolves: a duplicate id is refused, a cancellation drops it.
    this.#inFlight.set(id, pending);
    this.#taskOutcome(message, method, context, pending).then(
      (outcome) => {
        if (this.#inFlight.get(id) === pending) this.#inFlight.delete(id);
        if (pending.aborted) return;
        if (outcome === undefined) {
          this.#reply(taskNotFound(message));
          return;
        }
        const [authorization, subject] = outcome;
        if (authorization.kind === "decided" && !authorization.decision.allow) {
          this.#reply(this.#denial(message, authorization.decision));
          return;
        }
        this.#inFlight.set(id, method === "tasks/list" ? new TaskListing(subject) : method);
        this.deliver(message, extra);
      },
      (error: unknown) => {
        this.#failed(message, error);
      },
    );
  }

  /** The decision on a task request and the caller's key; undefined: the task is not theirs. */
  async #taskOutcome(
    message: JsonRpcRequest,
    method: string,
    context: RequestContext,
    pending: Deciding,
  ): Promise<[Authorization, string] | undefined> {
    const subject = await this.authorizer.resolveSubject(context);
    const key = subjectKey(subject);
    const options = { subject, signal: pending.signal };
    if (!TASK_METHODS.has(method)) {
      return [await this.authorizer.decide(method, message.params, context, options), key];
    }
    const taskId = message.params?.taskId;
    const owner = typeof taskId === "string" ? this.#tasks?.ownerOf(taskId) : undefined;
    if (owner?.subject !== key) {
      // Refused without the PDP: audited, so probing for others' tasks leaves a trace.
      this.authorizer.recordRefusal(method, message.params, context, subject, NOT_OWNED);
      return undefined;
    }
    if (method === "tasks/result") {
      return [await this.authorizer.decide("tools/call", owner.call, context, options), key];
    }
    return [await this.authorizer.decide(method, message.params, context, options), key];
  }

  /** Sends a message the guard itself answers, reporting a failed send instead of throwing. */
  #reply(message: JSONRPCMessage): void {
    const id = (message as { id?: RequestId }).id;
    // Straight to the inner transport (super.send turns a synchronous throw into a rejection).
    super
      .send(message, id !== undefined ? { relatedRequestId: id } : undefined)
      .catch((error: unknown) => {
        this.reportError(error);
      });
  }

  #denial(message: JsonRpcRequest, decision: Decision): JSONRPCMessage {
    const reason = clientReason(decision, this.#exposeReasons);
    const params = message.params ?? {};
    const name = typeof params.name === "string" ? params.name : "";
    if (this.#denyMode === "tool-result" && message.method === "tools/call") {
      return {
        jsonrpc: "2.0",
        id: message.id,
        result: ownResult(message.params, {
          content: [{ type: "text", text: `Unauthorized: ${reason}` }],
          isError: true,
        }),
      };
    }
    if (this.#denyMode === "not-found") {
      // The client's own text, echoed bounded: a 4 KiB URI is not sent back whole with each deny.
      const uri = boundedText(typeof params.uri === "string" ? params.uri : "", MAX_ECHOED);
      const shown = boundedText(name, MAX_ECHOED);
      const notFound: Record<string, { code: number; message: string }> = {
        "tools/call": { code: -32602, message: `Tool ${shown} not found` },
        "prompts/get": { code: -32602, message: `Prompt ${shown} not found` },
        "resources/read": { code: -32002, message: `Resource ${uri} not found` },
      };
      if (TASK_METHODS.has(message.method)) return taskNotFound(message);
      const error = notFound[message.method];
      if (error) return { jsonrpc: "2.0", id: message.id, error };
    }
    return {
      jsonrpc: "2.0",
      id: message.id,
      error: {
        code: UNAUTHORIZED_CODE,
        message: "Unauthorized",
        data: {
          reason,
          ...(decision.decisionId !== undefined ? { decisionId: decision.decisionId } : {}),
        },
      },
    };
  }
}

/** `map` (made if need be) with `key` set last, its oldest entry dropped past the bound. */
function remembered<K>(
  map: Map<K, RequestContext> | undefined,
  key: K,
  context: RequestContext,
): Map<K, RequestContext> {
  const into = map ?? new Map<K, RequestContext>();
  into.delete(key);
  into.set(key, context);
  if (into.size > MAX_SUBSCRIBERS) into.delete(into.keys().next().value as K);
  return into;
}

/** Characters of a client's name, URI or task id a not-found answer repeats before cutting it. */
const MAX_ECHOED = 256;

/**
 * The answer to a task request naming a task the caller did not create, the same whether the task
 * exists or not: the spec's code for an invalid or nonexistent task id.
 */
function taskNotFound(message: JsonRpcRequest): JSONRPCMessage {
  const taskId = message.params?.taskId;
  return {
    jsonrpc: "2.0",
    id: message.id,
    error: {
      code: -32602,
      message: `Task ${boundedText(typeof taskId === "string" ? taskId : "", MAX_ECHOED)} not found`,
    },
  };
}

/**
 * Decorates a transport with authorization. Pass an existing {@link Authorizer} to share its
 * registry and audit sink across transports (one per Streamable HTTP session).
 */
export function guardTransport(
  transport: Transport,
  options: GuardOptions | { authorizer: Authorizer; denyMode?: DenyMode; exposeReasons?: boolean },
): GuardedTransport {
  const authorizer = "authorizer" in options ? options.authorizer : new Authorizer(options);
  return new GuardedTransport(transport, authorizer, options);
}
