import { posix } from "node:path";
import { fileURLToPath } from "node:url";
import { type AuthorizationRequest, uriAmbiguity } from "@mcp-pdp/core";

/** The operators of a native rule's `when` conditions. */
export const CONDITION_OPERATORS = [
  "equals",
  "not_equals",
  "in",
  "not_in",
  "contains",
  "starts_with",
  "ends_with",
  "regex",
  "gt",
  "gte",
  "lt",
  "lte",
  "exists",
  "path_within",
] as const;

/** An operator of a native condition. */
export type ConditionOperator = (typeof CONDITION_OPERATORS)[number];

/** A condition compiled into a field reader and a test. */
export interface CompiledCondition {
  readonly read: (request: AuthorizationRequest) => unknown;
  /** Called only with a present (non-null) value. */
  readonly test: (value: unknown) => boolean;
  /** The result when the field is absent or null. */
  readonly onMissing: boolean;
  /** Reads the operation's arguments (unknown while deciding list visibility). */
  readonly argument: boolean;
  /** `field op value`, for explanations. */
  readonly text: string;
}

/** Whether the condition holds for the request; an absent or null field gives `onMissing`. */
export function evaluateCondition(c: CompiledCondition, request: AuthorizationRequest): boolean {
  const v = c.read(request);
  return v === undefined || v === null ? c.onMissing : c.test(v);
}

type Step = string | number;

/** Follows own properties and list indexes; anything else is absent. */
function walk(value: unknown, steps: readonly Step[]): unknown {
  let v = value;
  for (let i = 0; i < steps.length; i++) {
    if (v === null || typeof v !== "object") return undefined;
    const step = steps[i] as Step;
    if (Array.isArray(v)) {
      if (typeof step !== "number") return undefined;
      v = v[step];
    } else {
      const key = String(step);
      if (!Object.hasOwn(v, key)) return undefined;
      v = (v as Record<string, unknown>)[key];
    }
  }
  return v;
}

/** Field names under each root, and whether they hold nested values a path may follow. */
const ROOT_FIELDS = {
  subject: {
    id: false,
    authenticated: false,
    roles: true,
    tenant: false,
    scopes: true,
    attributes: true,
  },
  resource: { type: false, key: false, tenant: false, attributes: true },
  operation: {
    method: false,
    phase: false,
    component: false,
    name: false,
    uri: false,
    server: false,
    metadata: true,
  },
} as const satisfies Record<string, Record<string, boolean>>;

type Root = keyof typeof ROOT_FIELDS;

function fieldList(root: Root): string {
  return Object.keys(ROOT_FIELDS[root])
    .map((f) => `${root}.${f}`)
    .join(", ");
}

const ROOTS_HINT =
  "a field starts with subject., resource., operation., arguments. or context., or is action";

/** A compiled field path, or an error message. */
export function compileField(
  field: string,
): { read: (r: AuthorizationRequest) => unknown; argument: boolean } | string {
  const segments = field.split(".");
  if (segments.some((s) => s === "")) return `invalid field path ${JSON.stringify(field)}`;
  const steps: Step[] = segments.map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const [root, second, ...rest] = segments;
  const restSteps = steps.slice(2);
  switch (root) {
    case "action":
      if (segments.length > 1) return `action has no fields; use "action"`;
      return { read: (r) => r.action, argument: false };
    case "arguments": {
      const path = steps.slice(1);
      return { read: (r) => walk(r.operation.arguments, path), argument: true };
    }
    case "context": {
      const path = steps.slice(1);
      return { read: (r) => walk(r.context, path), argument: false };
    }
    case "subject":
    case "resource":
    case "operation": {
      if (root === "operation" && second === "arguments") {
        return `unknown field ${JSON.stringify(field)}; arguments are read with "arguments.<name>"`;
      }
      const fields: Record<string, boolean> = ROOT_FIELDS[root];
      if (second === undefined || !Object.hasOwn(fields, second)) {
        return `unknown field ${JSON.stringify(field)}; expected one of ${fieldList(root)}`;
      }
      if (rest.length > 0 && fields[second] !== true) {
        return `${root}.${second} has no fields; use ${JSON.stringify(`${root}.${second}`)}`;
      }
      const key = second;
      if (restSteps.length === 0) {
        return {
          read: (r) => (r[root] as unknown as Record<string, unknown>)[key],
          argument: false,
        };
      }
      return {
        read: (r) => walk((r[root] as unknown as Record<string, unknown>)[key], restSteps),
        argument: false,
      };
    }
    default:
      return `unknown field ${JSON.stringify(field)}; ${ROOTS_HINT}`;
  }
}

/** Structural equality of JSON-like values, without type coercion. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return false;
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) {
      return false;
    }
  }
  return true;
}

/** True when the value is a string passing the test, or a list with such a string. */
function someString(value: unknown, test: (s: string) => boolean): boolean {
  if (typeof value === "string") return test(value);
  if (Array.isArray(value)) {
    for (const item of value) if (typeof item === "string" && test(item)) return true;
  }
  return false;
}

function membership(list: readonly unknown[]): (v: unknown) => boolean {
  const primitives = new Set(list.filter((x) => typeof x !== "object" || x === null));
  const objects = list.filter((x) => typeof x === "object" && x !== null);
  const has = (v: unknown) =>
    typeof v !== "object" || v === null ? primitives.has(v) : objects.some((o) => deepEqual(o, v));
  return (v) => (Array.isArray(v) ? v.some(has) : has(v));
}

function ordered(value: unknown, cmp: (order: number) => boolean): (v: unknown) => boolean {
  return (v) => {
    if (typeof v !== typeof value) return false;
    if (typeof v === "number") return cmp(v - (value as number));
    if (typeof v === "string") {
      const w = value as string;
      return cmp(v < w ? -1 : v > w ? 1 : 0);
    }
    return false;
  };
}

/**
 * The absolute POSIX path a value names, with `.`, `..` and repeated slashes resolved, or undefined
 * when it names none for sure: not a string, a relative path, a NUL byte or a backslash anywhere
 * (a POSIX server reads `\` as part of a name, a Windows one as a separator: no one reading is
 * safe). A `file://` URI is decoded as the WHATWG URL parser and `fileURLToPath` do (`%2e%2e` is
 * `..`); one with a host other than `localhost`, a query, a fragment, an encoded `/`, or
 * characters the parser would silently drop or convert names none either.
 */
export function resolvedPath(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  let path = value;
  if (!value.startsWith("/")) {
    if (!/^file:\/\//i.test(value) || uriAmbiguity(value) !== undefined) return undefined;
    let url: URL;
    try {
      url = new URL(value);
      if (url.protocol !== "file:" || url.search !== "" || url.hash !== "") return undefined;
      path = fileURLToPath(url, { windows: false });
    } catch {
      return undefined; // a host, an encoded "/", not a URL at all
    }
  }
  if (path.includes("\0") || path.includes("\\")) return undefined;
  return posix.normalize(path);
}

/** Whether a resolved path is `base` or inside it; `base` is resolved, without a trailing `/`. */
function within(path: string, base: string): boolean {
  if (base === "/") return true;
  return path.startsWith(base) && (path.length === base.length || path[base.length] === "/");
}

/** The base directories of a `path_within` condition, resolved, or an error message. */
function compileBases(value: unknown): string[] | string {
  const list = typeof value === "string" ? [value] : value;
  const usage = "path_within needs an absolute directory (or a list of them), such as /srv/notes";
  if (!Array.isArray(list) || list.length === 0) return usage;
  const bases: string[] = [];
  for (const base of list) {
    if (typeof base !== "string" || !base.startsWith("/")) {
      return `${usage}; got ${JSON.stringify(base)}, which is not an absolute path`;
    }
    if (base.includes("\0") || base.includes("\\")) {
      return `${usage}; got ${JSON.stringify(base)}, which holds a NUL byte or a backslash`;
    }
    const resolved = posix.normalize(base);
    bases.push(resolved.length > 1 && resolved.endsWith("/") ? resolved.slice(0, -1) : resolved);
  }
  return bases;
}

/**
 * Compiles an operator and its value into a test. Returns an error message (naming the problem
 * with `value`) when the value does not suit the operator.
 */
export function compileOperator(
  op: ConditionOperator,
  value: unknown,
  hasValue: boolean,
): Pick<CompiledCondition, "test" | "onMissing"> | string {
  if (op === "exists") {
    if (hasValue && typeof value !== "boolean") return "exists takes true, false or no value";
    const expected = !hasValue || value === true;
    return { test: () => expected, onMissing: !expected };
  }
  if (!hasValue || value === null || value === undefined) {
    return `${op} needs a value (use exists to test for absence)`;
  }
  switch (op) {
    case "equals":
      return { test: (v) => deepEqual(v, value), onMissing: false };
    case "not_equals":
      return { test: (v) => !deepEqual(v, value), onMissing: false };
    case "in":
    case "not_in": {
      if (!Array.isArray(value)) return `${op} needs a list value`;
      const has = membership(value);
      return { test: op === "in" ? has : (v) => !has(v), onMissing: false };
    }
    case "contains":
      return {
        test: (v) =>
          typeof v === "string"
            ? typeof value === "string" && v.includes(value)
            : Array.isArray(v) && v.some((x) => deepEqual(x, value)),
        onMissing: false,
      };
    case "starts_with":
    case "ends_with": {
      if (typeof value !== "string") return `${op} needs a string value`;
      const test =
        op === "starts_with"
          ? (s: string) => s.startsWith(value)
          : (s: string) => s.endsWith(value);
      return { test: (v) => someString(v, test), onMissing: false };
    }
    case "regex": {
      if (typeof value !== "string") return "regex needs a string value";
      let re: RegExp;
      try {
        re = new RegExp(value);
      } catch (error) {
        return `invalid regular expression: ${(error as Error).message}`;
      }
      return { test: (v) => someString(v, (s) => re.test(s)), onMissing: false };
    }
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      if (typeof value !== "number" && typeof value !== "string") {
        return `${op} needs a number or string value`;
      }
      const cmp =
        op === "gt"
          ? (o: number) => o > 0
          : op === "gte"
            ? (o: number) => o >= 0
            : op === "lt"
              ? (o: number) => o < 0
              : (o: number) => o <= 0;
      return { test: ordered(value, cmp), onMissing: false };
    }
    case "path_within": {
      const bases = compileBases(value);
      if (typeof bases === "string") return bases;
      return {
        test: (v) => {
          const path = resolvedPath(v);
          if (path === undefined) return false;
          for (const base of bases) if (within(path, base)) return true;
          return false;
        },
        onMissing: false,
      };
    }
  }
}
