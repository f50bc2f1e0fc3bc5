import {
  type AuditEvent,
  type AuditSink,
  auditSubject,
  auditText,
  decisionEvent,
  identityError,
  defaultAuditSink,
} from "./audit.js";
import { ComponentRegistry } from "./components.js";
import { describeError } from "./errors.js";
import { errorDecision } from "./http.js";
import {
  ANONYMOUS,
  type IdentityResolver,
  type RequestContext,
  defaultIdentity,
} from "./identity.js";
import {
  LIST_METHODS,
  type ListMethod,
  boundedText,
  type MappedOperation,
  type MappingOptions,
  type ResolvedMapping,
  isListMethod,
  mapListItem,
  mapRequest,
  resolveMapping,
} from "./mapping.js";
import { rememberListedTool } from "./tool-actions.js";
import type {
  AuthorizationRequest,
  CheckOptions,
  Decision,
  Operation,
  PolicyDecisionPoint,
  Resource,
  Subject,
} from "./model.js";
import type { Mutable } from "./types.js";

/** Options of {@link Authorizer}. */
export interface AuthorizerOptions {
  /**
   * The Policy Decision Point, with any decorators already applied. It stays yours: the Authorizer
   * never closes it (several Authorizers may share one), so `await pdp.close()` on shutdown.
   */
  readonly pdp: PolicyDecisionPoint;
  /** Who the caller is. @defaultValue the SDK's bearer auth info, else unauthenticated */
  readonly identity?: IdentityResolver;
  /** How MCP methods map to resources and actions. */
  readonly mapping?: MappingOptions;
  /**
   * Where audit events go; `false` for nowhere. The sink stays yours: {@link Authorizer.close}
   * only flushes it. @defaultValue JSON lines on stderr
   */
  readonly audit?: AuditSink | false;
}

/** The outcome of authorizing one request. */
export type Authorization =
  | { readonly kind: "bypass" }
  | {
      readonly kind: "decided";
      readonly subject: Subject;
      readonly request: AuthorizationRequest;
      readonly decision: Decision;
    };

/** The outcome of filtering one list page. */
export interface FilteredList {
  readonly result: Record<string, unknown>;
  readonly items: number;
  readonly visible: number;
}

/** The string `code` of a thrown value; anything can be thrown, `undefined` and `null` included. */
function errorCodeOf(error: unknown): string {
  const code =
    typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : "PDP_ERROR";
}

/**
 * Accepts a PDP answer only when it is a well-formed decision whose `allow` is exactly `true`;
 * anything else (a Promise, a truthy string, a missing field) is a deny.
 */
export function normalizeDecision(value: unknown): Decision {
  if (typeof value !== "object" || value === null)
    return errorDecision("PDP returned no decision", "PDP_BAD_RESPONSE");
  const d = value as Partial<Decision>;
  if (typeof d.allow !== "boolean")
    return errorDecision("PDP returned a decision without a boolean allow", "PDP_BAD_RESPONSE");
  return d.allow ? (d as Decision) : { ...(d as Decision), allow: false };
}

/** Calls `pdp.check`, turning any exception into an error deny. Never rejects. */
export async function safeCheck(
  pdp: PolicyDecisionPoint,
  request: AuthorizationRequest,
  options?: CheckOptions,
): Promise<Decision> {
  try {
    return normalizeDecision(await pdp.check(request, options));
  } catch (error) {
    return errorDecision(`PDP ${pdp.name} failed: ${describeError(error)}`, errorCodeOf(error));
  }
}

/**
 * Calls `pdp.checkSync` when the PDP has one: its answer, normalised, or undefined when it cannot
 * answer without waiting. An exception is an error deny.
 */
export function safeCheckSync(
  pdp: PolicyDecisionPoint,
  request: AuthorizationRequest,
): Decision | undefined {
  if (!pdp.checkSync) return undefined;
  try {
    const answer = pdp.checkSync(request);
    return answer === undefined ? undefined : normalizeDecision(answer);
  } catch (error) {
    return errorDecision(`PDP ${pdp.name} failed: ${describeError(error)}`, "PDP_ERROR");
  }
}

/**
 * Calls `pdp.checkMany` (or `check` for each request when the PDP has no bulk call), turning any
 * exception or wrongly sized answer into error denies. Never rejects.
 */
export async function safeCheckMany(
  pdp: PolicyDecisionPoint,
  requests: readonly AuthorizationRequest[],
  options?: CheckOptions,
): Promise<Decision[]> {
  if (requests.length === 0) return [];
  if (!pdp.checkMany) return Promise.all(requests.map((r) => safeCheck(pdp, r, options)));
  try {
    const answers: unknown = await pdp.checkMany(requests, options);
    if (!Array.isArray(answers) || answers.length !== requests.length) {
      const d = errorDecision(
        `PDP ${pdp.name} answered a bulk check with the wrong number of decisions`,
        "PDP_BAD_RESPONSE",
      );
      return requests.map(() => d);
    }
    return answers.map(normalizeDecision);
  } catch (error) {
    const d = errorDecision(`PDP ${pdp.name} failed: ${describeError(error)}`, errorCodeOf(error));
    return requests.map(() => d);
  }
}

/**
 * Decides MCP requests: resolves the caller, maps the method to a resource/action pair, asks the
 * PDP, filters list results per item and audits every decision. Transport-agnostic; the
 * `@mcp-pdp/mcp` guard drives it.
 */
export class Authorizer {
  readonly pdp: PolicyDecisionPoint;
  readonly mapping: ResolvedMapping;
  readonly components = new ComponentRegistry();
  readonly #identity: IdentityResolver;
  readonly #audit: AuditSink | undefined;
  #auditFailed = false;
  /** The first tool name seen listed for each action, to notice names normalised alike. */
  readonly #toolOfAction = new Map<string, string>();
  readonly #collisions = new Set<string>();

  constructor(options: AuthorizerOptions) {
    this.pdp = options.pdp;
    this.mapping = resolveMapping(options.mapping);
    this.#identity = options.identity ?? defaultIdentity();
    this.#audit = options.audit === false ? undefined : (options.audit ?? defaultAuditSink());
  }

  /** Whether a method is never checked. */
  isBypassed(method: string): boolean {
    return this.mapping.isBypassed(method);
  }

  /** Resolves the caller. A resolver that throws gives an unauthenticated subject. */
  async resolveSubject(context: RequestContext): Promise<Subject> {
    return this.#resolve(context);
  }

  /** Resolves the caller, synchronously when the resolver is synchronous. */
  #resolve(context: RequestContext): Subject | Promise<Subject> {
    let answer: Subject | Promise<Subject>;
    try {
      answer = this.#identity(context);
    } catch (error) {
      return identityFailure(error);
    }
    return isPromiseLike(answer)
      ? Promise.resolve(answer).then(validSubject, identityFailure)
      : validSubject(answer);
  }

  /**
   * The request for a mapped operation (from `mapRequest` or `mapListItem`) as the guard sends it:
   * with the component's declared metadata and the subject's tenant.
   */
  requestFor(subject: Subject, mapped: MappedOperation): AuthorizationRequest {
    return this.#request(subject, mapped, false);
  }

  /**
   * `owned`: `mapped` was just built for this request alone, so the metadata and tenant are set on
   * its objects instead of copies (`{ ...o, extra }` with a new key is a slow path in V8, and this
   * runs for every call and every list item).
   */
  #request(subject: Subject, mapped: MappedOperation, owned = true): AuthorizationRequest {
    const kind = mapped.operation.component;
    const id = mapped.operation.name ?? mapped.operation.uri;
    // A request with a problem is denied without asking the PDP: no metadata is looked up for it.
    const metadata =
      kind && id !== undefined && mapped.problem === undefined
        ? this.components.get(kind, id)
        : undefined;
    let operation = mapped.operation;
    // A tool the server declared: its action is normalised once from now on, not on every call.
    if (metadata && kind === "tool" && id !== undefined) rememberListedTool(id);
    if (metadata) {
      const o = (owned ? operation : Object.assign({}, operation)) as Mutable<Operation>;
      o.metadata = metadata;
      operation = o;
    }
    let resource = mapped.resource;
    if (subject.tenant !== undefined) {
      const r = (owned ? resource : Object.assign({}, resource)) as Mutable<Resource>;
      r.tenant = subject.tenant;
      resource = r;
    }
    return { subject, operation, resource, action: mapped.action };
  }

  /** Builds the authorization request for one MCP request (exposed for tools such as `check`). */
  buildRequest(method: string, params: unknown, subject: Subject): AuthorizationRequest {
    return this.#request(subject, mapRequest(method, params, this.mapping));
  }

  /** Decides one incoming MCP request. */
  async authorize(
    method: string,
    params: unknown,
    context: RequestContext,
    options: CheckOptions & { subject?: Subject } = {},
  ): Promise<Authorization> {
    return this.decide(method, params, context, options);
  }

  /**
   * {@link Authorizer.authorize}, answering synchronously when it can: a synchronous identity
   * resolver and a PDP whose `checkSync` answers (the local engine, a cache hit) decide in the same
   * tick, so authorization adds no round through the event loop. Otherwise a Promise. Never throws
   * for a PDP failure (that is a deny).
   */
  decide(
    method: string,
    params: unknown,
    context: RequestContext,
    options: CheckOptions & { subject?: Subject } = {},
  ): Authorization | Promise<Authorization> {
    if (this.isBypassed(method)) return BYPASS;
    // Timed only for the audit event's latency.
    const started = this.#audit ? performance.now() : 0;
    const subject = options.subject ?? this.#resolve(context);
    if (isPromiseLike(subject)) {
      return subject.then((s) => this.#decideFor(s, method, params, context, options, started));
    }
    return this.#decideFor(subject, method, params, context, options, started);
  }

  #decideFor(
    subject: Subject,
    method: string,
    params: unknown,
    context: RequestContext,
    options: CheckOptions,
    started: number,
  ): Authorization | Promise<Authorization> {
    const mapped = mapRequest(method, params, this.mapping);
    const request = this.#request(subject, mapped);
    if (mapped.problem !== undefined) {
      const invalid = errorDecision(`request not decidable: ${mapped.problem}`, "REQUEST_INVALID");
      return this.#decided(subject, request, invalid, context, started);
    }
    const now = safeCheckSync(this.pdp, request);
    if (now !== undefined) return this.#decided(subject, request, now, context, started);
    return safeCheck(
      this.pdp,
      request,
      options.signal ? { signal: options.signal } : undefined,
    ).then((decision) => this.#decided(subject, request, decision, context, started));
  }

  #decided(
    subject: Subject,
    request: AuthorizationRequest,
    decision: Decision,
    context: RequestContext,
    started: number,
  ): Authorization {
    if (this.#audit) this.#emit(request, decision, performance.now() - started, context);
    return { kind: "decided", subject, request, decision };
  }

  /**
   * Filters one page of a list result to the items the subject may use, with one bulk check.
   * Other fields (`nextCursor`, `_meta`) are kept; a filtered page may be short.
   */
  async filterList(
    method: ListMethod,
    result: unknown,
    context: RequestContext,
    subject: Subject,
    options: CheckOptions = {},
  ): Promise<FilteredList> {
    const started = performance.now();
    const { field, component } = LIST_METHODS[method];
    const page = (typeof result === "object" && result !== null ? result : {}) as Record<
      string,
      unknown
    >;
    const items: unknown[] = Array.isArray(page[field]) ? (page[field] as unknown[]) : [];
    this.components.remember(component, items);
    const mapped = items.map((item) => mapListItem(method, item, this.mapping));
    if (method === "tools/list" && this.mapping.toolNames === "normalize") {
      this.#noticeCollisions(mapped);
    }
    const requests: AuthorizationRequest[] = [];
    for (const m of mapped) if (m) requests.push(this.#request(subject, m));
    const decisions = await safeCheckMany(this.pdp, requests, options);
    const latency = performance.now() - started;
    const visible: unknown[] = [];
    let j = 0;
    for (let i = 0; i < items.length; i++) {
      if (!mapped[i]) continue; // an item without a name or URI cannot be decided: hidden
      const request = requests[j];
      const decision = decisions[j];
      j++;
      if (!request || !decision) continue;
      this.#emit(request, decision, latency, context);
      if (decision.allow) visible.push(items[i]);
    }
    if (this.#audit)
      this.#write({
        time: new Date().toISOString(),
        type: "list",
        pdp: this.pdp.name,
        subject: auditSubject(subject),
        ...identityError(subject),
        method,
        phase: "list",
        resource: { type: this.buildRequest(method, {}, subject).resource.type },
        action: "list",
        allow: visible.length > 0,
        source: "pdp",
        latencyMs: round(latency),
        items: items.length,
        visible: visible.length,
        ...contextFields(context),
      });
    return { result: { ...page, [field]: visible }, items: items.length, visible: visible.length };
  }

  /**
   * Warns once per action when two listed tools normalise to it (`a_b`, `a.b` and `a-b` are all
   * `a-b`): a rule about one of them also governs the other.
   */
  #noticeCollisions(mapped: readonly (MappedOperation | undefined)[]): void {
    for (const m of mapped) {
      const name = m?.operation.name;
      if (m === undefined || name === undefined) continue;
      const first = this.#toolOfAction.get(m.action);
      if (first === undefined) {
        // Bounded: a server's tools are few, but a list is the server's to make.
        if (this.#toolOfAction.size >= 10_000) this.#toolOfAction.clear();
        this.#toolOfAction.set(m.action, name);
      } else if (first !== name && !this.#collisions.has(m.action)) {
        this.#collisions.add(m.action);
        const max = this.mapping.maxNameLength;
        process.emitWarning(
          `tools "${boundedText(first, max)}" and "${boundedText(name, max)}" both map to action "${boundedText(m.action, max)}" (tool names are normalised), so a rule for one also governs the other; rename one, or set mapping.toolNames to "raw"`,
          { code: "MCP_PDP_TOOL_ACTION_COLLISION" },
        );
      }
    }
  }

  /** The empty page sent when the coarse list check denies. */
  static emptyList(method: string): Record<string, unknown> | undefined {
    return isListMethod(method) ? { [LIST_METHODS[method].field]: [] } : undefined;
  }

  /** A sink that throws must not turn a decision into an exception: the loss is reported once. */
  #write(event: AuditEvent): void {
    if (!this.#audit) return;
    try {
      this.#audit.write(event);
    } catch (error) {
      if (!this.#auditFailed) {
        this.#auditFailed = true;
        process.emitWarning(`mcp-pdp audit sink failed: ${describeError(error)}`);
      }
    }
  }

  #emit(
    request: AuthorizationRequest,
    decision: Decision,
    latencyMs: number,
    context: RequestContext,
  ): void {
    if (!this.#audit) return; // building the event is most of its cost
    this.#write(decisionEvent(this.pdp.name, request, decision, latencyMs, context));
  }

  /**
   * Writes the audit event of a request refused without asking the PDP (`decision.source` is
   * `"guard"`): the guard answering another subject's task "not found", say. Nothing when audit is
   * off.
   */
  recordRefusal(
    method: string,
    params: unknown,
    context: RequestContext,
    subject: Subject,
    decision: Decision,
  ): void {
    if (!this.#audit) return;
    this.#emit(
      this.#request(subject, mapRequest(method, params, this.mapping)),
      decision,
      0,
      context,
    );
  }

  /**
   * Flushes the audit sink. It closes nothing: the PDP and the audit sink belong to whoever created
   * them, and are often shared (one `McpServer`, so one Authorizer, per HTTP session; the default
   * sink is one per process). On shutdown, `await pdp.close()` and close your own sink yourself.
   */
  async close(): Promise<void> {
    await this.#audit?.flush?.();
  }
}

const BYPASS: Authorization = Object.freeze({ kind: "bypass" });

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function validSubject(subject: unknown): Subject {
  const s = subject as Subject | null | undefined;
  return typeof s === "object" && s !== null && typeof s.id === "string" ? s : ANONYMOUS;
}

function identityFailure(error: unknown): Subject {
  return { ...ANONYMOUS, attributes: { identity_error: describeError(error) } };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function contextFields(context: RequestContext) {
  return {
    ...(context.requestId !== undefined ? { requestId: auditText(context.requestId) } : {}),
    ...(context.sessionId !== undefined ? { sessionId: auditText(context.sessionId) } : {}),
  };
}
