import type { ArgumentLimits } from "./mapping.js";

/**
 * The neutral request model. One {@link AuthorizationRequest} is built per MCP operation (or per
 * item of a list result); adapters translate it to their PDP's vocabulary.
 */

/** Who is asking. */
export interface Subject {
  /** Stable identifier of the caller (user key, token subject, client id). */
  readonly id: string;
  /** Whether the identity was established by a verified credential or a trusted configuration. */
  readonly authenticated: boolean;
  readonly roles?: readonly string[];
  readonly tenant?: string;
  /** Attributes a policy may read (claims, headers chosen by the identity resolver, ...). */
  readonly attributes?: Readonly<Record<string, unknown>>;
  /** OAuth scopes granted to the caller's token, when there is one. */
  readonly scopes?: readonly string[];
  /**
   * The id is itself a credential (a bearer token used as the user key, see
   * `headerIdentity`'s `allowCredentialAsIdentity`). PDPs still receive it, since it is the key
   * their policies know; audit events carry its digest (`sha256:<hex>`) instead.
   */
  readonly idIsCredential?: boolean;
}

/** The component kinds MCP exposes. */
export type ComponentKind = "tool" | "resource" | "resource_template" | "prompt";

/** What the server declared about a component: read from its registration or its last list. */
export interface ComponentMetadata {
  readonly title?: string;
  readonly description?: string;
  /** Tool annotations (`readOnlyHint`, `destructiveHint`, ...). */
  readonly annotations?: Readonly<Record<string, unknown>>;
  /** The component's `_meta` object. */
  readonly meta?: Readonly<Record<string, unknown>>;
  /** Tags read from `_meta.tags` (or `_meta["mcp-pdp/tags"]`). */
  readonly tags?: readonly string[];
}

/** A neutral view of the MCP call being decided. */
export interface Operation {
  /** The JSON-RPC method: `tools/call`, `tools/list`, `resources/read`, ... */
  readonly method: string;
  /** `list` when deciding whether one item of a list result is visible. */
  readonly phase: "call" | "list";
  readonly component?: ComponentKind;
  /** Tool or prompt name. */
  readonly name?: string;
  /** Resource URI (or URI template for a template item). */
  readonly uri?: string;
  /** Tool or prompt arguments as the client sent them (absent in the list phase). */
  readonly arguments?: Readonly<Record<string, unknown>>;
  /**
   * The limits the mapping checked `arguments` against (its resolved `argumentLimits`), set with
   * them. A PDP that receives arguments whole bounds its copy with these
   * ({@link boundArguments}), so what the mapping accepted whole reaches the policy whole; without
   * them, core's defaults apply. Raising `argumentLimits` raises what such a PDP is sent too.
   */
  readonly argumentLimits?: ArgumentLimits;
  /** The server name used in the mapping. */
  readonly server: string;
  /** What the server declared about the component, when known. Never taken from the client. */
  readonly metadata?: ComponentMetadata;
}

/** The resource being acted upon, in the PDP's terms. */
export interface Resource {
  readonly type: string;
  readonly key?: string;
  readonly tenant?: string;
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** One question for a PDP. */
export interface AuthorizationRequest {
  readonly subject: Subject;
  readonly operation: Operation;
  readonly resource: Resource;
  readonly action: string;
  readonly context?: Readonly<Record<string, unknown>>;
}

/**
 * Where a decision came from: the PDP, the decision cache, a failure (a deny), a bypassed method,
 * or the guard itself without the PDP (another subject's task refused, in audit events).
 */
export type DecisionSource = "pdp" | "cache" | "error" | "bypass" | "guard";

/** A PDP's answer. A decision is a value: denials are never exceptions. */
export interface Decision {
  readonly allow: boolean;
  /** A short explanation (the deciding rule, the PDP's reason, or what failed). */
  readonly reason?: string;
  /**
   * A message meant for the caller (for example an `AuthorizationError` thrown by a check). The
   * guard shows it to the client; `reason` is shown only when the operator opts in.
   */
  readonly message?: string;
  /** The PDP's identifier for this decision, for correlating with its logs. */
  readonly decisionId?: string;
  readonly source: DecisionSource;
  /** For `source: "error"`: the failure's stable code (`PDP_UNAVAILABLE`, `PDP_TIMEOUT`, ...). */
  readonly errorCode?: string;
  /**
   * `false` when no rule of the PDP applied and the deny is only its default. Lets
   * {@link firstApplicable} fall through to the next PDP.
   */
  readonly applicable?: boolean;
}

/** Options for one check. */
export interface CheckOptions {
  /** Aborts the PDP call; an aborted check resolves to an error deny. */
  readonly signal?: AbortSignal;
}

/**
 * A Policy Decision Point. `check` must always resolve (a failure is a deny with
 * `source: "error"`), never reject.
 */
export interface PolicyDecisionPoint {
  readonly name: string;
  check(request: AuthorizationRequest, options?: CheckOptions): Promise<Decision>;
  /**
   * Answers at once when no I/O is needed (an in-process engine, a cache hit), so the guard can
   * decide in the same tick as the request arrives. `undefined` means "call `check`". Must not
   * throw; takes no signal since it never waits.
   */
  checkSync?(request: AuthorizationRequest): Decision | undefined;
  /** Decides many requests at once, answering in the same order. */
  checkMany?(
    requests: readonly AuthorizationRequest[],
    options?: CheckOptions,
  ): Promise<Decision[]>;
  /** Releases connections and timers. */
  close?(): Promise<void>;
}

/** A PDP decorator: cross-cutting behaviour composed around any PDP. */
export type PdpDecorator = (pdp: PolicyDecisionPoint) => PolicyDecisionPoint;

/** Builds an allow decision. */
export function allow(reason?: string, extra: Partial<Decision> = {}): Decision {
  return { allow: true, source: "pdp", ...(reason === undefined ? {} : { reason }), ...extra };
}

/** Builds a deny decision. */
export function deny(reason?: string, extra: Partial<Decision> = {}): Decision {
  return { allow: false, source: "pdp", ...(reason === undefined ? {} : { reason }), ...extra };
}
