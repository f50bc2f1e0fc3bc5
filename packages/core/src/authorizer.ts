import {
  type AuditEvent,
  type AuditSink,
  auditSubject,
  decisionFields,
  defaultAuditSink,
} from "./audit.js";
import { ComponentRegistry } from "./components.js";
import { describeError } from "./errors.js";
import {
  ANONYMOUS,
  type IdentityResolver,
  type RequestContext,
  defaultIdentity,
} from "./identity.js";
import {
  LIST_METHODS,
  type ListMethod,
  type MappedOperation,
  type MappingOptions,
  type ResolvedMapping,
  isListMethod,
  mapListItem,
  mapRequest,
  resolveMapping,
} from "./mapping.js";
import type {
  AuthorizationRequest,
  CheckOptions,
  Decision,
  PolicyDecisionPoint,
  Subject,
} from "./model.js";

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

function errorDecision(reason: string, errorCode = "PDP_ERROR"): Decision {
  return { allow: false, source: "error", reason, errorCode };
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
    try {
      const subject = await this.#identity(context);
      return typeof subject === "object" && typeof subject.id === "string" ? subject : ANONYMOUS;
    } catch (error) {
      return { ...ANONYMOUS, attributes: { identity_error: describeError(error) } };
    }
  }

  #request(subject: Subject, mapped: MappedOperation): AuthorizationRequest {
    const { operation } = mapped;
    const kind = operation.component;
    const id = operation.name ?? operation.uri;
    const metadata = kind && id !== undefined ? this.components.get(kind, id) : undefined;
    return {
      subject,
      operation: metadata ? { ...operation, metadata } : operation,
      resource:
        subject.tenant !== undefined
          ? { ...mapped.resource, tenant: subject.tenant }
          : mapped.resource,
      action: mapped.action,
    };
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
    if (this.isBypassed(method)) return { kind: "bypass" };
    const started = performance.now();
    const subject = options.subject ?? (await this.resolveSubject(context));
    const mapped = mapRequest(method, params, this.mapping);
    const request = this.#request(subject, mapped);
    const decision =
      mapped.problem !== undefined
        ? errorDecision(`request not decidable: ${mapped.problem}`, "REQUEST_INVALID")
        : await safeCheck(
            this.pdp,
            request,
            options.signal ? { signal: options.signal } : undefined,
          );
    this.#emit(request, decision, performance.now() - started, context);
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
    this.#write({
      time: new Date().toISOString(),
      type: "list",
      pdp: this.pdp.name,
      subject: auditSubject(subject),
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
    this.#write({
      time: new Date().toISOString(),
      type: "decision",
      pdp: this.pdp.name,
      subject: auditSubject(request.subject),
      method: request.operation.method,
      phase: request.operation.phase,
      resource: {
        type: request.resource.type,
        ...(request.resource.key !== undefined ? { key: request.resource.key } : {}),
      },
      action: request.action,
      ...decisionFields(decision),
      latencyMs: round(latencyMs),
      ...contextFields(context),
    });
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

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function contextFields(context: RequestContext) {
  return {
    ...(context.requestId !== undefined ? { requestId: context.requestId } : {}),
    ...(context.sessionId !== undefined ? { sessionId: context.sessionId } : {}),
  };
}
