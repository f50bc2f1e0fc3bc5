import type { ComponentKind, Operation, Resource } from "./model.js";
import type { Mutable } from "./types.js";
import { ConfigError } from "./errors.js";
import { is2026Method, map2026 } from "./mapping2026.js";

/** Bounds on how tool arguments are flattened into `arg_*` attributes. */
export interface ArgumentLimits {
  /** Nesting depth followed into objects and arrays. @defaultValue 6 */
  readonly maxDepth?: number;
  /** Total flattened attributes per request. @defaultValue 256 */
  readonly maxKeys?: number;
  /** Characters kept of a string value. @defaultValue 1024 */
  readonly maxStringLength?: number;
  /** Items followed in one array. @defaultValue 64 */
  readonly maxArrayItems?: number;
  /** Longest attribute name (prefix and joined path) kept; a longer one is dropped. @defaultValue 256 */
  readonly maxKeyLength?: number;
}

/** How MCP methods map to resource/action pairs. Defaults follow permit-fastmcp. */
export interface MappingOptions {
  /** The `{server}` in resource types. @defaultValue `"mcp_server"` (or `MCP_SERVER_NAME`) */
  readonly serverName?: string;
  /** Resource types are `{server}_{component}`; when false, `{resourcePrefix}{component}`. @defaultValue true */
  readonly prefixResourceWithServerName?: boolean;
  /** Prefix used when `prefixResourceWithServerName` is false. @defaultValue `"mcp_"` */
  readonly resourcePrefix?: string;
  /** Prepended to every action. @defaultValue `""` */
  readonly actionPrefix?: string;
  /** `normalize` turns `.`, `/` and `_` in tool names into `-` for the action; `raw` keeps them. @defaultValue `"normalize"` */
  readonly toolNames?: "normalize" | "raw";
  /** Flatten tool and prompt arguments into resource attributes. @defaultValue true */
  readonly flattenArguments?: boolean;
  /** Prefix of flattened argument attributes. @defaultValue `"arg_"` */
  readonly argumentPrefix?: string;
  readonly argumentLimits?: ArgumentLimits;
  /**
   * What happens when arguments exceed `argumentLimits` so that attributes are left out (too many
   * keys, too deep, too many array items, too long a key; a long string is only shortened):
   * `deny` decides the request as an error deny without asking the PDP, since a policy can't
   * judge what it doesn't see; `truncate` sends what fits, marked `arguments_truncated: true`.
   * @defaultValue `"deny"`
   */
  readonly argumentOverflow?: "deny" | "truncate";
  /** Methods (globs with `*`) that are never checked. @defaultValue `["initialize", "server/discover", "ping", "notifications/*"]` */
  readonly bypass?: readonly string[];
}

/** {@link MappingOptions} with every default applied. */
export interface ResolvedMapping {
  readonly serverName: string;
  readonly prefixResourceWithServerName: boolean;
  readonly resourcePrefix: string;
  readonly actionPrefix: string;
  readonly toolNames: "normalize" | "raw";
  readonly flattenArguments: boolean;
  readonly argumentPrefix: string;
  readonly argumentLimits: Required<ArgumentLimits>;
  readonly argumentOverflow: "deny" | "truncate";
  readonly bypass: readonly string[];
  readonly isBypassed: (method: string) => boolean;
}

/** The result of mapping one MCP operation. */
export interface MappedOperation {
  readonly operation: Operation;
  readonly resource: Resource;
  readonly action: string;
  /**
   * Set when the request cannot be decided faithfully (an unparsable resource URI, arguments that
   * flatten ambiguously or overflow the limits): it is denied without asking the PDP.
   */
  readonly problem?: string;
}

export const DEFAULT_SERVER_NAME = "mcp_server";
/** The default {@link ArgumentLimits}. */
export const DEFAULT_LIMITS: Required<ArgumentLimits> = Object.freeze({
  maxDepth: 6,
  maxKeys: 256,
  maxStringLength: 1024,
  maxArrayItems: 64,
  maxKeyLength: 256,
});
export const DEFAULT_BYPASS: readonly string[] = [
  "initialize",
  // The 2026-07-28 handshake: it carries no component and every client sends it first.
  "server/discover",
  "ping",
  "notifications/*",
];
const RESERVED_ATTRIBUTES = new Set([
  "tool_name",
  "mcp_method",
  "prompt_name",
  "resource_uri",
  "arguments_truncated",
]);

/** The list methods whose results are filtered per item, and the result field holding the items. */
export const LIST_METHODS = {
  "tools/list": { field: "tools", component: "tool", callMethod: "tools/call", type: "tools" },
  "resources/list": {
    field: "resources",
    component: "resource",
    callMethod: "resources/read",
    type: "resources",
  },
  "resources/templates/list": {
    field: "resourceTemplates",
    component: "resource_template",
    callMethod: "resources/read",
    type: "resource_templates",
  },
  "prompts/list": {
    field: "prompts",
    component: "prompt",
    callMethod: "prompts/get",
    type: "prompts",
  },
} as const satisfies Record<
  string,
  { field: string; component: ComponentKind; callMethod: string; type: string }
>;

export type ListMethod = keyof typeof LIST_METHODS;

export function isListMethod(method: string): method is ListMethod {
  return Object.hasOwn(LIST_METHODS, method);
}

/** Compiles a glob with `*` wildcards (matching any run of characters) into a RegExp. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}$`, "s");
}

/**
 * A test for the bypass globs, checked on every request: exact names by a set lookup, `prefix*`
 * globs by `startsWith`, and only other globs by regular expression.
 */
function bypassMatcher(globs: readonly string[]): (method: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const patterns: RegExp[] = [];
  for (const glob of globs) {
    const star = glob.indexOf("*");
    if (star === -1) exact.add(glob);
    else if (star === glob.length - 1) prefixes.push(glob.slice(0, -1));
    else patterns.push(globToRegExp(glob));
  }
  return (method) => {
    if (exact.has(method)) return true;
    for (const prefix of prefixes) if (method.startsWith(prefix)) return true;
    for (const pattern of patterns) if (pattern.test(method)) return true;
    return false;
  };
}

/** Applies defaults to mapping options and validates them. */
export function resolveMapping(options: MappingOptions = {}): ResolvedMapping {
  const serverName = options.serverName ?? DEFAULT_SERVER_NAME;
  if (serverName.trim() === "") throw new ConfigError("mapping.serverName must not be empty");
  const bypass = options.bypass ?? DEFAULT_BYPASS;
  const isBypassed = bypassMatcher(bypass);
  const limits = options.argumentLimits ?? {};
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isInteger(v) || (v as number) < 0) {
      throw new ConfigError(
        `mapping.argumentLimits.${k} must be a non-negative integer, got ${String(v)}`,
      );
    }
  }
  return {
    serverName,
    prefixResourceWithServerName: options.prefixResourceWithServerName ?? true,
    resourcePrefix: options.resourcePrefix ?? "mcp_",
    actionPrefix: options.actionPrefix ?? "",
    toolNames: options.toolNames ?? "normalize",
    flattenArguments: options.flattenArguments ?? true,
    argumentPrefix: options.argumentPrefix ?? "arg_",
    argumentOverflow: options.argumentOverflow ?? "deny",
    argumentLimits: {
      maxDepth: limits.maxDepth ?? DEFAULT_LIMITS.maxDepth,
      maxKeys: limits.maxKeys ?? DEFAULT_LIMITS.maxKeys,
      maxStringLength: limits.maxStringLength ?? DEFAULT_LIMITS.maxStringLength,
      maxArrayItems: limits.maxArrayItems ?? DEFAULT_LIMITS.maxArrayItems,
      maxKeyLength: limits.maxKeyLength ?? DEFAULT_LIMITS.maxKeyLength,
    },
    bypass,
    isBypassed,
  };
}

/** The action for a tool: its name, normalised unless `toolNames: "raw"`. */
export function toolAction(name: string, mapping: ResolvedMapping): string {
  if (mapping.toolNames === "raw") return mapping.actionPrefix + name;
  let action = normalized.get(name);
  if (action === undefined) {
    action = name.replace(/[./_]/g, "-");
    if (normalized.size >= 4096) normalized.clear(); // a server has few tools; clients can send any name
    normalized.set(name, action);
  }
  return mapping.actionPrefix + action;
}

const normalized = new Map<string, string>();

function componentType(component: string, mapping: ResolvedMapping): string {
  return mapping.prefixResourceWithServerName
    ? `${mapping.serverName}_${component}`
    : `${mapping.resourcePrefix}${component}`;
}

/**
 * The object flattened arguments are written to: its prototype chain is one empty object with no
 * prototype, so nothing is inherited (`__proto__` or `constructor` are plain own keys when
 * assigned), while V8 keeps it a fast object rather than the dictionary `Object.create(null)` gives.
 */
const Attributes = function Attributes() {} as unknown as new () => object;
// Frozen: it stays empty, so nothing can ever be inherited through it.
Attributes.prototype = Object.freeze(Object.create(null) as object);

/** The result of flattening arguments. */
export interface FlattenedArguments {
  readonly attributes: Record<string, unknown>;
  /** True when a limit cut something (a long string, a deep object, too many keys). */
  readonly truncated: boolean;
  /** True when attributes were left out (not just a string shortened). */
  readonly dropped: boolean;
  /** True when two arguments flattened to the same attribute name (`{a: {b: 1}, a_b: 2}`). */
  readonly ambiguous: boolean;
}

/**
 * Flattens arguments into `{prefix}{path}` attributes with primitive values, joining nested keys and
 * array indexes with `_`. Bounded in depth, key count, string length and array length, so a huge
 * argument never becomes a huge PDP request. The result has no prototype: a key such as
 * `__proto__` stays a plain key.
 */
export function flattenArguments(
  args: Readonly<Record<string, unknown>> | undefined,
  prefix = "arg_",
  limits: ArgumentLimits = {},
): FlattenedArguments {
  const state: FlattenState = {
    out: new Attributes() as Record<string, unknown>,
    count: 0,
    truncated: false,
    dropped: false,
    ambiguous: false,
    maxDepth: limits.maxDepth ?? DEFAULT_LIMITS.maxDepth,
    maxKeys: limits.maxKeys ?? DEFAULT_LIMITS.maxKeys,
    maxStringLength: limits.maxStringLength ?? DEFAULT_LIMITS.maxStringLength,
    maxArrayItems: limits.maxArrayItems ?? DEFAULT_LIMITS.maxArrayItems,
    maxKeyLength: limits.maxKeyLength ?? DEFAULT_LIMITS.maxKeyLength,
  };
  if (args) {
    for (const key of Object.keys(args)) visit(state, args[key], prefixed(prefix, key), 0);
  }
  return {
    attributes: state.out,
    truncated: state.truncated || state.dropped,
    dropped: state.dropped,
    ambiguous: state.ambiguous,
  };
}

/**
 * `prefix + key`, remembered: the same few argument names come with every call, and a string made
 * anew must be looked up in V8's string table each time it is used as a property name.
 */
function prefixed(prefix: string, key: string): string {
  let names = prefixedNames.get(prefix);
  if (names === undefined) {
    if (prefixedNames.size >= 16) prefixedNames.clear();
    names = new Map<string, string>();
    prefixedNames.set(prefix, names);
  }
  let name = names.get(key);
  if (name === undefined) {
    name = prefix + key;
    // Clients can send any names: the memory stays bounded.
    if (names.size >= 4096) names.clear();
    names.set(key, name);
  }
  return name;
}

const prefixedNames = new Map<string, Map<string, string>>();

/** What one flattening has written and seen; plain fields, so the walk allocates nothing else. */
interface FlattenState extends Required<ArgumentLimits> {
  readonly out: Record<string, unknown>;
  count: number;
  truncated: boolean;
  dropped: boolean;
  ambiguous: boolean;
}

function put(state: FlattenState, path: string, value: unknown): void {
  if (path in state.out) state.ambiguous = true; // nothing inherited: `in` sees own keys only
  state.out[path] = value;
  state.count++;
}

function visit(state: FlattenState, value: unknown, path: string, depth: number): void {
  // A huge key must not become a huge attribute name either.
  if (state.count >= state.maxKeys || path.length > state.maxKeyLength) {
    state.dropped = true;
    return;
  }
  // Never overwrite the mapping's own attributes, even through a nested path with an empty prefix.
  if (RESERVED_ATTRIBUTES.has(path)) {
    state.ambiguous = true;
    return;
  }
  if (value === null || typeof value === "number" || typeof value === "boolean") {
    put(state, path, value);
    return;
  }
  if (typeof value === "string") {
    if (value.length > state.maxStringLength) {
      state.truncated = true;
      put(state, path, value.slice(0, state.maxStringLength));
    } else {
      put(state, path, value);
    }
    return;
  }
  if (typeof value !== "object") return; // undefined, functions, symbols, bigint: not JSON
  if (depth >= state.maxDepth) {
    state.dropped = true;
    return;
  }
  if (Array.isArray(value)) {
    if (value.length > state.maxArrayItems) state.dropped = true;
    const n = Math.min(value.length, state.maxArrayItems);
    for (let i = 0; i < n; i++) visit(state, value[i], `${path}_${i}`, depth + 1);
    return;
  }
  for (const key of Object.keys(value)) {
    visit(state, (value as Record<string, unknown>)[key], `${path}_${key}`, depth + 1);
  }
}

/**
 * A bounded deep copy of arguments, for PDPs that receive them whole (OPA input, Eunomia): strings
 * shortened, depth, array length and key count limited as in {@link flattenArguments}.
 */
export function boundArguments(
  args: Readonly<Record<string, unknown>>,
  limits: ArgumentLimits = {},
): { readonly value: Record<string, unknown>; readonly truncated: boolean } {
  const { maxDepth, maxKeys, maxStringLength, maxArrayItems } = { ...DEFAULT_LIMITS, ...limits };
  let budget = maxKeys;
  let truncated = false;
  const copy = (value: unknown, depth: number): unknown => {
    if (typeof value === "string") {
      if (value.length <= maxStringLength) return value;
      truncated = true;
      return value.slice(0, maxStringLength);
    }
    if (value === null || typeof value !== "object") return value;
    if (depth >= maxDepth) {
      truncated = true;
      return undefined;
    }
    if (Array.isArray(value)) {
      if (value.length > maxArrayItems) truncated = true;
      return value.slice(0, maxArrayItems).map((v) => copy(v, depth + 1));
    }
    const out = Object.create(null) as Record<string, unknown>;
    for (const key of Object.keys(value)) {
      if (budget-- <= 0) {
        truncated = true;
        break;
      }
      out[key] = copy((value as Record<string, unknown>)[key], depth + 1);
    }
    return out;
  };
  return { value: copy(args, 0) as Record<string, unknown>, truncated };
}

/**
 * The URI a server resolves: `new URL(uri).href` (scheme lowercased, `..` resolved), as the SDK's
 * `McpServer` routes reads. Undefined for a string that is not a URI.
 */
export function canonicalUri(uri: string): string | undefined {
  try {
    return new URL(uri).href;
  } catch {
    return undefined;
  }
}

/** The action for a verb, with the configured prefix. */
function act(mapping: ResolvedMapping, verb: string): string {
  return mapping.actionPrefix + verb;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function asString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function withArguments(
  base: Record<string, unknown>,
  args: Readonly<Record<string, unknown>> | undefined,
  mapping: ResolvedMapping,
): { attributes: Record<string, unknown>; problem?: string } {
  if (!mapping.flattenArguments || !args) return { attributes: base };
  const flat = flattenArguments(args, mapping.argumentPrefix, mapping.argumentLimits);
  const attributes = Object.assign(flat.attributes, base); // ours to extend: no copy
  if (flat.truncated) attributes.arguments_truncated = true;
  if (flat.ambiguous) {
    return { attributes, problem: "arguments flatten to ambiguous or reserved attribute names" };
  }
  if (flat.dropped && mapping.argumentOverflow === "deny") {
    return { attributes, problem: "arguments exceed the authorization limits (argumentLimits)" };
  }
  return { attributes };
}

/**
 * Maps one MCP request to its operation, resource and action (the default, Permit-style scheme).
 * Call {@link ResolvedMapping.isBypassed} first: bypassed methods are not mapped.
 */
export function mapRequest(
  method: string,
  params: unknown,
  mapping: ResolvedMapping,
): MappedOperation {
  const p = asRecord(params) ?? {};
  const server = mapping.serverName;
  switch (method) {
    case "tools/call": {
      // Written out without spreads: this is the hot path of every guarded call.
      const name = asString(p.name) ?? "";
      const args = asRecord(p.arguments);
      const { attributes, problem } = withArguments(
        { tool_name: name, mcp_method: method },
        args,
        mapping,
      );
      const operation: Mutable<Operation> = {
        method,
        phase: "call",
        component: "tool",
        name,
        server,
      };
      if (args) operation.arguments = args;
      const mapped: Mutable<MappedOperation> = {
        operation,
        resource: { type: server, attributes },
        action: toolAction(name, mapping),
      };
      if (problem !== undefined) mapped.problem = problem;
      return mapped;
    }
    case "resources/read":
    case "resources/subscribe":
    case "resources/unsubscribe": {
      // Decided on the URI the server will resolve, not the spelling the client sent.
      const raw = asString(p.uri) ?? "";
      const uri = canonicalUri(raw);
      return {
        operation: { method, phase: "call", component: "resource", uri: uri ?? raw, server },
        resource: {
          type: componentType("resources", mapping),
          key: uri ?? raw,
          attributes: { resource_uri: uri ?? raw, mcp_method: method },
        },
        action: act(mapping, method.slice("resources/".length)),
        ...(uri === undefined ? { problem: "the resource URI is not a valid URI" } : {}),
      };
    }
    case "prompts/get": {
      const name = asString(p.name) ?? "";
      const args = asRecord(p.arguments);
      const { attributes, problem } = withArguments(
        { prompt_name: name, mcp_method: method },
        args,
        mapping,
      );
      return {
        operation: {
          method,
          phase: "call",
          component: "prompt",
          name,
          server,
          ...(args ? { arguments: args } : {}),
        },
        resource: { type: componentType("prompts", mapping), key: name, attributes },
        action: act(mapping, "get"),
        ...(problem !== undefined ? { problem } : {}),
      };
    }
    case "completion/complete": {
      const ref = asRecord(p.ref) ?? {};
      const refType = asString(ref.type);
      const attributes: Record<string, unknown> = { mcp_method: method };
      if (refType !== undefined) attributes.ref_type = refType;
      const refName = asString(ref.name);
      const refUri = asString(ref.uri);
      if (refName !== undefined) attributes.ref_name = refName;
      if (refUri !== undefined) attributes.ref_uri = refUri;
      // Completing a prompt's or a template's arguments is about that component: per-component
      // rules and checks must see which one.
      const target =
        refType === "ref/prompt" && refName !== undefined
          ? { component: "prompt" as const, name: refName }
          : refType === "ref/resource" && refUri !== undefined
            ? { component: "resource_template" as const, uri: refUri }
            : {};
      const key = refName ?? refUri;
      return {
        operation: { method, phase: "call", server, ...target },
        resource: {
          type: componentType("completion", mapping),
          ...(key !== undefined ? { key } : {}),
          attributes,
        },
        action: act(mapping, "complete"),
      };
    }
    default:
      if (is2026Method(method)) {
        return map2026(method, p, mapping, (c) => componentType(c, mapping), canonicalUri);
      }
      break;
  }
  if (isListMethod(method)) {
    return {
      operation: { method, phase: "call", server },
      resource: {
        type: componentType(LIST_METHODS[method].type, mapping),
        attributes: { mcp_method: method },
      },
      action: act(mapping, "list"),
    };
  }
  // Any other `a/b[/c]`: resource `{server}_a`, action `b[_c]`.
  const [head = method, ...rest] = method.split("/");
  return {
    operation: { method, phase: "call", server },
    resource: { type: componentType(head, mapping), attributes: { mcp_method: method } },
    action: act(mapping, rest.length > 0 ? rest.join("_") : "call"),
  };
}

/**
 * Maps one item of a list result to the same resource/action as calling or reading it, with
 * `phase: "list"` and no arguments, so one policy governs both listing and calling.
 * Returns undefined for an item without a usable name or URI (such an item is hidden).
 */
export function mapListItem(
  method: ListMethod,
  item: unknown,
  mapping: ResolvedMapping,
): MappedOperation | undefined {
  const it = asRecord(item);
  if (!it) return undefined;
  const { component, callMethod } = LIST_METHODS[method];
  const server = mapping.serverName;
  if (component === "tool" || component === "prompt") {
    const name = asString(it.name);
    if (name === undefined) return undefined;
    const mapped = mapRequest(callMethod, { name }, mapping);
    // Set on the objects just built rather than spread into copies: V8 makes an object copied by
    // a spread slow to extend, and the Authorizer adds the metadata to this one.
    (mapped.operation as Mutable<Operation>).phase = "list";
    return mapped;
  }
  const listed = asString(component === "resource" ? it.uri : it.uriTemplate);
  if (listed === undefined) return undefined;
  // A listed resource is decided like reading it (canonical URI); a template stays as declared.
  const uri = component === "resource" ? canonicalUri(listed) : listed;
  if (uri === undefined) return undefined;
  return {
    operation: { method: callMethod, phase: "list", component, uri, server },
    resource: {
      type: componentType("resources", mapping),
      key: uri,
      attributes: { resource_uri: uri, mcp_method: callMethod },
    },
    action: mapping.actionPrefix + "read",
  };
}
