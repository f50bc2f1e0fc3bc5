import {
  type AuthorizationRequest,
  type Decision,
  boundArguments,
  isListMethod,
} from "@mcp-pdp/core";
import { z } from "zod";
import { unknownKeysMessage } from "./issues.js";
import type { Effect } from "./native.js";

/** The operators of Eunomia policy conditions. */
export const EUNOMIA_OPERATORS = [
  "equals",
  "not_equals",
  "contains",
  "not_contains",
  "startswith",
  "endswith",
  "gt",
  "gte",
  "lt",
  "lte",
  "in",
  "not_in",
] as const;

/** An operator of an Eunomia condition. */
export type EunomiaOperator = (typeof EUNOMIA_OPERATORS)[number];

/**
 * An Eunomia condition, applied as `operator(value, attribute)`: `gt` 10 matches attributes below
 * 10, `contains "a"` matches attributes that contain `"a"`, `in [..]` matches attributes in the list.
 */
export interface EunomiaCondition {
  /** Dot path into the entity: `uri`, `attributes.role`, `attributes.arguments.items.0`. */
  readonly path: string;
  readonly operator: EunomiaOperator;
  /** A string that parses as JSON is compared as the parsed value (`"10"` is 10). */
  readonly value: unknown;
}

/** An Eunomia rule: it matches when the action is listed and every condition holds. */
export interface EunomiaRule {
  readonly name: string;
  readonly effect: Effect;
  readonly principal_conditions?: readonly EunomiaCondition[];
  readonly resource_conditions?: readonly EunomiaCondition[];
  /** Actions matched exactly (`list`, `execute`); a JSON string of a list is accepted. */
  readonly actions: readonly string[] | string;
}

/** An Eunomia policy document, as the Eunomia server stores it. */
export interface EunomiaPolicy {
  /** @defaultValue `"1.0"` */
  readonly version?: string;
  /** Unique across the Eunomia policies loaded together. */
  readonly name: string;
  readonly description?: string | null;
  /** Evaluated in order; the first matching rule decides for this policy. */
  readonly rules: readonly EunomiaRule[];
  /** Applies when no rule matches; `allow` never grants on its own. @defaultValue `"deny"` */
  readonly default_effect?: Effect;
}

function strict<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape, { error: unknownKeysMessage(Object.keys(shape)) });
}

/** The JSON spellings Python's json module accepts beyond JSON.parse. */
const PY_NUMBERS: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};

/** A string value that parses as JSON becomes the parsed value, as Eunomia's schema does. */
export function parseJsonValue(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const t = value.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, "");
  if (Object.hasOwn(PY_NUMBERS, t)) return PY_NUMBERS[t];
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

const conditionSchema = strict({
  path: z.string(),
  operator: z.enum(EUNOMIA_OPERATORS),
  value: z.unknown(),
});

const ruleSchema = strict({
  name: z.string(),
  effect: z.enum(["allow", "deny"]),
  principal_conditions: z.array(conditionSchema).optional(),
  resource_conditions: z.array(conditionSchema).optional(),
  actions: z.preprocess(parseJsonValue, z.array(z.string())),
});

/** The zod schema of an Eunomia policy (unknown keys rejected at every level). */
export const eunomiaPolicySchema = strict({
  version: z.string().optional(),
  name: z.string(),
  description: z.string().nullable().optional(),
  rules: z.array(ruleSchema),
  default_effect: z.enum(["allow", "deny"]).optional(),
});

/** An Eunomia policy after validation. */
export type ParsedEunomiaPolicy = z.output<typeof eunomiaPolicySchema>;

/** An entity of an Eunomia check: a principal or a resource. */
export interface EunomiaEntity {
  readonly uri: string;
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** A request as eunomia-mcp sends it to `POST /check`. */
export interface EunomiaCheckRequest {
  readonly principal: EunomiaEntity;
  readonly resource: EunomiaEntity;
  readonly action: string;
}

const LIST_METHOD_OF_COMPONENT: Record<string, string> = {
  tool: "tools/list",
  resource: "resources/list",
  resource_template: "resources/templates/list",
  prompt: "prompts/list",
};

const LIST_METHOD_OF_CALL: Record<string, string> = {
  "tools/call": "tools/list",
  "resources/read": "resources/list",
  "prompts/get": "prompts/list",
};

const EXECUTE_METHODS = new Set(["tools/call", "resources/read", "prompts/get"]);

/**
 * Views a request the way eunomia-mcp 0.3.10 builds its checks: principal `agent:<subject id>`
 * with attributes `agent_id`, `user_id` (default `"unknown"`), `user_agent` (default
 * `"undefined"`), the subject's other attributes (`api_key`, claims) and its `roles`; resource `mcp:<tools|resources|prompts>:<name or uri>` with attributes `method`,
 * `component_type`, `name`, `uri` and `arguments` (bounded with the operation's
 * `argumentLimits`, core's defaults when absent, plus `arguments_truncated: true` when they were
 * cut); action `list` for a list method or a list item,
 * `execute` for tools/call, resources/read and prompts/get, else the method's verb.
 *
 * A list item is viewed with its list method (`tools/list`), as eunomia-mcp checks list results.
 * The coarse check of a list method (no item) is viewed as `mcp:<component>` with no name.
 */
export function eunomiaView(request: AuthorizationRequest): EunomiaCheckRequest {
  const op = request.operation;
  const listPhase = op.phase === "list";
  const method = listPhase
    ? ((op.component !== undefined ? LIST_METHOD_OF_COMPONENT[op.component] : undefined) ??
      LIST_METHOD_OF_CALL[op.method] ??
      op.method)
    : op.method;
  const slash = method.indexOf("/");
  const componentType = slash < 0 ? method : method.slice(0, slash);
  const action =
    listPhase || isListMethod(method)
      ? "list"
      : EXECUTE_METHODS.has(method)
        ? "execute"
        : slash < 0
          ? method
          : method.slice(slash + 1);
  const id = op.name ?? op.uri;
  const uri = id === undefined || id === "" ? `mcp:${componentType}` : `mcp:${componentType}:${id}`;
  const resource: Record<string, unknown> = { method, component_type: componentType };
  if (id !== undefined) resource.name = id;
  resource.uri = uri;
  if (op.arguments !== undefined && !listPhase) {
    // Bounded as the mapping checked them: a 1 MB argument must not become a 1 MB check, and what
    // the mapping accepted whole (raised limits) must be judged whole.
    const args = boundArguments(op.arguments, op.argumentLimits);
    resource.arguments = args.value;
    if (args.truncated) resource.arguments_truncated = true;
  }
  const subject = request.subject;
  // eunomia-mcp always sends user_id and user_agent, with these values when the header is absent:
  // rules such as `user_id equals "unknown"` must decide here as they do there.
  const principal: Record<string, unknown> = {
    agent_id: subject.id,
    user_id: "unknown",
    user_agent: "undefined",
    ...subject.attributes,
  };
  if (subject.roles !== undefined && !Object.hasOwn(principal, "roles")) {
    principal.roles = [...subject.roles];
  }
  return {
    principal: { uri: `agent:${subject.id}`, attributes: principal },
    resource: { uri, attributes: resource },
    action,
  };
}

// --- Evaluation with the Eunomia server's semantics (Python values and comparisons) ---

type Segment = string | number;

interface CompiledEunomiaCondition {
  readonly segments: readonly Segment[];
  readonly operator: EunomiaOperator;
  readonly value: unknown;
  readonly text: string;
}

/** A compiled Eunomia rule. */
export interface CompiledEunomiaRule {
  readonly name: string;
  readonly effect: Effect;
  readonly actions: readonly string[];
  readonly principal: readonly CompiledEunomiaCondition[];
  readonly resource: readonly CompiledEunomiaCondition[];
  readonly decision: Decision;
}

/** A compiled Eunomia policy. */
export interface CompiledEunomiaPolicy {
  readonly name: string;
  readonly source: string;
  readonly rules: readonly CompiledEunomiaRule[];
  /** The rules listing each action, in policy order: only they can match a request for it. */
  readonly byAction: ReadonlyMap<string, readonly CompiledEunomiaRule[]>;
}

/** JSON for explanations; NaN and the infinities by name. */
function show(value: unknown): string {
  return typeof value === "number" && !Number.isFinite(value)
    ? String(value)
    : JSON.stringify(value);
}

function compileConditions(
  list: readonly { path: string; operator: EunomiaOperator; value?: unknown }[] | undefined,
): CompiledEunomiaCondition[] {
  return (list ?? []).map((c) => {
    const value = parseJsonValue(c.value);
    return {
      segments: c.path.split(".").map((s) => (/^\d+$/.test(s) ? Number(s) : s)),
      operator: c.operator,
      value,
      text: `${c.path} ${c.operator} ${show(value)}`,
    };
  });
}

/** Compiles a validated Eunomia policy. */
export function compileEunomia(doc: ParsedEunomiaPolicy, source: string): CompiledEunomiaPolicy {
  const rules = doc.rules.map((r): CompiledEunomiaRule => {
    const verb = r.effect === "allow" ? "allowed" : "denied";
    return {
      name: r.name,
      effect: r.effect,
      actions: r.actions,
      principal: compileConditions(r.principal_conditions),
      resource: compileConditions(r.resource_conditions),
      decision: Object.freeze({
        allow: r.effect === "allow",
        source: "pdp",
        reason: `${verb} by rule ${JSON.stringify(r.name)} of policy ${JSON.stringify(doc.name)}`,
      }),
    };
  });
  const byAction = new Map<string, CompiledEunomiaRule[]>();
  for (const rule of rules) {
    for (const action of new Set(rule.actions)) {
      const list = byAction.get(action);
      if (list) list.push(rule);
      else byAction.set(action, [rule]);
    }
  }
  return { name: doc.name, source, rules, byAction };
}

/** An entity with the fields a path may start with. */
interface Entity {
  readonly type: "principal" | "resource";
  readonly uri: string;
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** Follows a dot path as Eunomia does: mapping keys, list indexes below the length; null is absent. */
function resolve(entity: Entity, segments: readonly Segment[]): unknown {
  let v: unknown = entity;
  for (const seg of segments) {
    if (v === null || v === undefined || typeof v !== "object") return undefined;
    if (Array.isArray(v)) {
      if (typeof seg !== "number" || seg >= v.length) return undefined;
      v = v[seg];
    } else {
      const key = String(seg);
      if (!Object.hasOwn(v, key)) return undefined;
      v = (v as Record<string, unknown>)[key];
    }
    if (v === null) return undefined;
  }
  return v;
}

/** Python's `bool` is an `int`: both count as numbers. */
function pyNumber(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  return undefined;
}

/** Python `==` on JSON values (`1 == 1.0 == True`, dicts by content). */
function pyEquals(a: unknown, b: unknown): boolean {
  const na = pyNumber(a);
  const nb = pyNumber(b);
  if (na !== undefined || nb !== undefined) return na === nb;
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (a === null || b === null) return a === b;
  if (typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => pyEquals(x, b[i]));
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every(
    (k) =>
      Object.hasOwn(b, k) &&
      pyEquals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}

/**
 * `operator(value, target)` with Eunomia's meaning: the condition value comes first, so `gt`
 * holds when the value is greater than the attribute. Anything absent fails every operator.
 */
export function applyEunomiaOperator(
  operator: EunomiaOperator,
  value: unknown,
  target: unknown,
): boolean {
  if (value === null || value === undefined || target === null || target === undefined) {
    return false;
  }
  if (operator === "equals") return pyEquals(value, target);
  if (operator === "not_equals") return !pyEquals(value, target);
  if (typeof value === "string" && typeof target === "string") {
    switch (operator) {
      case "contains":
        return target.includes(value);
      case "not_contains":
        return !target.includes(value);
      case "startswith":
        return target.startsWith(value);
      case "endswith":
        return target.endsWith(value);
      default:
        return false;
    }
  }
  const nv = pyNumber(value);
  const nt = pyNumber(target);
  if (nv !== undefined && nt !== undefined) {
    switch (operator) {
      case "gt":
        return nv > nt;
      case "gte":
        return nv >= nt;
      case "lt":
        return nv < nt;
      case "lte":
        return nv <= nt;
      default:
        return false;
    }
  }
  if (Array.isArray(value)) {
    if (operator === "in") return value.some((x) => pyEquals(x, target));
    if (operator === "not_in") return !value.some((x) => pyEquals(x, target));
  }
  return false;
}

function firstFailing(
  conditions: readonly CompiledEunomiaCondition[],
  entity: Entity,
): CompiledEunomiaCondition | undefined {
  for (const c of conditions) {
    if (!applyEunomiaOperator(c.operator, c.value, resolve(entity, c.segments))) return c;
  }
  return undefined;
}

/** How an Eunomia rule did for one request, for explanations. */
export interface EunomiaTrace {
  readonly policy: CompiledEunomiaPolicy;
  readonly rule: CompiledEunomiaRule;
  readonly matched: boolean;
  readonly because?: string;
}

const COARSE_LIST: Decision = Object.freeze({
  allow: true,
  source: "pdp",
  reason: "list results are filtered per item under Eunomia policies",
});

/**
 * The decision for the whole-list check of a list method (`tools/list` itself, before its items
 * are filtered), which eunomia-mcp never makes: it is allowed, so that only the items are decided
 * and existing Eunomia policies work unchanged. `undefined` for any other request.
 */
export function eunomiaCoarseList(request: AuthorizationRequest): Decision | undefined {
  return request.operation.phase === "call" && isListMethod(request.operation.method)
    ? COARSE_LIST
    : undefined;
}

/**
 * Eunomia policies decided together: within a policy the first matching rule decides, else its
 * default effect; across policies an explicit deny wins, then an explicit allow; a default effect
 * never grants. When several policies deny (or allow), the reason names the last one's rule, as
 * the Eunomia server's does.
 */
export class EunomiaPolicySet {
  readonly policies: readonly CompiledEunomiaPolicy[];

  constructor(policies: readonly CompiledEunomiaPolicy[]) {
    this.policies = policies;
  }

  /** The explicit decision, or undefined when no rule matched (a default deny). */
  decide(request: AuthorizationRequest): Decision | undefined {
    // eunomia-mcp has no whole-list check: it always lists, then checks each item.
    const coarse = eunomiaCoarseList(request);
    if (coarse) return coarse;
    const view = eunomiaView(request);
    const principal: Entity = { type: "principal", ...view.principal };
    const resource: Entity = { type: "resource", ...view.resource };
    // Every policy is evaluated, and the last explicit deny (else the last explicit allow) is the
    // one named, as the Eunomia server reports it: the same rule shows in both engines' reasons.
    // Walked from the last policy: the first deny met is the last one, and ends the walk.
    let allow: Decision | undefined;
    for (let i = this.policies.length - 1; i >= 0; i--) {
      const rules = (this.policies[i] as (typeof this.policies)[number]).byAction.get(view.action);
      if (!rules) continue;
      for (const rule of rules) {
        if (firstFailing(rule.principal, principal) || firstFailing(rule.resource, resource)) {
          continue;
        }
        if (rule.effect === "deny") return rule.decision;
        allow ??= rule.decision;
        break;
      }
    }
    return allow;
  }

  /** Each policy's rules up to its first match, with how each did. */
  trace(request: AuthorizationRequest): EunomiaTrace[] {
    if (eunomiaCoarseList(request)) return [];
    const view = eunomiaView(request);
    const principal: Entity = { type: "principal", ...view.principal };
    const resource: Entity = { type: "resource", ...view.resource };
    const out: EunomiaTrace[] = [];
    for (const policy of this.policies) {
      for (const rule of policy.rules) {
        if (!rule.actions.includes(view.action)) {
          out.push({ policy, rule, matched: false, because: `action ${view.action} not listed` });
          continue;
        }
        const p = firstFailing(rule.principal, principal);
        const r = p ? undefined : firstFailing(rule.resource, resource);
        const failed = p ?? r;
        if (failed) {
          const side = p ? "principal" : "resource";
          out.push({
            policy,
            rule,
            matched: false,
            because: `${side} condition failed: ${failed.text}`,
          });
          continue;
        }
        out.push({ policy, rule, matched: true });
        break;
      }
    }
    return out;
  }
}
