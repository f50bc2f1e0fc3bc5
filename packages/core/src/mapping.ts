import type { ComponentKind, Operation, Resource } from "./model.js";
import type { Mutable } from "./types.js";
import { ConfigError } from "./errors.js";
import { is2026Method, map2026 } from "./mapping2026.js";
import { seal } from "./sealed.js";
import { listedActions, normalizeToolName, rememberListedTool } from "./tool-actions.js";

/**
 * Bounds on the arguments a request may carry and still be decided: how far they are flattened
 * into `arg_*` attributes, and copied for PDPs that receive them whole ({@link boundArguments}).
 * With `argumentOverflow: "deny"` (the default) a request whose arguments go past any of them is
 * denied without asking the PDP.
 */
export interface ArgumentLimits {
  /** Nesting depth followed into objects and arrays below the arguments. @defaultValue 6 */
  readonly maxDepth?: number;
  /** Total flattened attributes per request. @defaultValue 256 */
  readonly maxKeys?: number;
  /** Characters kept of a string value. @defaultValue 1024 */
  readonly maxStringLength?: number;
  /** Items followed in one array. @defaultValue 64 */
  readonly maxArrayItems?: number;
  /**
   * Longest attribute name (prefix and joined path) kept, and longest argument key copied by
   * {@link boundArguments}; a longer one is dropped. @defaultValue 256
   */
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
   * What happens when arguments go past `argumentLimits`, so that something would be cut (a string
   * longer than `maxStringLength`, too many keys, too deep, too many array items, too long a key),
   * whether or not they are flattened: `deny` decides the request as an error deny
   * (`REQUEST_INVALID`) without asking the PDP, since a policy cannot judge what it does not see
   * (`allowed/<padding>/../secret` cut before its `..` would pass a `not contains ".."` rule);
   * `truncate` sends what fits, marked `arguments_truncated: true`.
   * @defaultValue `"deny"`
   */
  readonly argumentOverflow?: "deny" | "truncate";
  /**
   * Longest tool name, prompt name and completion reference name (and type) accepted, in UTF-16
   * code units (methods have their own limit, {@link MAX_METHOD_LENGTH}); a request with a longer
   * one is denied (`REQUEST_INVALID`) before any other work, and a listed tool or prompt with a
   * longer name is hidden. @defaultValue 256
   */
  readonly maxNameLength?: number;
  /**
   * Longest resource URI (or URI template) accepted, as the client or server spelt it; a request
   * with a longer one is denied (`REQUEST_INVALID`) before it is parsed, and a listed resource or
   * template with a longer one is hidden. @defaultValue 4096
   */
  readonly maxUriLength?: number;
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
  readonly maxNameLength: number;
  readonly maxUriLength: number;
  readonly bypass: readonly string[];
  /** Whether a method is never checked; false for a method longer than {@link MAX_METHOD_LENGTH}. */
  readonly isBypassed: (method: string) => boolean;
}

/** The result of mapping one MCP operation. */
export interface MappedOperation {
  readonly operation: Operation;
  readonly resource: Resource;
  readonly action: string;
  /**
   * Set when the request cannot be decided faithfully (a name or URI over the length limits, a
   * resource URI that does not parse or that the URL parser would change unseen, arguments that
   * flatten ambiguously or overflow the limits): it is denied without asking the PDP. Never holds
   * anything the client sent. When a name or URI is over its limit, the operation, resource and
   * action hold its {@link boundedText} form, never the whole of it.
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
/** The default {@link MappingOptions.maxNameLength}. */
export const DEFAULT_MAX_NAME_LENGTH = 256;
/** The default {@link MappingOptions.maxUriLength}. */
export const DEFAULT_MAX_URI_LENGTH = 4096;
/**
 * The longest method accepted: a longer one is never bypassed, and is denied (`REQUEST_INVALID`)
 * as a request of resource type `{server}_unknown`. MCP's methods have fewer than 64 characters.
 */
export const MAX_METHOD_LENGTH = 256;
const RESERVED_ATTRIBUTES = new Set([
  "tool_name",
  "mcp_method",
  "prompt_name",
  "resource_uri",
  "resource_uri_raw",
  "arguments_truncated",
]);

/** Characters of an oversized string kept by {@link boundedText}. */
const BOUNDED_PREFIX = 64;

/**
 * `value` itself when it has at most `max` characters; otherwise its first 64 characters followed
 * by `…(<length> chars)`, in a string of its own (a slice of a long string can keep the whole of it
 * alive). What is recorded or shown of a name, URI or id a client sent too long.
 */
export function boundedText(value: string, max: number): string {
  if (value.length <= max) return value;
  // Copied through a buffer: V8 may make a slice a view that holds on to the original string.
  const head = Buffer.from(value.slice(0, Math.min(max, BOUNDED_PREFIX)), "utf16le").toString(
    "utf16le",
  );
  return `${head}…(${value.length} chars)`;
}

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

/**
 * Compiles a glob with `*` wildcards (matching any run of characters) into a RegExp. A pattern with
 * several `*` can take polynomial time on a long input (`a*b*c*d` on a 4 KiB string: seconds):
 * prefer {@link globMatcher}, which is linear, for anything a client can make long.
 */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}$`, "s");
}

/**
 * Compiles a glob with `*` wildcards (matching any run of characters, newlines included) into a
 * test that runs in time linear in the input (the parts between stars are found left to right,
 * each at its first place: with `*` as the only wildcard, the first place is always a right one).
 */
export function globMatcher(glob: string): (value: string) => boolean {
  const parts = glob.split("*");
  if (parts.length === 1) return (value) => value === glob;
  const first = parts[0] as string;
  const last = parts[parts.length - 1] as string;
  const middle = parts.slice(1, -1).filter((p) => p !== "");
  const least = middle.reduce((n, p) => n + p.length, first.length + last.length);
  return (value) => {
    if (value.length < least || !value.startsWith(first) || !value.endsWith(last)) return false;
    const end = value.length - last.length;
    let at = first.length;
    for (const part of middle) {
      const found = value.indexOf(part, at);
      if (found === -1 || found + part.length > end) return false;
      at = found + part.length;
    }
    return true;
  };
}

/**
 * A test for the bypass globs, checked on every request: exact names by a set lookup, `prefix*`
 * globs by `startsWith`, other globs by {@link globMatcher}. A method longer than `maxLength` is
 * never bypassed (the mapping denies it).
 */
function bypassMatcher(globs: readonly string[], maxLength: number): (method: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const patterns: ((method: string) => boolean)[] = [];
  for (const glob of globs) {
    const star = glob.indexOf("*");
    if (star === -1) exact.add(glob);
    else if (star === glob.length - 1) prefixes.push(glob.slice(0, -1));
    else patterns.push(globMatcher(glob));
  }
  return (method) => {
    if (method.length > maxLength) return false;
    if (exact.has(method)) return true;
    for (const prefix of prefixes) if (method.startsWith(prefix)) return true;
    for (const pattern of patterns) if (pattern(method)) return true;
    return false;
  };
}

/** Applies defaults to mapping options and validates them. */
export function resolveMapping(options: MappingOptions = {}): ResolvedMapping {
  const serverName = options.serverName ?? DEFAULT_SERVER_NAME;
  if (serverName.trim() === "") throw new ConfigError("mapping.serverName must not be empty");
  const bypass = options.bypass ?? DEFAULT_BYPASS;
  for (const key of ["maxNameLength", "maxUriLength"] as const) {
    const v = options[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw new ConfigError(`mapping.${key} must be a positive integer, got ${String(v)}`);
    }
  }
  const maxNameLength = options.maxNameLength ?? DEFAULT_MAX_NAME_LENGTH;
  const maxUriLength = options.maxUriLength ?? DEFAULT_MAX_URI_LENGTH;
  const isBypassed = bypassMatcher(bypass, MAX_METHOD_LENGTH);
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
    // Sealed: every operation with arguments carries it, and caches share it rather than copy it.
    argumentLimits: seal({
      maxDepth: limits.maxDepth ?? DEFAULT_LIMITS.maxDepth,
      maxKeys: limits.maxKeys ?? DEFAULT_LIMITS.maxKeys,
      maxStringLength: limits.maxStringLength ?? DEFAULT_LIMITS.maxStringLength,
      maxArrayItems: limits.maxArrayItems ?? DEFAULT_LIMITS.maxArrayItems,
      maxKeyLength: limits.maxKeyLength ?? DEFAULT_LIMITS.maxKeyLength,
    }),
    maxNameLength,
    maxUriLength,
    bypass,
    isBypassed,
  };
}

/** The action for a tool: its name, normalised unless `toolNames: "raw"`. */
export function toolAction(name: string, mapping: ResolvedMapping): string {
  if (mapping.toolNames === "raw") return mapping.actionPrefix + name;
  return mapping.actionPrefix + (listedActions.get(name) ?? normalizeToolName(name));
}

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
  const state = flatten(args, prefix, limits);
  return {
    attributes: state.out,
    truncated: state.truncated || state.dropped,
    dropped: state.dropped,
    ambiguous: state.ambiguous,
  };
}

function flatten(
  args: Readonly<Record<string, unknown>> | undefined,
  prefix: string,
  limits: ArgumentLimits,
): FlattenState {
  const names = prefixNames(prefix);
  const state: FlattenState = {
    out: new Attributes() as Record<string, unknown>,
    count: 0,
    members: 0,
    truncated: false,
    dropped: false,
    ambiguous: false,
    reservable: names.reservable,
    maxDepth: limits.maxDepth ?? DEFAULT_LIMITS.maxDepth,
    maxKeys: limits.maxKeys ?? DEFAULT_LIMITS.maxKeys,
    maxStringLength: limits.maxStringLength ?? DEFAULT_LIMITS.maxStringLength,
    maxArrayItems: limits.maxArrayItems ?? DEFAULT_LIMITS.maxArrayItems,
    maxKeyLength: limits.maxKeyLength ?? DEFAULT_LIMITS.maxKeyLength,
  };
  if (args) {
    // for-in with an own-key test walks the keys Object.keys gives, in its order, without
    // allocating an array per object.
    for (const key in args) {
      if (!hasOwnProperty.call(args, key)) continue;
      state.members++;
      if (state.count >= state.maxKeys) {
        state.dropped = true;
        break;
      }
      // Measured before the name is built: a huge key never becomes a huge string.
      if (prefix.length + key.length > state.maxKeyLength) {
        state.dropped = true;
        continue;
      }
      visit(state, args[key], prefixed(names, prefix, key), 0);
    }
  }
  return state;
}

/** `Object.prototype.hasOwnProperty`: on a `for-in`'s own object, V8 answers it from the loop. */
const hasOwnProperty = Object.prototype.hasOwnProperty; // eslint-disable-line @typescript-eslint/unbound-method

/** What is remembered of one argument prefix. */
interface PrefixNames {
  /** `prefix + key` by key. */
  readonly names: Map<string, string>;
  /**
   * Whether a reserved attribute name starts with the prefix. Every flattened name does, so when
   * none does (`arg_`), no argument can be flattened to one and the walk need not look.
   */
  readonly reservable: boolean;
}

const prefixes = new Map<string, PrefixNames>();
/** The prefix asked for last: a server uses one. */
let lastPrefix: PrefixNames | undefined;
let lastPrefixText: string | undefined;

function prefixNames(prefix: string): PrefixNames {
  if (prefix === lastPrefixText && lastPrefix !== undefined) return lastPrefix;
  let entry = prefixes.get(prefix);
  if (entry === undefined) {
    if (prefixes.size >= 16) prefixes.clear();
    let reservable = false;
    for (const name of RESERVED_ATTRIBUTES) if (name.startsWith(prefix)) reservable = true;
    entry = { names: new Map<string, string>(), reservable };
    prefixes.set(prefix, entry);
  }
  lastPrefix = entry;
  lastPrefixText = prefix;
  return entry;
}

/**
 * `prefix + key`, remembered: the same few argument names come with every call, and a string made
 * anew must be looked up in V8's string table each time it is used as a property name. Called only
 * with names within `maxKeyLength`, so what it keeps is bounded in size as well as in count.
 */
function prefixed(entry: PrefixNames, prefix: string, key: string): string {
  const names = entry.names;
  let name = names.get(key);
  if (name === undefined) {
    name = prefix + key;
    // Clients can send any names: the memory stays bounded.
    if (names.size >= 4096) names.clear();
    names.set(key, name);
  }
  return name;
}

/** What one flattening has written and seen; plain fields, so the walk allocates nothing else. */
interface FlattenState extends Required<ArgumentLimits> {
  readonly out: Record<string, unknown>;
  count: number;
  /**
   * Object keys walked (containers' included): what {@link boundArguments} counts against
   * `maxKeys`, so that one walk tells whether either would cut.
   */
  members: number;
  truncated: boolean;
  dropped: boolean;
  ambiguous: boolean;
  /** Whether a flattened name can be a reserved one (see {@link PrefixNames.reservable}). */
  readonly reservable: boolean;
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
  if (state.reservable && RESERVED_ATTRIBUTES.has(path)) {
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
  for (const key in value) {
    if (!hasOwnProperty.call(value, key)) continue;
    state.members++;
    if (state.count >= state.maxKeys) {
      state.dropped = true;
      return;
    }
    if (path.length + 1 + key.length > state.maxKeyLength) {
      state.dropped = true;
      continue;
    }
    visit(state, (value as Record<string, unknown>)[key], `${path}_${key}`, depth + 1);
  }
}

/**
 * A bounded deep copy of arguments, for PDPs that receive them whole (OPA input, Eunomia): strings
 * shortened, depth, array length, key count and key length limited with the same meaning as in
 * {@link flattenArguments} (depth counted from the top-level values; keys counted per object key).
 * {@link exceedsArgumentLimits} tells, without copying, whether it would cut anything.
 */
export function boundArguments(
  args: Readonly<Record<string, unknown>>,
  limits: ArgumentLimits = {},
): { readonly value: Record<string, unknown>; readonly truncated: boolean } {
  const { maxDepth, maxKeys, maxStringLength, maxArrayItems, maxKeyLength } = {
    ...DEFAULT_LIMITS,
    ...limits,
  };
  let budget = maxKeys;
  let truncated = false;
  const record = (value: object, depth: number): Record<string, unknown> => {
    const out = Object.create(null) as Record<string, unknown>;
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      if (budget-- <= 0) {
        truncated = true;
        break;
      }
      if (key.length > maxKeyLength) {
        truncated = true;
        continue;
      }
      out[key] = copy((value as Record<string, unknown>)[key], depth);
    }
    return out;
  };
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
    return record(value, depth + 1);
  };
  return { value: record(args, 0), truncated };
}

/**
 * Whether arguments go past `limits` anywhere {@link boundArguments} would cut them: a string
 * longer than `maxStringLength`, a key longer than `maxKeyLength`, more than `maxKeys` object keys,
 * an array longer than `maxArrayItems`, an object or array nested `maxDepth` deep. Stops at the
 * first one found and copies nothing.
 */
export function exceedsArgumentLimits(
  args: Readonly<Record<string, unknown>>,
  limits: ArgumentLimits = {},
): boolean {
  const bounds: Bounds = {
    maxDepth: limits.maxDepth ?? DEFAULT_LIMITS.maxDepth,
    maxKeys: limits.maxKeys ?? DEFAULT_LIMITS.maxKeys,
    maxStringLength: limits.maxStringLength ?? DEFAULT_LIMITS.maxStringLength,
    maxArrayItems: limits.maxArrayItems ?? DEFAULT_LIMITS.maxArrayItems,
    maxKeyLength: limits.maxKeyLength ?? DEFAULT_LIMITS.maxKeyLength,
    budget: limits.maxKeys ?? DEFAULT_LIMITS.maxKeys,
  };
  return recordExceeds(bounds, args, 0);
}

interface Bounds extends Required<ArgumentLimits> {
  /** Object keys that may still be walked. */
  budget: number;
}

function recordExceeds(bounds: Bounds, value: object, depth: number): boolean {
  for (const key of Object.keys(value)) {
    if (bounds.budget-- <= 0 || key.length > bounds.maxKeyLength) return true;
    if (valueExceeds(bounds, (value as Record<string, unknown>)[key], depth)) return true;
  }
  return false;
}

function valueExceeds(bounds: Bounds, value: unknown, depth: number): boolean {
  if (typeof value === "string") return value.length > bounds.maxStringLength;
  if (value === null || typeof value !== "object") return false;
  if (depth >= bounds.maxDepth) return true;
  if (Array.isArray(value)) {
    if (value.length > bounds.maxArrayItems) return true;
    for (let i = 0; i < value.length; i++) {
      if (valueExceeds(bounds, value[i], depth + 1)) return true;
    }
    return false;
  }
  return recordExceeds(bounds, value, depth + 1);
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

const TAB_OR_NEWLINE = /[\t\n\r]/;
const EDGE_CONTROL_OR_SPACE = /^[\x00-\x20]|[\x00-\x20]$/; // eslint-disable-line no-control-regex
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why the URL parser would change `uri` in a way a policy deciding on {@link canonicalUri} cannot
 * see, so that a server reading the string as sent could reach something other than the canonical
 * form; undefined when it would not. The parser silently removes ASCII tab, CR and LF anywhere and
 * C0 controls and spaces at either end, turns a backslash into `/` in `http(s)`, `ws(s)`, `ftp`
 * and `file` URIs (and a Windows server may read it as a separator in any scheme), and replaces
 * an unpaired surrogate by U+FFFD. Other differences (scheme and host case, percent-encoding, an
 * empty path becoming `/`, a default port, dot segments) are the parser resolving what the
 * server resolves too: they are allowed, and decided on the canonical form.
 */
export function uriAmbiguity(uri: string): string | undefined {
  if (TAB_OR_NEWLINE.test(uri)) {
    return "the resource URI holds a tab or line break, which the URL parser removes";
  }
  if (EDGE_CONTROL_OR_SPACE.test(uri)) {
    return "the resource URI starts or ends with a space or control character, which the URL parser removes";
  }
  if (uri.includes("\\")) {
    return "the resource URI holds a backslash, which the URL parser reads as / in special schemes (a Windows server may too in any)";
  }
  if (LONE_SURROGATE.test(uri)) {
    return "the resource URI holds an unpaired surrogate, which the URL parser replaces";
  }
  return undefined;
}

/** What a resource URI is decided as: its canonical form, and why it cannot be, if it cannot. */
interface DecidedUri {
  /** The canonical form; the raw spelling (bounded) when it has none. */
  readonly uri: string;
  /** The spelling as sent, when it differs from `uri` and was accepted. */
  readonly raw?: string;
  readonly problem?: string;
}

function decideUri(raw: string, mapping: ResolvedMapping): DecidedUri {
  if (raw.length > mapping.maxUriLength) {
    return {
      uri: boundedText(raw, mapping.maxUriLength),
      problem: `the resource URI is longer than ${mapping.maxUriLength} characters`,
    };
  }
  const uri = canonicalUri(raw);
  if (uri === undefined) return { uri: raw, problem: "the resource URI is not a valid URI" };
  // Checked even when the parser changed nothing: a backslash is kept as it is in other schemes,
  // where a server may still read it as a separator.
  const problem = uriAmbiguity(raw);
  if (uri === raw) return problem === undefined ? { uri } : { uri, problem };
  return problem === undefined ? { uri, raw } : { uri, raw, problem };
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

const OVERFLOW = "arguments exceed the authorization limits (argumentLimits)";

/** The attribute naming the component of a call with arguments. */
type NameAttribute = "tool_name" | "prompt_name";

/**
 * Sets the mapping's own attributes on `into`: the component's name and the method. Assigned one
 * by one rather than with `Object.assign(into, base)`, which takes a slow path on the flattened
 * attributes (their prototype is not `Object.prototype`) and cost more than the rest of
 * flattening a one-argument call. Written after the arguments, as before, though no argument can
 * take these names (they are reserved).
 */
function nameAttributes(
  into: Record<string, unknown>,
  nameKey: NameAttribute,
  name: string,
  method: string,
): Record<string, unknown> {
  if (nameKey === "tool_name") into.tool_name = name;
  else into.prompt_name = name;
  into.mcp_method = method;
  return into;
}

function withArguments(
  nameKey: NameAttribute,
  name: string,
  method: string,
  args: Readonly<Record<string, unknown>> | undefined,
  mapping: ResolvedMapping,
): { attributes: Record<string, unknown>; problem?: string } {
  if (!args) return { attributes: nameAttributes({}, nameKey, name, method) };
  const deny = mapping.argumentOverflow === "deny";
  if (!mapping.flattenArguments) {
    const attributes = nameAttributes({}, nameKey, name, method);
    // Not flattened, but PDPs that take arguments whole (OPA, Eunomia) get them bounded: whatever
    // would be cut is checked all the same.
    if (deny && exceedsArgumentLimits(args, mapping.argumentLimits)) {
      return { attributes, problem: OVERFLOW };
    }
    return { attributes };
  }
  const flat = flatten(args, mapping.argumentPrefix, mapping.argumentLimits);
  const attributes = nameAttributes(flat.out, nameKey, name, method); // ours to extend: no copy
  // Where flattening cut nothing, boundArguments cuts only when there are more object keys than
  // maxKeys (it counts containers, flattening counts values): one walk tells both.
  const cut = flat.truncated || flat.dropped;
  if (cut) attributes.arguments_truncated = true;
  if (flat.ambiguous) {
    return { attributes, problem: "arguments flatten to ambiguous or reserved attribute names" };
  }
  if (deny && (cut || flat.members > flat.maxKeys)) {
    attributes.arguments_truncated = true;
    return { attributes, problem: OVERFLOW };
  }
  return { attributes };
}

/** A request whose method, name or reference is over the length limit: nothing else is read. */
function oversized(
  method: string,
  mapping: ResolvedMapping,
  what: string,
  max: number,
  fields: {
    readonly component?: Operation["component"];
    readonly name?: string;
    readonly uri?: string;
    readonly type: string;
    readonly key?: string;
    readonly attributes: Record<string, unknown>;
    readonly action: string;
  },
): MappedOperation {
  const operation: Mutable<Operation> = { method, phase: "call", server: mapping.serverName };
  if (fields.component !== undefined) operation.component = fields.component;
  if (fields.name !== undefined) operation.name = fields.name;
  if (fields.uri !== undefined) operation.uri = fields.uri;
  const resource: Mutable<Resource> = { type: fields.type, attributes: fields.attributes };
  if (fields.key !== undefined) resource.key = fields.key;
  return {
    operation,
    resource,
    action: fields.action,
    problem: `the ${what} is longer than ${max} characters`,
  };
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
  if (method.length > MAX_METHOD_LENGTH) {
    // Mapped as any other method, by its bounded form, and denied.
    const shown = boundedText(method, MAX_METHOD_LENGTH);
    return {
      operation: { method: shown, phase: "call", server: mapping.serverName },
      resource: { type: componentType("unknown", mapping), attributes: { mcp_method: shown } },
      action: act(mapping, "call"),
      problem: `the method is longer than ${MAX_METHOD_LENGTH} characters`,
    };
  }
  const maxName = mapping.maxNameLength;
  const p = asRecord(params) ?? {};
  const server = mapping.serverName;
  switch (method) {
    case "tools/call": {
      // Written out without spreads: this is the hot path of every guarded call.
      const name = asString(p.name) ?? "";
      if (name.length > maxName) {
        const shown = boundedText(name, maxName);
        return oversized(method, mapping, "tool name", maxName, {
          component: "tool",
          name: shown,
          type: server,
          attributes: { tool_name: shown, mcp_method: method },
          action: toolAction(shown, mapping),
        });
      }
      const args = asRecord(p.arguments);
      const { attributes, problem } = withArguments("tool_name", name, method, args, mapping);
      const operation: Mutable<Operation> = {
        method,
        phase: "call",
        component: "tool",
        name,
        server,
      };
      if (args) operation.arguments = args;
      if (args) operation.argumentLimits = mapping.argumentLimits;
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
      // Decided on the URI the server will resolve (the SDK's McpServer routes a read through
      // `new URL`), not the spelling the client sent; a spelling the parser would change in a
      // way the policy cannot see is refused.
      const { uri, raw, problem } = decideUri(asString(p.uri) ?? "", mapping);
      const attributes: Record<string, unknown> = { resource_uri: uri, mcp_method: method };
      if (raw !== undefined) attributes.resource_uri_raw = raw;
      const mapped: Mutable<MappedOperation> = {
        operation: { method, phase: "call", component: "resource", uri, server },
        resource: { type: componentType("resources", mapping), key: uri, attributes },
        action: act(mapping, method.slice("resources/".length)),
      };
      if (problem !== undefined) mapped.problem = problem;
      return mapped;
    }
    case "prompts/get": {
      const name = asString(p.name) ?? "";
      if (name.length > maxName) {
        const shown = boundedText(name, maxName);
        return oversized(method, mapping, "prompt name", maxName, {
          component: "prompt",
          name: shown,
          type: componentType("prompts", mapping),
          key: shown,
          attributes: { prompt_name: shown, mcp_method: method },
          action: act(mapping, "get"),
        });
      }
      const args = asRecord(p.arguments);
      const { attributes, problem } = withArguments("prompt_name", name, method, args, mapping);
      return {
        operation: {
          method,
          phase: "call",
          component: "prompt",
          name,
          server,
          ...(args ? { arguments: args, argumentLimits: mapping.argumentLimits } : {}),
        },
        resource: { type: componentType("prompts", mapping), key: name, attributes },
        action: act(mapping, "get"),
        ...(problem !== undefined ? { problem } : {}),
      };
    }
    case "completion/complete": {
      const ref = asRecord(p.ref) ?? {};
      const refType = asString(ref.type);
      const refName = asString(ref.name);
      const refUri = asString(ref.uri);
      const type = componentType("completion", mapping);
      const action = act(mapping, "complete");
      if ((refType?.length ?? 0) > maxName || (refName?.length ?? 0) > maxName) {
        return oversized(method, mapping, "completion reference", maxName, {
          type,
          attributes: { mcp_method: method },
          action,
        });
      }
      if ((refUri?.length ?? 0) > mapping.maxUriLength) {
        return oversized(method, mapping, "completion reference", mapping.maxUriLength, {
          type,
          attributes: { mcp_method: method },
          action,
        });
      }
      const attributes: Record<string, unknown> = { mcp_method: method };
      if (refType !== undefined) attributes.ref_type = refType;
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
        resource: { type, ...(key !== undefined ? { key } : {}), attributes },
        action,
      };
    }
    default:
      if (is2026Method(method)) {
        return map2026(
          method,
          p,
          mapping,
          (c) => componentType(c, mapping),
          (raw) => decideUri(raw, mapping),
        );
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
 * Returns undefined for an item that could not be used through the guard (such an item is
 * hidden): without a name or URI, with one over the length limits, or with a URI that does not
 * parse or that the URL parser would change unseen (see {@link uriAmbiguity}).
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
    if (name === undefined || name.length > mapping.maxNameLength) return undefined;
    if (component === "tool" && mapping.toolNames === "normalize") rememberListedTool(name);
    const mapped = mapRequest(callMethod, { name }, mapping);
    // Set on the objects just built rather than spread into copies: V8 makes an object copied by
    // a spread slow to extend, and the Authorizer adds the metadata to this one.
    (mapped.operation as Mutable<Operation>).phase = "list";
    return mapped;
  }
  const listed = asString(component === "resource" ? it.uri : it.uriTemplate);
  if (listed === undefined || listed.length > mapping.maxUriLength) return undefined;
  // A listed resource is decided like reading it (canonical URI); a template stays as declared.
  let uri = listed;
  let raw: string | undefined;
  if (component === "resource") {
    const decided = decideUri(listed, mapping);
    if (decided.problem !== undefined) return undefined;
    uri = decided.uri;
    raw = decided.raw;
  }
  const attributes: Record<string, unknown> = { resource_uri: uri, mcp_method: callMethod };
  if (raw !== undefined) attributes.resource_uri_raw = raw;
  return {
    operation: { method: callMethod, phase: "list", component, uri, server },
    resource: { type: componentType("resources", mapping), key: uri, attributes },
    action: mapping.actionPrefix + "read",
  };
}
