/**
 * Test doubles for code that uses mcp-pdp: PDPs with fixed or scripted answers, a PDP that records
 * what it was asked, and an in-memory audit sink.
 */
import type { AuditEvent, AuditSink } from "./audit.js";
import type { AuthorizationRequest, CheckOptions, Decision, PolicyDecisionPoint } from "./model.js";

/** A PDP that allows everything. */
export function allowAll(): PolicyDecisionPoint {
  return {
    name: "allow-all",
    check: () => Promise.resolve({ allow: true, source: "pdp", reason: "allow-all" }),
  };
}

/** A PDP that denies everything. */
export function denyAll(reason = "deny-all"): PolicyDecisionPoint {
  return {
    name: "deny-all",
    check: () => Promise.resolve({ allow: false, source: "pdp", reason }),
  };
}

/** A PDP deciding with a function (sync or async). Has a `checkMany` that maps over `check`. */
export function functionPdp(
  decide: (
    request: AuthorizationRequest,
    options?: CheckOptions,
  ) => boolean | Decision | Promise<boolean | Decision>,
  name = "function",
): PolicyDecisionPoint {
  const check = async (
    request: AuthorizationRequest,
    options?: CheckOptions,
  ): Promise<Decision> => {
    const d = await decide(request, options);
    return typeof d === "boolean" ? { allow: d, source: "pdp" } : d;
  };
  return {
    name,
    check,
    checkMany: (requests, options) => Promise.all(requests.map((r) => check(r, options))),
  };
}

/** A PDP that records every request and bulk call, and delegates to another PDP. */
export interface RecordingPdp extends PolicyDecisionPoint {
  /** Every request decided, in order (bulk requests included). */
  readonly requests: AuthorizationRequest[];
  /** Number of `check` calls. */
  readonly checkCalls: number;
  /** Sizes of the `checkMany` calls. */
  readonly bulkCalls: number[];
  reset(): void;
}

export function recordingPdp(inner: PolicyDecisionPoint = allowAll()): RecordingPdp {
  const requests: AuthorizationRequest[] = [];
  const bulkCalls: number[] = [];
  let checkCalls = 0;
  return {
    name: `recording(${inner.name})`,
    requests,
    bulkCalls,
    get checkCalls() {
      return checkCalls;
    },
    reset() {
      requests.length = 0;
      bulkCalls.length = 0;
      checkCalls = 0;
    },
    check(request, options) {
      checkCalls++;
      requests.push(request);
      return inner.check(request, options);
    },
    checkMany(list, options) {
      bulkCalls.push(list.length);
      requests.push(...list);
      if (inner.checkMany) return inner.checkMany(list, options);
      return Promise.all(list.map((r) => inner.check(r, options)));
    },
    close: () => inner.close?.() ?? Promise.resolve(),
  };
}

/** An audit sink that keeps events in memory. */
export interface MemoryAuditSink extends AuditSink {
  readonly events: AuditEvent[];
  clear(): void;
}

export function memoryAuditSink(): MemoryAuditSink {
  const events: AuditEvent[] = [];
  return {
    events,
    write(event) {
      events.push(event);
    },
    clear() {
      events.length = 0;
    },
  };
}
