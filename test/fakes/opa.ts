/**
 * A fake Open Policy Agent speaking its data API: `POST /v1/data/{path}` with `{"input": ...}` ->
 * `{"result": ...}` (`{}` when the decision is undefined), optional decision ids, optional bearer
 * token, `GET /health`. The Enterprise batch endpoint `POST /v1/batch/data/{path}` answers 404
 * unless enterprise mode is on, or 401/403 when the batch endpoint is set to be refused the way an
 * OPA started with `--authorization=basic` refuses a path its `system.authz` policy does not allow.
 * Decisions come from a policy function over the input.
 */
import { type FakeServer, type RecordedRequest, startJsonServer } from "./shared.js";

/**
 * Evaluates the document at a path for an input: any JSON value, or undefined for an undefined
 * decision (no rule matched and no default). Throwing simulates an evaluation error (for example a
 * conflict between rules): 500 for a single call, a per-input error and 207 for a batch.
 */
export type OpaPolicy = (input: unknown, path: string) => unknown;

/** Options of {@link startOpaFake}. */
export interface OpaFakeOptions {
  /** @defaultValue every decision undefined */
  readonly policy?: OpaPolicy;
  /** Serve the Enterprise batch endpoint. @defaultValue false (404 like open-source OPA) */
  readonly enterprise?: boolean;
  /** Require `Authorization: Bearer <token>`. @defaultValue no authentication */
  readonly token?: string;
  /** Add a `decision_id` to answers, as decision logging does. @defaultValue false */
  readonly decisionIds?: boolean;
  /**
   * Refuse the batch endpoint with this status while single calls still work: OPA's authorizer
   * answers 401 for a path its `system.authz` policy does not allow (403 is what a proxy in front
   * of it may answer instead). @defaultValue the batch endpoint is not refused
   */
  readonly refuseBatch?: BatchRefusal;
}

/** How an authorization-restricted OPA (or a proxy in front of it) refuses the batch endpoint. */
export type BatchRefusal = 401 | 403;

/** A running fake OPA. */
export interface OpaFake extends FakeServer {
  setPolicy(policy: OpaPolicy): void;
  setEnterprise(on: boolean): void;
  /** Refuses (401 or 403) or serves again (`undefined`) the batch endpoint. */
  setRefuseBatch(status: BatchRefusal | undefined): void;
  /** Every input evaluated (single and batch), with its path. */
  evaluations(): { path: string; input: unknown }[];
  /** Sizes of the batch calls answered (enterprise mode). */
  bulkSizes(): number[];
  /** Number of single `POST /v1/data` calls. */
  singleCalls(): number;
  /** Number of batch calls received, answered or not. */
  batchAttempts(): number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Merges `common_input` under each input the way Enterprise OPA does (the input's keys win). */
function merge(common: unknown, input: unknown): unknown {
  if (!isRecord(common) || !isRecord(input)) return input ?? common;
  const out: Record<string, unknown> = { ...common };
  for (const [k, v] of Object.entries(input)) out[k] = k in out ? merge(out[k], v) : v;
  return out;
}

/** Starts a fake OPA on 127.0.0.1. */
export async function startOpaFake(options: OpaFakeOptions = {}): Promise<OpaFake> {
  let policy: OpaPolicy = options.policy ?? (() => undefined);
  let enterprise = options.enterprise ?? false;
  let refuseBatch = options.refuseBatch;
  const evaluations: { path: string; input: unknown }[] = [];
  const bulkSizes: number[] = [];
  let singles = 0;
  let batches = 0;
  let counter = 0;

  const isBatch = (req: RecordedRequest) => req.path.startsWith("/v1/batch/data");
  const authorized = (req: RecordedRequest) => {
    if (options.token === undefined) return true;
    const header = req.headers.authorization;
    return header === `Bearer ${options.token}`;
  };
  const evaluate = (path: string, input: unknown) => {
    evaluations.push({ path, input });
    const result = policy(input, path);
    return {
      ...(result !== undefined ? { result } : {}),
      ...(options.decisionIds ? { decision_id: `fake-${++counter}` } : {}),
    };
  };

  const server = await startJsonServer({
    isDecision: (req) =>
      req.method === "POST" &&
      (req.path.startsWith("/v1/data") ||
        (isBatch(req) && enterprise && refuseBatch === undefined)),
    handle(req, state) {
      if (req.method === "GET" && req.path.startsWith("/health")) return { status: 200, body: {} };
      if (req.method !== "POST") return undefined;
      if (!authorized(req)) {
        return {
          status: 401,
          body: { code: "unauthorized", message: "missing or invalid bearer token" },
        };
      }
      if (isBatch(req)) {
        batches++;
        if (refuseBatch !== undefined) {
          // The body OPA's authorizer writes when its administrative policy rejects a request.
          return {
            status: refuseBatch,
            body: { code: "unauthorized", message: "request rejected by administrative policy" },
          };
        }
        if (!enterprise) {
          return {
            status: 404,
            body: { code: "resource_not_found", message: "no such endpoint" },
          };
        }
        const path = req.path.slice("/v1/batch/data/".length);
        if (!isRecord(req.body) || !isRecord(req.body.inputs)) {
          return { status: 400, body: { code: "invalid_parameter", message: "inputs required" } };
        }
        const ids = Object.keys(req.body.inputs);
        bulkSizes.push(ids.length);
        const responses: Record<string, unknown> = {};
        let failed = false;
        for (const id of ids) {
          try {
            responses[id] = evaluate(path, merge(req.body.common_input, req.body.inputs[id]));
          } catch (error) {
            // Enterprise OPA answers 207 with an error object for an input it could not evaluate.
            failed = true;
            responses[id] = { code: "internal_error", message: String(error) };
          }
        }
        if (state.wrongShape) return { status: 200, body: { responses: "none" } };
        if (state.wrongBulkLength) {
          const last = ids.at(-1);
          if (last !== undefined) Reflect.deleteProperty(responses, last);
        }
        return { status: failed ? 207 : 200, body: { responses } };
      }
      if (req.path.startsWith("/v1/data")) {
        singles++;
        const path = req.path.slice("/v1/data/".length).split("?")[0] ?? "";
        const input = isRecord(req.body) ? req.body.input : undefined;
        let answer;
        try {
          answer = evaluate(path, input);
        } catch (error) {
          return { status: 500, body: { code: "internal_error", message: String(error) } };
        }
        if (state.wrongShape) return { status: 200, body: { result: "maybe" } };
        return { status: 200, body: answer };
      }
      return undefined;
    },
  });

  return {
    ...server,
    reset() {
      server.reset();
      evaluations.length = 0;
      bulkSizes.length = 0;
      singles = 0;
      batches = 0;
    },
    setPolicy(next) {
      policy = next;
    },
    setEnterprise(on) {
      enterprise = on;
    },
    setRefuseBatch(status) {
      refuseBatch = status;
    },
    evaluations: () => evaluations,
    bulkSizes: () => bulkSizes,
    singleCalls: () => singles,
    batchAttempts: () => batches,
  };
}
