import { type AuditSink, decisionEvent } from "../audit.js";
import { normalizeDecision } from "../authorizer.js";
import { ConfigError, type McpPdpErrorCode, describeError, integerOption } from "../errors.js";
import { isListMethod } from "../mapping.js";
import type {
  AuthorizationRequest,
  CheckOptions,
  Decision,
  PolicyDecisionPoint,
} from "../model.js";
import { errorDecision } from "../http.js";
import { abortedDecision, sleep } from "./internal.js";

/**
 * What a decision is when the PDP cannot answer (timeout, transport failure, open circuit).
 *
 * - `"deny"`: deny (fail closed). The default.
 * - `"allow-list-only"`: items of a list result (`operation.phase: "list"`) and the coarse
 *   `tools/list`, `resources/list`, `resources/templates/list` and `prompts/list` checks are
 *   allowed, so clients keep seeing the catalogue during an outage; every other request
 *   (`tools/call`, `resources/read`, `prompts/get`, ...) is still denied. The allow keeps
 *   `source: "error"` and its `errorCode`, so it is never cached and is audited as a failure.
 *   Opt in only when revealing component names and descriptions to callers who may not use them
 *   is acceptable.
 */
export type FailureMode = "deny" | "allow-list-only";

/** The state of a circuit breaker. */
export type CircuitState = "closed" | "open" | "half-open";

/** Reported to {@link ResilienceOptions.onError} for every error decision. */
export interface ResilienceErrorEvent {
  /** The inner PDP's name. */
  readonly pdp: string;
  readonly request: AuthorizationRequest;
  /** The decision returned (an error deny, or an allow under `failureMode: "allow-list-only"`). */
  readonly decision: Decision;
  readonly errorCode: string;
  /** What failed, as in the decision's reason. */
  readonly reason: string;
  /** PDP calls made for this request (0 when the circuit was open or the caller had aborted). */
  readonly attempts: number;
  /** The exception the last attempt threw, if it threw. */
  readonly cause?: unknown;
  /** The circuit's state after this decision. */
  readonly circuit: CircuitState;
  /** Milliseconds from the check to its decision. */
  readonly latencyMs: number;
}

/** Options of {@link withResilience}. */
export interface ResilienceOptions {
  /**
   * Longest wait for one PDP call, in milliseconds; the call is then aborted through its signal
   * and counts as a transport failure.
   * @defaultValue `1000`
   */
  readonly timeoutMs?: number;
  /** Extra attempts after a transport failure. @defaultValue `2` */
  readonly retries?: number;
  /**
   * Base of the exponential backoff between attempts, in milliseconds. Each wait is drawn
   * uniformly between 0 and `min(retryMaxMs, retryBaseMs * 2 ** (attempt - 1))` (full jitter),
   * so replicas retrying together do not hit the PDP in step.
   * @defaultValue `50`
   */
  readonly retryBaseMs?: number;
  /** Cap of one backoff wait, in milliseconds. @defaultValue `1000` */
  readonly retryMaxMs?: number;
  /** Consecutive failed calls that open the circuit. @defaultValue `5` */
  readonly failureThreshold?: number;
  /**
   * How long an open circuit rejects calls before letting one probe through, in milliseconds.
   * @defaultValue `30_000`
   */
  readonly resetTimeoutMs?: number;
  /** What a decision is when the PDP cannot answer. See {@link FailureMode}. @defaultValue `"deny"` */
  readonly failureMode?: FailureMode;
  /** Receives one audit event per error decision, its reason naming the cause. */
  readonly audit?: AuditSink;
  /** Called for every error decision. Exceptions it throws are ignored. */
  readonly onError?: (event: ResilienceErrorEvent) => void;
}

/** A PDP guarded by timeouts, retries and a circuit breaker; returned by {@link withResilience}. */
export interface ResilientPdp extends PolicyDecisionPoint {
  /** The circuit breaker's current state. */
  readonly circuit: CircuitState;
}

/** Error codes of transport failures, the only ones worth another attempt. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set(["PDP_UNAVAILABLE", "PDP_TIMEOUT"]);

/** Codes a thrown error keeps in its error decision; any other code becomes `PDP_UNAVAILABLE`. */
const KNOWN_CODES: ReadonlySet<string> = new Set<McpPdpErrorCode>([
  "PDP_UNAVAILABLE",
  "PDP_TIMEOUT",
  "PDP_ABORTED",
  "PDP_BAD_RESPONSE",
  "PDP_UNAUTHORIZED",
  "PDP_ERROR",
  "CIRCUIT_OPEN",
  "CONFIG_INVALID",
  "POLICY_INVALID",
  "IDENTITY_INVALID",
  "CHECK_FAILED",
]);

/** Codes of thrown errors that another attempt would not fix. */
const PERMANENT_CODES: ReadonlySet<string> = new Set<McpPdpErrorCode>([
  "PDP_BAD_RESPONSE",
  "PDP_UNAUTHORIZED",
  "PDP_ABORTED",
  "CIRCUIT_OPEN",
  "CONFIG_INVALID",
  "POLICY_INVALID",
  "IDENTITY_INVALID",
  "CHECK_FAILED",
]);

interface Outcome {
  readonly decision: Decision;
  /** A transport failure: retried, counted by the circuit breaker, subject to the failure mode. */
  readonly transient: boolean;
  readonly cause?: unknown;
}

type Gate = "pass" | "probe" | { readonly retryInMs: number };

class CircuitBreaker {
  state: CircuitState = "closed";
  failures = 0;
  #openedAt = 0;
  #probing = false;
  readonly #threshold: number;
  readonly #resetMs: number;

  constructor(threshold: number, resetMs: number) {
    this.#threshold = threshold;
    this.#resetMs = resetMs;
  }

  enter(): Gate {
    if (this.state === "open") {
      const wait = this.#openedAt + this.#resetMs - Date.now();
      if (wait > 0) return { retryInMs: wait };
      this.state = "half-open";
    }
    if (this.state === "half-open") {
      if (this.#probing) return { retryInMs: 0 };
      this.#probing = true;
      return "probe";
    }
    return "pass";
  }

  success(gate: Gate): void {
    if (gate === "probe") this.#probing = false;
    this.failures = 0;
    this.state = "closed";
  }

  failure(gate: Gate): void {
    this.failures++;
    if (gate === "probe") {
      this.#probing = false;
      this.#open();
    } else if (this.state === "closed" && this.failures >= this.#threshold) {
      this.#open();
    }
  }

  /** The call ended without telling anything about the PDP (its caller aborted). */
  neutral(gate: Gate): void {
    if (gate === "probe") this.#probing = false;
  }

  #open(): void {
    this.state = "open";
    this.#openedAt = Date.now();
  }
}

function classify(decision: Decision): Outcome {
  return {
    decision,
    transient:
      decision.source === "error" &&
      decision.errorCode !== undefined &&
      TRANSIENT_CODES.has(decision.errorCode),
  };
}

function failureModeOption(value: unknown): FailureMode {
  if (value === undefined) return "deny";
  if (value === "deny" || value === "allow-list-only") return value;
  throw new ConfigError(
    `withResilience: failureMode must be "deny" or "allow-list-only", got ${JSON.stringify(value)}`,
  );
}

function isListVisibility(request: AuthorizationRequest): boolean {
  const { method, phase } = request.operation;
  return phase === "list" || isListMethod(method);
}

/**
 * Guards a PDP with a per-call timeout, retries with full jitter and a circuit breaker.
 *
 * - Only transport failures are retried: error decisions with `errorCode` `PDP_UNAVAILABLE` or
 *   `PDP_TIMEOUT`, and thrown exceptions (except those whose `code` says retrying cannot help,
 *   such as `PDP_BAD_RESPONSE` or `PDP_UNAUTHORIZED`). A deny is an answer, never retried.
 * - Each attempt gets its own `AbortSignal`, fired on timeout or when the caller's signal fires.
 * - The circuit opens after `failureThreshold` consecutive calls ending in a transport failure
 *   (after their retries); while open, checks are denied at once with `errorCode: "CIRCUIT_OPEN"`.
 *   After `resetTimeoutMs` one probe (a single attempt) goes through: its success closes the
 *   circuit, its failure reopens it. Any answer from the PDP, even a malformed one, shows it is
 *   reachable and counts as a success.
 * - A `checkMany` is one call: only its items that failed in transport are retried.
 *
 * Every error decision names its cause in `reason` (`timed out after 1000 ms`, `circuit open`,
 * ...), goes to `audit` and `onError`, and is a deny unless `failureMode` says otherwise.
 */
export function withResilience(
  options: ResilienceOptions = {},
): (pdp: PolicyDecisionPoint) => ResilientPdp {
  const where = "withResilience";
  const timeoutMs = integerOption(where, "timeoutMs", options.timeoutMs, 1000, 1);
  const retries = integerOption(where, "retries", options.retries, 2, 0, 10);
  const retryBaseMs = integerOption(where, "retryBaseMs", options.retryBaseMs, 50, 0);
  const retryMaxMs = integerOption(where, "retryMaxMs", options.retryMaxMs, 1000, 0);
  const threshold = integerOption(where, "failureThreshold", options.failureThreshold, 5, 1);
  const resetMs = integerOption(where, "resetTimeoutMs", options.resetTimeoutMs, 30_000, 1);
  const failureMode = failureModeOption(options.failureMode);
  const { audit, onError } = options;

  return (inner) => {
    const name = inner.name;
    const breaker = new CircuitBreaker(threshold, resetMs);
    const bulkCall = inner.checkMany?.bind(inner);

    const thrown = (error: unknown): Outcome => {
      const raw = (error as { code?: unknown } | null)?.code;
      const code = typeof raw === "string" && KNOWN_CODES.has(raw) ? raw : "PDP_UNAVAILABLE";
      return {
        decision: errorDecision(`PDP ${name} failed: ${describeError(error)}`, code),
        transient: !PERMANENT_CODES.has(code),
        cause: error,
      };
    };

    const invoke = async (
      requests: readonly AuthorizationRequest[],
      bulk: boolean,
      signal: AbortSignal,
    ): Promise<Outcome[]> => {
      try {
        if (bulk && bulkCall) {
          const answers: unknown = await bulkCall(requests, { signal });
          if (!Array.isArray(answers) || answers.length !== requests.length) {
            const bad = errorDecision(
              `PDP ${name} answered a bulk check with the wrong number of decisions`,
              "PDP_BAD_RESPONSE",
            );
            return requests.map(() => ({ decision: bad, transient: false }));
          }
          return answers.map((a) => classify(normalizeDecision(a)));
        }
        return [
          classify(
            normalizeDecision(await inner.check(requests[0] as AuthorizationRequest, { signal })),
          ),
        ];
      } catch (error) {
        return requests.map(() => thrown(error));
      }
    };

    /** One attempt with its timeout; `undefined` when the caller aborted. */
    const attempt = async (
      requests: readonly AuthorizationRequest[],
      bulk: boolean,
      callerSignal: AbortSignal | undefined,
    ): Promise<Outcome[] | undefined> => {
      const controller = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      let onAbort: (() => void) | undefined;
      try {
        return await new Promise<Outcome[] | undefined>((resolve) => {
          timer = setTimeout(() => {
            controller.abort(new Error(`timed out after ${timeoutMs} ms`));
            const timedOut = errorDecision(
              `PDP ${name} timed out after ${timeoutMs} ms`,
              "PDP_TIMEOUT",
            );
            resolve(requests.map(() => ({ decision: timedOut, transient: true })));
          }, timeoutMs);
          if (callerSignal) {
            onAbort = () => {
              controller.abort(callerSignal.reason);
              resolve(undefined);
            };
            callerSignal.addEventListener("abort", onAbort, { once: true });
          }
          void invoke(requests, bulk, controller.signal).then(resolve);
        });
      } finally {
        clearTimeout(timer);
        if (onAbort) callerSignal?.removeEventListener("abort", onAbort);
      }
    };

    const report = (
      request: AuthorizationRequest,
      decision: Decision,
      outcome: Outcome,
      attempts: number,
      latencyMs: number,
    ): void => {
      const reason = decision.reason ?? "PDP failed";
      const errorCode = decision.errorCode ?? "PDP_ERROR";
      try {
        audit?.write(decisionEvent(name, request, decision, latencyMs));
      } catch {
        // An audit sink must not throw; if one does, the decision still stands.
      }
      try {
        onError?.({
          pdp: name,
          request,
          decision,
          errorCode,
          reason,
          attempts,
          ...(outcome.cause !== undefined ? { cause: outcome.cause } : {}),
          circuit: breaker.state,
          latencyMs,
        });
      } catch {
        // A failing hook must not turn a decision into a rejection.
      }
    };

    const finish = (
      requests: readonly AuthorizationRequest[],
      outcomes: readonly Outcome[],
      attempts: readonly number[],
      started: number,
    ): Decision[] => {
      const latencyMs = performance.now() - started;
      return requests.map((request, i) => {
        const outcome = outcomes[i] ?? { decision: abortedDecision(name), transient: false };
        const tries = attempts[i] ?? 0;
        let decision = outcome.decision;
        if (decision.source !== "error") return decision;
        const reason = decision.reason ?? `PDP ${name} failed`;
        decision = { ...decision, reason: tries > 1 ? `${reason} (${tries} attempts)` : reason };
        const unreachable = outcome.transient || decision.errorCode === "CIRCUIT_OPEN";
        if (failureMode === "allow-list-only" && unreachable && isListVisibility(request)) {
          decision = {
            ...decision,
            allow: true,
            reason: `${decision.reason ?? reason}; shown by failureMode allow-list-only`,
          };
        }
        report(request, decision, outcome, tries, latencyMs);
        return decision;
      });
    };

    const decide = async (
      requests: readonly AuthorizationRequest[],
      bulk: boolean,
      signal: AbortSignal | undefined,
    ): Promise<Decision[]> => {
      const started = performance.now();
      const n = requests.length;
      const attempts: number[] = new Array<number>(n).fill(0);
      const aborted: Outcome = { decision: abortedDecision(name), transient: false };
      if (signal?.aborted)
        return finish(
          requests,
          requests.map(() => aborted),
          attempts,
          started,
        );
      const gate = breaker.enter();
      if (typeof gate === "object") {
        const open: Outcome = {
          decision: errorDecision(
            gate.retryInMs > 0
              ? `circuit open for PDP ${name} after ${breaker.failures} consecutive failures; next probe in ${Math.ceil(gate.retryInMs)} ms`
              : `circuit half-open for PDP ${name}: waiting for the probe call`,
            "CIRCUIT_OPEN",
          ),
          transient: false,
        };
        return finish(
          requests,
          requests.map(() => open),
          attempts,
          started,
        );
      }
      const outcomes: Outcome[] = new Array<Outcome>(n);
      let pending = requests.map((_, i) => i);
      const maxAttempts = gate === "probe" ? 1 : retries + 1;
      let allFailed = false;
      let interrupted = false;
      for (let round = 1; ; round++) {
        const answers = await attempt(
          pending.map((i) => requests[i] as AuthorizationRequest),
          bulk,
          signal,
        );
        if (!answers) {
          for (const i of pending) outcomes[i] = aborted;
          interrupted = true;
          break;
        }
        pending.forEach((i, k) => {
          outcomes[i] = answers[k] ?? aborted;
          attempts[i] = round;
        });
        const again = pending.filter((i) => outcomes[i]?.transient === true);
        allFailed = again.length === pending.length;
        if (again.length === 0 || round >= maxAttempts) break;
        const backoff = Math.random() * Math.min(retryMaxMs, retryBaseMs * 2 ** (round - 1));
        if (!(await sleep(backoff, signal))) {
          for (const i of again) outcomes[i] = aborted;
          interrupted = true;
          break;
        }
        pending = again;
      }
      if (interrupted) breaker.neutral(gate);
      else if (allFailed) breaker.failure(gate);
      else breaker.success(gate);
      return finish(requests, outcomes, attempts, started);
    };

    const safely = (
      requests: readonly AuthorizationRequest[],
      bulk: boolean,
      signal: AbortSignal | undefined,
    ): Promise<Decision[]> =>
      decide(requests, bulk, signal).catch((error: unknown) => {
        const failed = errorDecision(`PDP ${name} failed: ${describeError(error)}`, "PDP_ERROR");
        return requests.map(() => failed);
      });

    const pdp: ResilientPdp = {
      name,
      get circuit() {
        return breaker.state;
      },
      check: async (request: AuthorizationRequest, opts?: CheckOptions) =>
        (await safely([request], false, opts?.signal))[0] ??
        errorDecision(`PDP ${name} gave no answer`, "PDP_ERROR"),
      ...(bulkCall
        ? {
            checkMany: (requests: readonly AuthorizationRequest[], opts?: CheckOptions) =>
              requests.length === 0 ? Promise.resolve([]) : safely(requests, true, opts?.signal),
          }
        : {}),
      close: () => inner.close?.() ?? Promise.resolve(),
    };
    return pdp;
  };
}
