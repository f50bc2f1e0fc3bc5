import { safeCheck, safeCheckMany } from "./authorizer.js";
import { ConfigError } from "./errors.js";
import type { AuthorizationRequest, CheckOptions, Decision, PolicyDecisionPoint } from "./model.js";

const NONE_APPLIED: Decision = {
  allow: false,
  source: "pdp",
  reason: "no PDP applied",
  applicable: false,
};

/**
 * Asks PDPs in order; a request moves on to the next PDP while `goOn(decision)` holds, and keeps
 * the last decision it got (or `exhausted` when every PDP let it go on, if given). Bulk checks ask
 * each PDP once, for the requests still undecided.
 */
function chain(
  kind: string,
  pdps: readonly PolicyDecisionPoint[],
  goOn: (decision: Decision) => boolean,
  exhausted?: Decision,
): PolicyDecisionPoint {
  if (pdps.length === 0) throw new ConfigError(`${kind}: give at least one PDP`);
  const settle = (d: Decision) => (exhausted && goOn(d) ? exhausted : d);
  return {
    name: `${kind}(${pdps.map((p) => p.name).join(",")})`,
    async check(request: AuthorizationRequest, options?: CheckOptions) {
      let last: Decision = NONE_APPLIED;
      for (const pdp of pdps) {
        last = await safeCheck(pdp, request, options);
        if (!goOn(last)) return last;
      }
      return settle(last);
    },
    async checkMany(requests: readonly AuthorizationRequest[], options?: CheckOptions) {
      const out = Array.from<Decision>({ length: requests.length }).fill(NONE_APPLIED);
      let pending = requests.map((_, i) => i);
      for (const pdp of pdps) {
        if (pending.length === 0) break;
        const answers = await safeCheckMany(
          pdp,
          pending.map((i) => requests[i] as AuthorizationRequest),
          options,
        );
        const next: number[] = [];
        pending.forEach((i, k) => {
          const d = answers[k] as Decision;
          out[i] = d;
          if (goOn(d)) next.push(i);
        });
        pending = next;
      }
      for (const i of pending) out[i] = settle(out[i] as Decision);
      return out;
    },
    async close() {
      await Promise.all(pdps.map((p) => p.close?.() ?? Promise.resolve()));
    },
  };
}

/**
 * Allows only when every PDP allows. PDPs are asked in order and a deny stops the chain, so a cheap
 * PDP (local checks) placed first saves calls to a remote one.
 */
export function allOf(...pdps: readonly PolicyDecisionPoint[]): PolicyDecisionPoint {
  return chain("allOf", pdps, (d) => d.allow);
}

/** Allows when any PDP allows; asked in order, the first allow stops the chain. */
export function anyOf(...pdps: readonly PolicyDecisionPoint[]): PolicyDecisionPoint {
  return chain("anyOf", pdps, (d) => !d.allow);
}

/**
 * The first PDP whose decision applies (is not a default deny marked `applicable: false`) decides;
 * when none applies, the request is denied.
 */
export function firstApplicable(...pdps: readonly PolicyDecisionPoint[]): PolicyDecisionPoint {
  return chain("firstApplicable", pdps, (d) => d.applicable === false, NONE_APPLIED);
}
