import { safeCheck, safeCheckMany } from "./authorizer.js";
import { ConfigError } from "./errors.js";
import type { AuthorizationRequest, CheckOptions, Decision, PolicyDecisionPoint } from "./model.js";

function requirePdps(kind: string, pdps: readonly PolicyDecisionPoint[]): void {
  if (pdps.length === 0) throw new ConfigError(`${kind}: give at least one PDP`);
}

async function closeAll(pdps: readonly PolicyDecisionPoint[]): Promise<void> {
  await Promise.all(pdps.map((p) => p.close?.() ?? Promise.resolve()));
}

/**
 * Allows only when every PDP allows. PDPs are asked in order and a deny stops the chain, so a cheap
 * PDP (local checks) placed first saves calls to a remote one.
 */
export function allOf(...pdps: readonly PolicyDecisionPoint[]): PolicyDecisionPoint {
  requirePdps("allOf", pdps);
  return {
    name: `allOf(${pdps.map((p) => p.name).join(",")})`,
    async check(request, options) {
      let last: Decision | undefined;
      for (const pdp of pdps) {
        last = await safeCheck(pdp, request, options);
        if (!last.allow) return last;
      }
      return last ?? { allow: false, source: "error", reason: "no PDP" };
    },
    async checkMany(requests, options) {
      const out: Decision[] = new Array<Decision>(requests.length);
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
          if (d.allow) next.push(i);
        });
        pending = next;
      }
      return out;
    },
    close: () => closeAll(pdps),
  };
}

/** Allows when any PDP allows; asked in order, the first allow stops the chain. */
export function anyOf(...pdps: readonly PolicyDecisionPoint[]): PolicyDecisionPoint {
  requirePdps("anyOf", pdps);
  return {
    name: `anyOf(${pdps.map((p) => p.name).join(",")})`,
    async check(request, options) {
      let last: Decision | undefined;
      for (const pdp of pdps) {
        last = await safeCheck(pdp, request, options);
        if (last.allow) return last;
      }
      return last ?? { allow: false, source: "error", reason: "no PDP" };
    },
    async checkMany(requests, options) {
      const out: Decision[] = new Array<Decision>(requests.length);
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
          if (!d.allow) next.push(i);
        });
        pending = next;
      }
      return out;
    },
    close: () => closeAll(pdps),
  };
}

/**
 * The first PDP whose decision applies (is not a default deny marked `applicable: false`) decides;
 * when none applies, the request is denied.
 */
export function firstApplicable(...pdps: readonly PolicyDecisionPoint[]): PolicyDecisionPoint {
  requirePdps("firstApplicable", pdps);
  const check = async (
    request: AuthorizationRequest,
    options?: CheckOptions,
  ): Promise<Decision> => {
    for (const pdp of pdps) {
      const d = await safeCheck(pdp, request, options);
      if (d.applicable !== false) return d;
    }
    return { allow: false, source: "pdp", reason: "no PDP applied", applicable: false };
  };
  return {
    name: `firstApplicable(${pdps.map((p) => p.name).join(",")})`,
    check,
    async checkMany(requests, options) {
      const out: (Decision | undefined)[] = new Array<Decision | undefined>(requests.length);
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
          if (d.applicable === false) next.push(i);
          else out[i] = d;
        });
        pending = next;
      }
      // Array.from visits the holes of `out` (map would skip them and leave undefined answers).
      return Array.from(
        out,
        (d) => d ?? { allow: false, source: "pdp", reason: "no PDP applied", applicable: false },
      );
    },
    close: () => closeAll(pdps),
  };
}
