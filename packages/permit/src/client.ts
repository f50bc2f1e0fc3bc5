import {
  type AuthorizationRequest,
  type CheckOptions,
  ConfigError,
  type Decision,
  type PdpFailureCode,
  type PolicyDecisionPoint,
  errorDecision,
  failureDecisions,
} from "@mcp-pdp/core";
import {
  DEFAULT_TENANT,
  type PermitQuery,
  type PermitQueryBuilder,
  toPermitQuery,
} from "./query.js";
import { refuseUnauthenticated } from "./unauthenticated.js";

/**
 * The part of the `permitio` SDK's `Permit` client this adapter calls. Declared here so the SDK stays
 * an optional peer dependency: pass your own `new Permit({ token, pdp })`.
 */
export interface PermitClientLike {
  check(
    user: PermitQuery["user"],
    action: string,
    resource: PermitQuery["resource"],
    context?: Record<string, unknown>,
  ): Promise<boolean>;
  bulkCheck(
    checks: {
      user: PermitQuery["user"];
      action: string;
      resource: PermitQuery["resource"];
      context?: Record<string, unknown>;
    }[],
  ): Promise<boolean[]>;
}

/** Options of {@link permitClientPdp}. */
export interface PermitClientPdpOptions {
  /** Milliseconds a call may take before the decision is an error deny. @defaultValue 1000 */
  readonly timeoutMs?: number;
  /** Tenant sent when the request names none. @defaultValue `"default"` */
  readonly defaultTenant?: string;
  /** Builds the query from a neutral request. @defaultValue {@link toPermitQuery} */
  readonly toQuery?: PermitQueryBuilder;
  /**
   * Deny a caller whose identity was not established (`subject.authenticated === false`) without
   * asking Permit, as `permitPdp` does. @defaultValue true
   */
  readonly denyUnauthenticated?: boolean;
  /** @defaultValue `"permit-sdk"` */
  readonly name?: string;
}

type Settled<T> = { ok: true; value: T } | { ok: false; code: PdpFailureCode; reason: string };

/** Classifies an SDK error without using its message text, which may echo request details. */
function sdkFailure(name: string, error: unknown): Settled<never> {
  const kind = error instanceof Error ? error.name : typeof error;
  const status = (error as { response?: { status?: unknown } } | undefined)?.response?.status;
  if (status === 401 || status === 403)
    return { ok: false, code: "PDP_UNAUTHORIZED", reason: `${name}: the PDP answered ${status}` };
  if (typeof status === "number")
    return {
      ok: false,
      code: status >= 502 && status <= 504 ? "PDP_UNAVAILABLE" : "PDP_ERROR",
      reason: `${name}: the PDP answered ${status}`,
    };
  if (/connection/i.test(kind))
    return {
      ok: false,
      code: "PDP_UNAVAILABLE",
      reason: `${name}: cannot reach the PDP (${kind})`,
    };
  return { ok: false, code: "PDP_ERROR", reason: `${name}: the SDK call failed (${kind})` };
}

/**
 * Runs an SDK call under a timeout and the caller's signal. The SDK call itself cannot be cancelled;
 * its late answer or rejection is swallowed so it never becomes an unhandled rejection.
 */
function settle<T>(
  name: string,
  call: () => Promise<T>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<Settled<T>> {
  if (signal?.aborted)
    return Promise.resolve({
      ok: false,
      code: "PDP_ABORTED",
      reason: `${name}: call aborted by the caller`,
    });
  return new Promise((resolve) => {
    let done = false;
    const finish = (result: Settled<T>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(result);
    };
    const onAbort = () => {
      finish({ ok: false, code: "PDP_ABORTED", reason: `${name}: call aborted by the caller` });
    };
    const timer = setTimeout(() => {
      finish({
        ok: false,
        code: "PDP_TIMEOUT",
        reason: `${name}: the PDP did not answer within ${timeoutMs} ms`,
      });
    }, timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    let pending: Promise<T>;
    try {
      pending = call();
    } catch (error) {
      finish(sdkFailure(name, error));
      return;
    }
    pending.then(
      (value) => {
        finish({ ok: true, value });
      },
      (error: unknown) => {
        finish(sdkFailure(name, error));
      },
    );
  });
}

/**
 * A PDP that asks through an existing `permitio` SDK client (`check` and `bulkCheck`). The SDK's
 * own answers are distrusted the same way as raw HTTP: only `true` allows, and a bulk answer that
 * is not one boolean per query (the SDK returns `[]` on error with `throwOnError: false`) denies
 * every item as an error. Unauthenticated callers are denied without asking, by default.
 */
export function permitClientPdp(
  permit: PermitClientLike,
  options: PermitClientPdpOptions = {},
): PolicyDecisionPoint {
  const name = options.name ?? "permit-sdk";
  const timeoutMs = options.timeoutMs ?? 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new ConfigError(`${name}: timeoutMs must be a positive number, got ${timeoutMs}`);
  const defaultTenant = options.defaultTenant ?? DEFAULT_TENANT;
  const toQuery = options.toQuery ?? ((r: AuthorizationRequest) => toPermitQuery(r, defaultTenant));

  const check = async (request: AuthorizationRequest, o?: CheckOptions): Promise<Decision> => {
    const result = await settle(
      name,
      () => {
        const q = toQuery(request);
        return permit.check(q.user, q.action, q.resource, { ...q.context });
      },
      timeoutMs,
      o?.signal,
    );
    if (!result.ok) return errorDecision(result.reason, result.code);
    if (typeof result.value !== "boolean")
      return errorDecision(`${name}: check did not answer a boolean`, "PDP_BAD_RESPONSE");
    return { allow: result.value, source: "pdp" };
  };

  const checkMany = async (
    requests: readonly AuthorizationRequest[],
    o?: CheckOptions,
  ): Promise<Decision[]> => {
    if (requests.length === 0) return [];
    const result = await settle(
      name,
      () =>
        permit.bulkCheck(
          requests.map(toQuery).map((q) => ({
            user: q.user,
            action: q.action,
            resource: q.resource,
            context: { ...q.context },
          })),
        ),
      timeoutMs,
      o?.signal,
    );
    if (!result.ok) return failureDecisions(result, requests.length);
    const answers: unknown = result.value;
    if (
      !Array.isArray(answers) ||
      answers.length !== requests.length ||
      !answers.every((a) => typeof a === "boolean")
    ) {
      const length = Array.isArray(answers) ? answers.length : "no";
      return failureDecisions(
        {
          code: "PDP_BAD_RESPONSE",
          reason: `${name}: bulkCheck answered ${length} decisions to ${requests.length} queries`,
        },
        requests.length,
      );
    }
    return answers.map((allow) => ({ allow, source: "pdp" }));
  };

  const checks =
    (options.denyUnauthenticated ?? true)
      ? refuseUnauthenticated(check, checkMany)
      : { check, checkMany };
  return { name, ...checks };
}
