import { type AuthorizationRequest, ConfigError, LIST_METHODS, isListMethod } from "@mcp-pdp/core";

/**
 * How neutral requests become Cerbos resources and actions.
 *
 * - `component` (the default): one Cerbos kind per MCP component, the component's own name as the
 *   resource id, and a verb of the MCP method as the action — `mcp_tool` / tool name / `call`,
 *   `mcp_resource` / URI / `read`, `mcp_prompt` / prompt name / `get`. Server-level operations
 *   (the coarse `tools/list` check, `completion/complete`, `logging/setLevel`, ...) use
 *   `mcp_tools` / `list`, `mcp_completion` / `complete`, `mcp_logging` / `setLevel`; completing a
 *   prompt's or a template's arguments is action `complete` on that prompt or resource.
 * - `neutral`: the core mapping unchanged — kind is the neutral resource type (`notes`,
 *   `notes_resources`, ...), the action is the neutral action (`read-note`, `read`, `list`).
 */
export type CerbosScheme = "component" | "neutral";

/** Options of the translation from neutral requests to Cerbos check inputs. */
export interface CerbosMappingOptions {
  /** @defaultValue `"component"` */
  readonly scheme?: CerbosScheme;
  /** Prefix of every kind of the `component` scheme. @defaultValue `"mcp_"` */
  readonly kindPrefix?: string;
  /**
   * Puts the server name in every kind of the `component` scheme (`mcp_notes_tool`), so one Cerbos
   * instance can hold separate policies for several MCP servers. @defaultValue false
   */
  readonly prefixKindWithServer?: boolean;
  /** Replaces the computed kind; receives the request and the kind the scheme chose. */
  readonly kind?: (request: AuthorizationRequest, defaultKind: string) => string;
  /**
   * Roles sent for a subject that has none: Cerbos rejects a principal without roles.
   * @defaultValue `["anonymous"]`
   */
  readonly defaultRoles?: readonly string[];
  /** Policy version sent with every resource (Cerbos uses `default` when absent). */
  readonly policyVersion?: string;
  /** Cerbos scope of every resource, or a function choosing it per request (e.g. by tenant). */
  readonly scope?: string | ((request: AuthorizationRequest) => string | undefined);
}

/** A Cerbos principal as `POST /api/check/resources` takes it. */
export interface CerbosPrincipal {
  readonly id: string;
  readonly roles: readonly string[];
  readonly attr: Record<string, unknown>;
}

/** One resource entry of a Cerbos check, with its single action. */
export interface CerbosResourceEntry {
  readonly resource: {
    readonly kind: string;
    readonly id: string;
    readonly attr: Record<string, unknown>;
    readonly policyVersion?: string;
    readonly scope?: string;
  };
  readonly actions: readonly [string];
}

/** The Cerbos translation of one neutral request. */
export interface CerbosCheckInput {
  readonly principal: CerbosPrincipal;
  readonly entry: CerbosResourceEntry;
  readonly action: string;
}

/** The translation options with defaults applied. */
export interface ResolvedCerbosMapping {
  readonly scheme: CerbosScheme;
  readonly kindPrefix: string;
  readonly prefixKindWithServer: boolean;
  readonly kind: ((request: AuthorizationRequest, defaultKind: string) => string) | undefined;
  readonly defaultRoles: readonly string[];
  readonly policyVersion: string | undefined;
  readonly scope: CerbosMappingOptions["scope"];
}

/** Applies defaults to the translation options and validates them. */
export function resolveCerbosMapping(options: CerbosMappingOptions = {}): ResolvedCerbosMapping {
  const scheme = options.scheme ?? "component";
  if (!(["component", "neutral"] as const).includes(scheme)) {
    throw new ConfigError(
      `cerbos.scheme must be "component" or "neutral", got ${JSON.stringify(scheme)}`,
    );
  }
  const defaultRoles = options.defaultRoles ?? ["anonymous"];
  if (defaultRoles.length === 0 || defaultRoles.some((r) => typeof r !== "string" || r === "")) {
    throw new ConfigError("cerbos.defaultRoles must hold at least one non-empty role");
  }
  return {
    scheme,
    kindPrefix: options.kindPrefix ?? "mcp_",
    prefixKindWithServer: options.prefixKindWithServer ?? false,
    kind: options.kind,
    defaultRoles,
    policyVersion: options.policyVersion,
    scope: options.scope,
  };
}

/** The verb after the first `/` of a method: `resources/read` -> `read`, `a/b/c` -> `b_c`. */
function methodVerb(method: string, fallback: string): string {
  const [, ...rest] = method.split("/");
  return rest.length > 0 && rest.join("") !== "" ? rest.join("_") : fallback;
}

function nonEmpty(...values: (string | undefined)[]): string | undefined {
  return values.find((v): v is string => v !== undefined && v !== "");
}

/** Kind suffix, id and action of the `component` scheme. */
function componentTarget(request: AuthorizationRequest): {
  suffix: string;
  id: string | undefined;
  action: string;
} {
  const op = request.operation;
  // Completing a prompt's or a template's arguments is decided on that component, as `complete`.
  if (op.method === "completion/complete" && op.component !== undefined) {
    const resource = op.component === "resource" || op.component === "resource_template";
    return {
      suffix: resource ? "resource" : op.component,
      id: nonEmpty(resource ? op.uri : op.name, request.resource.key),
      action: "complete",
    };
  }
  switch (op.component) {
    case "tool":
      return { suffix: "tool", id: nonEmpty(op.name, request.resource.key), action: "call" };
    case "prompt":
      return { suffix: "prompt", id: nonEmpty(op.name, request.resource.key), action: "get" };
    case "resource":
    case "resource_template":
      // Reading through a template is a resources/read: both share the resource kind, so one
      // policy decides the template's visibility and the reads of URIs it produces.
      return {
        suffix: "resource",
        id: nonEmpty(op.uri, request.resource.key),
        action: op.method.startsWith("resources/") ? methodVerb(op.method, "read") : "read",
      };
    case undefined:
      break;
  }
  if (isListMethod(op.method)) {
    return { suffix: LIST_METHODS[op.method].type, id: request.resource.key, action: "list" };
  }
  const head = op.method.split("/")[0] ?? op.method;
  return { suffix: head, id: request.resource.key, action: methodVerb(op.method, "call") };
}

function principalOf(request: AuthorizationRequest, mapping: ResolvedCerbosMapping) {
  const s = request.subject;
  const roles = [...new Set((s.roles ?? []).filter((r) => typeof r === "string" && r !== ""))];
  // The adapter's own keys are written last: a claim named `authenticated` cannot overrule the
  // identity resolver.
  const attr: Record<string, unknown> = {
    ...s.attributes,
    authenticated: s.authenticated,
    ...(s.tenant !== undefined ? { tenant: s.tenant } : {}),
    ...(s.scopes !== undefined ? { scopes: [...s.scopes] } : {}),
  };
  return { id: s.id, roles: roles.length > 0 ? roles : [...mapping.defaultRoles], attr };
}

function resourceAttr(request: AuthorizationRequest): Record<string, unknown> {
  const op = request.operation;
  const tenant = request.resource.tenant ?? request.subject.tenant;
  const meta = op.metadata;
  // Written after the mapped attributes so an argument (with an empty argument prefix) cannot
  // pose as the phase or the method.
  return {
    ...request.resource.attributes,
    ...(request.context !== undefined && !("context" in request.resource.attributes)
      ? { context: request.context }
      : {}),
    ...(meta?.annotations !== undefined ? { annotations: meta.annotations } : {}),
    ...(meta?.tags !== undefined ? { tags: [...meta.tags] } : {}),
    ...(tenant !== undefined ? { tenant } : {}),
    ...(op.component !== undefined ? { component: op.component } : {}),
    ...(op.name !== undefined ? { name: op.name } : {}),
    ...(op.uri !== undefined ? { uri: op.uri } : {}),
    server: op.server,
    mcp_method: op.method,
    phase: op.phase,
  };
}

/**
 * Translates one neutral request into a Cerbos principal, resource entry and action. Throws a
 * {@link ConfigError} when the request cannot be expressed (an empty subject id or kind).
 */
export function toCerbos(
  request: AuthorizationRequest,
  mapping: ResolvedCerbosMapping,
): CerbosCheckInput {
  if (request.subject.id === "") {
    throw new ConfigError("the subject has an empty id: Cerbos requires a principal id");
  }
  let kind: string;
  let id: string | undefined;
  let action: string;
  if (mapping.scheme === "neutral") {
    kind = request.resource.type;
    id = nonEmpty(request.resource.key, request.operation.name, request.operation.uri);
    action = request.action;
  } else {
    const target = componentTarget(request);
    const server = mapping.prefixKindWithServer ? `${request.operation.server}_` : "";
    kind = `${mapping.kindPrefix}${server}${target.suffix}`;
    id = target.id;
    action = target.action;
  }
  if (mapping.kind) kind = mapping.kind(request, kind);
  if (kind === "") throw new ConfigError("the Cerbos resource kind is empty");
  if (action === "") throw new ConfigError("the Cerbos action is empty");
  // Cerbos requires a resource id; server-level checks have none of their own.
  const resourceId = id ?? nonEmpty(request.resource.type) ?? kind;
  const scope = typeof mapping.scope === "function" ? mapping.scope(request) : mapping.scope;
  return {
    principal: principalOf(request, mapping),
    entry: {
      resource: {
        kind,
        id: resourceId,
        attr: resourceAttr(request),
        ...(mapping.policyVersion !== undefined ? { policyVersion: mapping.policyVersion } : {}),
        ...(scope !== undefined && scope !== "" ? { scope } : {}),
      },
      actions: [action],
    },
    action,
  };
}
