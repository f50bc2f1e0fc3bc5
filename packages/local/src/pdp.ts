import {
  type AuthorizationRequest,
  type CheckOptions,
  ConfigError,
  type Decision,
  type Env,
  type PolicyDecisionPoint,
  PolicyError,
  describeError,
  envValue,
  readEnv,
} from "@mcp-pdp/core";
import { type CompiledEunomiaPolicy, EunomiaPolicySet, type EunomiaTrace } from "./eunomia.js";
import { type Issue, formatIssue } from "./issues.js";
import {
  type PolicyDocument,
  type PreparedDocument,
  originOf,
  prepareDocument,
  preparePolicyFile,
} from "./load.js";
import { type CompiledRule, type Effect, NativeRuleSet } from "./native.js";

/** Options of {@link localPdp}. */
export interface LocalPdpOptions {
  /** Policy documents given in code (native or Eunomia), or returned by `parsePolicy`. */
  readonly policies?: readonly PolicyDocument[];
  /** Policy files (YAML or JSON), read when the PDP is built and again on {@link LocalPdp.reload}. */
  readonly files?: readonly string[];
  /** The PDP's name, shown in audit events. @defaultValue `"local"` */
  readonly name?: string;
}

/** How one rule did for a request. */
export interface RuleTrace {
  readonly rule: string;
  readonly effect: Effect;
  /** The file (or `policies[i]`) the rule comes from. */
  readonly source: string;
  /** For a rule of an Eunomia policy: the policy's name. */
  readonly policy?: string;
  readonly matched: boolean;
  /** Why the rule did not match. */
  readonly because?: string;
}

/** A decision with the rule that made it and the rules that were considered. */
export interface Explanation {
  readonly decision: Decision;
  /** The deciding rule; absent when no rule matched (a default deny). */
  readonly rule?: string;
  /** The deciding rule's Eunomia policy, when it belongs to one. */
  readonly policy?: string;
  /**
   * The rules the index offered for this request (native rules of the request's resource type and
   * action, and each Eunomia policy's rules up to its first match), in order.
   */
  readonly considered: readonly RuleTrace[];
}

const NO_RULE: Decision = Object.freeze({
  allow: false,
  source: "pdp",
  reason: "no rule matched",
  applicable: false,
});

const ABORTED: Decision = Object.freeze({
  allow: false,
  source: "error",
  reason: "check aborted",
  errorCode: "PDP_ABORTED",
});

interface Engine {
  readonly native: NativeRuleSet | undefined;
  readonly eunomia: EunomiaPolicySet | undefined;
}

function prepareAll(options: LocalPdpOptions): PreparedDocument[] {
  const prepared: PreparedDocument[] = [];
  (options.policies ?? []).forEach((doc, i) => {
    const origin = originOf(doc);
    prepared.push(prepareDocument(doc, origin?.source ?? `policies[${i}]`, origin?.format));
  });
  for (const file of options.files ?? []) prepared.push(...preparePolicyFile(file));
  return prepared;
}

function build(prepared: readonly PreparedDocument[]): Engine {
  const problems: string[] = [];
  const rules: CompiledRule[] = [];
  const policies: CompiledEunomiaPolicy[] = [];
  const ruleNames = new Map<string, string>();
  const policyNames = new Map<string, string>();
  for (const p of prepared) {
    const issues: Issue[] = [];
    if (p.format === "native") {
      const base = rules.length;
      p.rules.forEach((rule, i) => {
        const seen = ruleNames.get(rule.name);
        if (seen !== undefined) {
          issues.push({
            path: ["rules", i, "name"],
            message: `duplicate rule name; also in ${seen}`,
          });
        } else ruleNames.set(rule.name, `${p.source} rules[${i}]`);
        rules.push({ ...rule, order: base + rule.order });
      });
    } else {
      const seen = policyNames.get(p.policy.name);
      if (seen !== undefined) {
        issues.push({
          path: ["name"],
          message: `duplicate policy name ${JSON.stringify(p.policy.name)}; also in ${seen}`,
        });
      } else policyNames.set(p.policy.name, p.source);
      policies.push(p.policy);
    }
    for (const issue of issues) problems.push(formatIssue(p.source, p.input, issue));
  }
  if (problems.length > 0) throw new PolicyError(problems.join("\n"));
  return {
    native: rules.length > 0 ? new NativeRuleSet(rules) : undefined,
    eunomia: policies.length > 0 ? new EunomiaPolicySet(policies) : undefined,
  };
}

function evaluate(engine: Engine, request: AuthorizationRequest): Decision {
  const native = engine.native?.decide(request);
  if (native?.effect === "deny") return native.decision;
  const eunomia = engine.eunomia?.decide(request);
  if (eunomia && !eunomia.allow) return eunomia;
  return native?.decision ?? eunomia ?? NO_RULE;
}

function failed(error: unknown): Decision {
  return {
    allow: false,
    source: "error",
    reason: `local policy evaluation failed: ${describeError(error)}`,
    errorCode: "PDP_ERROR",
  };
}

function eunomiaTrace(t: EunomiaTrace): RuleTrace {
  return {
    rule: t.rule.name,
    effect: t.rule.effect,
    source: t.policy.source,
    policy: t.policy.name,
    matched: t.matched,
    ...(t.because !== undefined ? { because: t.because } : {}),
  };
}

/**
 * The in-process PDP. Policies are compiled once into matchers indexed by resource type and
 * action; a decision is synchronous, scans only the rules that can apply and allocates almost
 * nothing. Default deny; an explicit deny overrides any allow.
 */
export class LocalPdp implements PolicyDecisionPoint {
  readonly name: string;
  readonly #options: LocalPdpOptions;
  #engine: Engine;

  /** Throws a {@link PolicyError} when a policy is invalid or a file cannot be read. */
  constructor(options: LocalPdpOptions = {}) {
    this.name = options.name ?? "local";
    this.#options = options;
    this.#engine = build(prepareAll(options));
  }

  /** Decides synchronously. Never throws: a failure is a deny with `source: "error"`. */
  decide(request: AuthorizationRequest): Decision {
    try {
      return evaluate(this.#engine, request);
    } catch (error) {
      return failed(error);
    }
  }

  /** {@link LocalPdp.decide}: the engine never waits, so it always answers synchronously. */
  checkSync(request: AuthorizationRequest): Decision {
    return this.decide(request);
  }

  /** {@link LocalPdp.decide} as a resolved Promise. An already aborted signal gives an error deny. */
  check(request: AuthorizationRequest, options?: CheckOptions): Promise<Decision> {
    if (options?.signal?.aborted === true) return Promise.resolve(ABORTED);
    return Promise.resolve(this.decide(request));
  }

  /** Decides every request, in order. */
  checkMany(
    requests: readonly AuthorizationRequest[],
    options?: CheckOptions,
  ): Promise<Decision[]> {
    if (options?.signal?.aborted === true) return Promise.resolve(requests.map(() => ABORTED));
    const out = new Array<Decision>(requests.length);
    for (let i = 0; i < requests.length; i++) {
      out[i] = this.decide(requests[i] as AuthorizationRequest);
    }
    return Promise.resolve(out);
  }

  /** The decision with the deciding rule and the rules considered. */
  explain(request: AuthorizationRequest): Explanation {
    const decision = this.decide(request);
    if (decision.source === "error") return { decision, considered: [] };
    const considered: RuleTrace[] = [];
    let deciding: RuleTrace | undefined;
    // Every rule owns its frozen decision object: the one returned identifies the deciding rule.
    for (const t of this.#engine.native?.trace(request) ?? []) {
      const trace: RuleTrace = {
        rule: t.rule.name,
        effect: t.rule.effect,
        source: t.rule.source,
        matched: t.matched,
        ...(t.because !== undefined ? { because: t.because } : {}),
      };
      if (t.rule.decision === decision) deciding = trace;
      considered.push(trace);
    }
    for (const t of this.#engine.eunomia?.trace(request) ?? []) {
      const trace = eunomiaTrace(t);
      if (t.rule.decision === decision) deciding = trace;
      considered.push(trace);
    }
    return {
      decision,
      ...(deciding ? { rule: deciding.rule } : {}),
      ...(deciding?.policy !== undefined ? { policy: deciding.policy } : {}),
      considered,
    };
  }

  /**
   * Reads the files again and recompiles every policy. On an error the PDP keeps its current
   * policies and the {@link PolicyError} is thrown.
   */
  reload(): void {
    this.#engine = build(prepareAll(this.#options));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Builds a {@link LocalPdp}. Throws a {@link PolicyError} when a policy is invalid. */
export function localPdp(options: LocalPdpOptions = {}): LocalPdp {
  return new LocalPdp(options);
}

/** The environment variables {@link localFromEnv} reads. */
export const LOCAL_PDP_ENV = {
  /** Policy files: a comma-separated list or a JSON array of paths. */
  MCP_PDP_POLICY_FILE: envValue.list(),
};

/**
 * A {@link LocalPdp} over the files named by `MCP_PDP_POLICY_FILE` (comma-separated or a JSON
 * array). Throws a {@link ConfigError} when the variable is unset or invalid, a
 * {@link PolicyError} when a policy is.
 */
export function localFromEnv(
  env: Env = process.env,
  options: Omit<LocalPdpOptions, "files"> = {},
): LocalPdp {
  const files = readEnv(LOCAL_PDP_ENV, env).MCP_PDP_POLICY_FILE;
  if (files === undefined || files.length === 0) {
    throw new ConfigError("MCP_PDP_POLICY_FILE is required: the policy file(s) to load");
  }
  return new LocalPdp({ ...options, files });
}
