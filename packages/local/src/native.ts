import type { AuthorizationRequest, Decision } from "@mcp-pdp/core";
import { z } from "zod";
import {
  CONDITION_OPERATORS,
  type CompiledCondition,
  type ConditionOperator,
  compileField,
  compileOperator,
  evaluateCondition,
} from "./conditions.js";
import { type Matcher, compileMatcher, matches, matchesAny } from "./glob.js";
import { type Issue, unknownKeysMessage } from "./issues.js";

/** What a rule does when it matches. */
export type Effect = "allow" | "deny";

/** One value or a list of them (YAML lets a single value stand for a one-item list). */
export type OneOrMany<T> = T | readonly T[];

/** Which callers a rule is about. Every given criterion must hold; an omitted one holds for all. */
export interface SubjectMatch {
  /** Subject ids (globs with `*`). */
  readonly ids?: OneOrMany<string>;
  /** Roles (globs); the subject needs at least one matching role. */
  readonly roles?: OneOrMany<string>;
  /** `true`: only verified callers; `false`: only unauthenticated callers. */
  readonly authenticated?: boolean;
}

/** Which resources a rule is about. Every given criterion must hold; an omitted one holds for all. */
export interface ResourceMatch {
  /** Resource types (globs), such as `notes` or `notes_resources`. */
  readonly types?: OneOrMany<string>;
  /** Resource keys (globs): a resource URI or a prompt name. A request without a key never matches. */
  readonly keys?: OneOrMany<string>;
  /** Tool names (globs), matched against the name of a `tools/call` (other requests never match). */
  readonly tools?: OneOrMany<string>;
}

/** A condition on one field of the request. */
export interface RuleCondition {
  /**
   * A dot path: `subject.id`, `subject.roles`, `subject.attributes.dept`, `resource.type`,
   * `resource.key`, `resource.attributes.tool_name`, `operation.name`, `operation.uri`,
   * `operation.metadata.annotations.readOnlyHint`, `action`, `context.x`, or `arguments.path`
   * (the operation's raw arguments). Digit segments index lists.
   */
  readonly field: string;
  readonly op: ConditionOperator;
  /** Compared with the field's value; optional only for `exists` (default `true`). */
  readonly value?: unknown;
}

/** One rule of a native policy. */
export interface PolicyRule {
  /** Unique across every document loaded together; decisions name it. */
  readonly name: string;
  readonly description?: string;
  readonly effect: Effect;
  /** @defaultValue every subject */
  readonly subjects?: SubjectMatch;
  /** @defaultValue every resource */
  readonly resources?: ResourceMatch;
  /** Actions (globs): `list`, `read`, `get`, normalised tool actions such as `read-note`, or `*`. */
  readonly actions: OneOrMany<string>;
  /** Conditions that must all hold. */
  readonly when?: readonly RuleCondition[];
}

/** A native policy document. */
export interface NativePolicy {
  /** The format version. @defaultValue 1 */
  readonly version?: 1;
  readonly description?: string;
  readonly rules: readonly PolicyRule[];
}

function strict<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape, { error: unknownKeysMessage(Object.keys(shape)) });
}

const patterns = z.preprocess(
  (v) => (typeof v === "string" ? [v] : v),
  z.array(z.string().min(1)).min(1),
);

const conditionSchema = strict({
  field: z.string().min(1),
  op: z.enum(CONDITION_OPERATORS),
  value: z.unknown().optional(),
});

const ruleSchema = strict({
  name: z.string().min(1),
  description: z.string().optional(),
  effect: z.enum(["allow", "deny"]),
  subjects: strict({
    ids: patterns.optional(),
    roles: patterns.optional(),
    authenticated: z.boolean().optional(),
  }).optional(),
  resources: strict({
    types: patterns.optional(),
    keys: patterns.optional(),
    tools: patterns.optional(),
  }).optional(),
  actions: patterns,
  when: z.array(conditionSchema).optional(),
});

/** The zod schema of a native document (lists normalised, unknown keys rejected). */
export const nativePolicySchema = strict({
  version: z.literal(1).optional(),
  description: z.string().optional(),
  rules: z.array(ruleSchema),
});

/** A native document after validation (single values turned into lists). */
export type ParsedNativePolicy = z.output<typeof nativePolicySchema>;

/** A rule compiled for matching. */
export interface CompiledRule {
  readonly name: string;
  readonly effect: Effect;
  /** Position across every loaded document: the first matching rule names a decision. */
  readonly order: number;
  readonly source: string;
  readonly types: Matcher | undefined;
  readonly actions: Matcher;
  readonly ids: Matcher | undefined;
  readonly roles: Matcher | undefined;
  readonly authenticated: boolean | undefined;
  readonly keys: Matcher | undefined;
  readonly tools: Matcher | undefined;
  readonly conditions: readonly CompiledCondition[];
  readonly hasArgumentConditions: boolean;
  readonly decision: Decision;
}

function optionalMatcher(list: readonly string[] | undefined): Matcher | undefined {
  return list ? compileMatcher(list) : undefined;
}

/** Compiles a validated document's rules; problems are added to `issues`. */
export function compileNative(
  doc: ParsedNativePolicy,
  source: string,
  firstOrder: number,
  issues: Issue[],
): CompiledRule[] {
  const out: CompiledRule[] = [];
  doc.rules.forEach((rule, i) => {
    const conditions: CompiledCondition[] = [];
    (rule.when ?? []).forEach((c, j) => {
      const field = compileField(c.field);
      if (typeof field === "string") {
        issues.push({ path: ["rules", i, "when", j, "field"], message: field });
        return;
      }
      const op = compileOperator(c.op, c.value, Object.hasOwn(c, "value"));
      if (typeof op === "string") {
        issues.push({ path: ["rules", i, "when", j, "value"], message: op });
        return;
      }
      conditions.push({
        ...field,
        ...op,
        text: `${c.field} ${c.op}${c.value === undefined ? "" : ` ${JSON.stringify(c.value)}`}`,
      });
    });
    const verb = rule.effect === "allow" ? "allowed" : "denied";
    out.push({
      name: rule.name,
      effect: rule.effect,
      order: firstOrder + i,
      source,
      types: optionalMatcher(rule.resources?.types),
      actions: compileMatcher(rule.actions),
      ids: optionalMatcher(rule.subjects?.ids),
      roles: optionalMatcher(rule.subjects?.roles),
      authenticated: rule.subjects?.authenticated,
      keys: optionalMatcher(rule.resources?.keys),
      tools: optionalMatcher(rule.resources?.tools),
      conditions,
      hasArgumentConditions: conditions.some((c) => c.argument),
      decision: Object.freeze({
        allow: rule.effect === "allow",
        source: "pdp",
        reason: `${verb} by rule ${JSON.stringify(rule.name)}`,
      }),
    });
  });
  return out;
}

/**
 * Why a rule did not match, as a number so the hot path builds no strings: 0 = matched, small
 * numbers name a criterion, `CONDITION + i` names condition `i`.
 */
const MATCHED = 0;
const TYPE = 1;
const ACTION = 2;
const AUTHENTICATED = 3;
const IDS = 4;
const ROLES = 5;
const KEYS = 6;
const TOOLS = 7;
const DENY_ON_ARGUMENTS = 8;
const CONDITION = 100;

function matchRule(
  rule: CompiledRule,
  request: AuthorizationRequest,
  checkType: boolean,
  checkAction: boolean,
  listPhase: boolean,
): number {
  if (checkType && rule.types && !matches(rule.types, request.resource.type)) return TYPE;
  if (checkAction && !matches(rule.actions, request.action)) return ACTION;
  const subject = request.subject;
  if (rule.authenticated !== undefined && subject.authenticated !== rule.authenticated) {
    return AUTHENTICATED;
  }
  if (rule.ids && !matches(rule.ids, subject.id)) return IDS;
  if (rule.roles && !matchesAny(rule.roles, subject.roles)) return ROLES;
  if (rule.keys && !matches(rule.keys, request.resource.key)) return KEYS;
  if (rule.tools) {
    const op = request.operation;
    if (op.method !== "tools/call" || !matches(rule.tools, op.name)) return TOOLS;
  }
  // At list time there are no arguments: a deny that depends on them may not apply to the
  // arguments a caller will send, so it does not hide the item.
  if (listPhase && rule.hasArgumentConditions && rule.effect === "deny") return DENY_ON_ARGUMENTS;
  const conditions = rule.conditions;
  for (let i = 0; i < conditions.length; i++) {
    const c = conditions[i] as CompiledCondition;
    // An allow's argument conditions count as satisfiable at list time.
    if (listPhase && c.argument) continue;
    if (!evaluateCondition(c, request)) return CONDITION + i;
  }
  return MATCHED;
}

function describeMiss(rule: CompiledRule, code: number): string {
  switch (code) {
    case TYPE:
      return "resource type not in resources.types";
    case ACTION:
      return "action not in actions";
    case AUTHENTICATED:
      return `subject is ${rule.authenticated === true ? "not " : ""}authenticated`;
    case IDS:
      return "subject id not in subjects.ids";
    case ROLES:
      return "no subject role in subjects.roles";
    case KEYS:
      return "resource key not in resources.keys";
    case TOOLS:
      return "not a call of a tool in resources.tools";
    case DENY_ON_ARGUMENTS:
      return "deny depends on arguments, which a list item does not have";
    default:
      return `condition failed: ${rule.conditions[code - CONDITION]?.text ?? "?"}`;
  }
}

interface Bucket {
  readonly deny: CompiledRule[];
  readonly allow: CompiledRule[];
}

function newBucket(): Bucket {
  return { deny: [], allow: [] };
}

function bucketIn<K>(map: Map<K, Bucket>, key: K): Bucket {
  let b = map.get(key);
  if (!b) {
    b = newBucket();
    map.set(key, b);
  }
  return b;
}

function exactValues(m: Matcher | undefined): string[] | undefined {
  return m && !m.any && m.globs.length === 0 ? [...m.exact] : undefined;
}

/** How a rule did for one request, for explanations. */
export interface NativeTrace {
  readonly rule: CompiledRule;
  readonly matched: boolean;
  readonly because?: string;
}

/**
 * Rules indexed by resource type and action. A rule whose types and actions are all exact sits in
 * `exact[type][action]`; wildcard rules sit in three small side tables. Each rule lands in exactly
 * one table for a given request, so a decision looks at the few rules that can apply, and no rule
 * twice.
 */
export class NativeRuleSet {
  readonly #exact = new Map<string, Map<string, Bucket>>();
  /** Exact type, wildcard actions: the action is checked. */
  readonly #byType = new Map<string, Bucket>();
  /** Wildcard (or no) types, exact actions: the type is checked. */
  readonly #byAction = new Map<string, Bucket>();
  /** Wildcard types and actions: both are checked. */
  readonly #wild: Bucket = newBucket();
  readonly size: number;

  constructor(rules: readonly CompiledRule[]) {
    this.size = rules.length;
    for (const rule of rules) {
      const types = exactValues(rule.types);
      const actions = exactValues(rule.actions);
      const targets: Bucket[] = [];
      if (types && actions) {
        for (const t of types) {
          let byAction = this.#exact.get(t);
          if (!byAction) {
            byAction = new Map();
            this.#exact.set(t, byAction);
          }
          for (const a of actions) targets.push(bucketIn(byAction, a));
        }
      } else if (types) {
        for (const t of types) targets.push(bucketIn(this.#byType, t));
      } else if (actions) {
        for (const a of actions) targets.push(bucketIn(this.#byAction, a));
      } else {
        targets.push(this.#wild);
      }
      for (const b of targets) b[rule.effect].push(rule);
    }
  }

  /**
   * The deciding rule: the first matching deny (by document order), else the first matching
   * allow, else undefined. The four tables are looked up once for both passes.
   */
  decide(request: AuthorizationRequest): CompiledRule | undefined {
    const type = request.resource.type;
    const action = request.action;
    const list = request.operation.phase === "list";
    const exact = this.#exact.get(type)?.get(action);
    const byType = this.#byType.get(type);
    const byAction = this.#byAction.get(action);
    const wild = this.#wild;
    let best: CompiledRule | undefined;
    if (exact) best = firstIn(exact.deny, request, false, false, list, best);
    if (byType) best = firstIn(byType.deny, request, false, true, list, best);
    if (byAction) best = firstIn(byAction.deny, request, true, false, list, best);
    best = firstIn(wild.deny, request, true, true, list, best);
    if (best) return best;
    if (exact) best = firstIn(exact.allow, request, false, false, list, best);
    if (byType) best = firstIn(byType.allow, request, false, true, list, best);
    if (byAction) best = firstIn(byAction.allow, request, true, false, list, best);
    return firstIn(wild.allow, request, true, true, list, best);
  }

  /** Every rule the index offers for the request, in document order, with how it did. */
  trace(request: AuthorizationRequest): NativeTrace[] {
    const type = request.resource.type;
    const action = request.action;
    const list = request.operation.phase === "list";
    const found: [CompiledRule, boolean, boolean][] = [];
    const add = (b: Bucket | undefined, checkType: boolean, checkAction: boolean) => {
      if (!b) return;
      for (const r of [...b.deny, ...b.allow]) found.push([r, checkType, checkAction]);
    };
    add(this.#exact.get(type)?.get(action), false, false);
    add(this.#byType.get(type), false, true);
    add(this.#byAction.get(action), true, false);
    add(this.#wild, true, true);
    found.sort((a, b) => a[0].order - b[0].order);
    return found.map(([rule, checkType, checkAction]) => {
      const code = matchRule(rule, request, checkType, checkAction, list);
      return code === MATCHED
        ? { rule, matched: true }
        : { rule, matched: false, because: describeMiss(rule, code) };
    });
  }
}

function firstIn(
  rules: readonly CompiledRule[],
  request: AuthorizationRequest,
  checkType: boolean,
  checkAction: boolean,
  list: boolean,
  best: CompiledRule | undefined,
): CompiledRule | undefined {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i] as CompiledRule;
    if (best && rule.order > best.order) return best;
    if (matchRule(rule, request, checkType, checkAction, list) === MATCHED) return rule;
  }
  return best;
}
