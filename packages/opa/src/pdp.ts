import {
  type AuthorizationRequest,
  type CheckOptions,
  ConfigError,
  type Decision,
  JsonHttpClient,
  Limiter,
  type RemotePdp,
  buildFailure,
  errorDecision,
  failureDecisions,
  integerOption,
  mapInChunks,
  mapWithConcurrency,
} from "@mcp-pdp/core";
import { setMaxListeners } from "node:events";
import { z } from "zod";
import { type OpaInputBuilder, toOpaInput } from "./input.js";

/** OPA's usual local address. */
export const DEFAULT_OPA_URL = "http://localhost:8181";

/** The default decision document: `data.mcp.authz.allow`. */
export const DEFAULT_DECISION_PATH = "mcp/authz/allow";

/**
 * Whether bulk checks try Enterprise OPA's batch endpoint: `"auto"` probes it once, `"off"` never
 * does and always makes single calls.
 */
export type OpaBatchMode = "auto" | "off";

/**
 * Statuses of the batch probe that mean "use single calls": no such endpoint (open-source OPA), or
 * an OPA whose `--authorization` policy lets this client reach `/v1/data` but not `/v1/batch`.
 */
const NO_BATCH_STATUSES: ReadonlySet<number> = new Set([401, 403, 404]);

/** Options of {@link opaPdp}. */
export interface OpaPdpOptions {
  /** OPA's base URL. @defaultValue `"http://localhost:8181"` */
  readonly url?: string;
  /**
   * The decision document, as a path under `/v1/data` (`mcp/authz/allow`) or a dotted reference
   * (`data.mcp.authz.allow`). Its value may be a boolean or an object `{allow, reason}`.
   * @defaultValue `"mcp/authz/allow"`
   */
  readonly decisionPath?: string;
  /** Sent as `Authorization: Bearer <token>` (OPA's `--authentication=token`). @defaultValue none */
  readonly token?: string;
  /** Milliseconds one call may take. @defaultValue 1000 */
  readonly timeoutMs?: number;
  /** Keep-alive connections to OPA. @defaultValue 16 */
  readonly connections?: number;
  /**
   * `"auto"` tries Enterprise OPA's `POST /v1/batch/data/{path}` for bulk checks once: a 404
   * (open-source OPA) or a 401/403 (an OPA whose authorization policy does not let this client use
   * the batch endpoint) is remembered, and bulk checks become bounded parallel single calls, each
   * still failing closed on its own 401/403. `"off"` never tries the batch endpoint.
   * @defaultValue `"auto"`
   */
  readonly batch?: OpaBatchMode;
  /** Inputs per batch call. @defaultValue 100 */
  readonly maxBatchSize?: number;
  /**
   * Single calls in flight at once when there is no batch endpoint, across all the bulk checks of
   * this adapter. @defaultValue 8
   */
  readonly concurrency?: number;
  /** Builds the input document. @defaultValue {@link toOpaInput} */
  readonly toInput?: OpaInputBuilder;
  /** @defaultValue `"opa"` */
  readonly name?: string;
}

/** An OPA adapter; `healthy()` asks whether `GET /health` answers 200. */
export interface OpaPdp extends RemotePdp {
  /** Whether the batch endpoint is known to exist (`undefined` until the first bulk check). */
  readonly batchSupported: boolean | undefined;
}

const resultSchema = z.union([
  z.boolean(),
  z.looseObject({ allow: z.boolean(), reason: z.string().nullish() }),
]);
const answerSchema = z.looseObject({
  result: resultSchema.optional(),
  decision_id: z.string().optional(),
});
const errorSchema = z.looseObject({ code: z.string(), message: z.string().optional() });
const batchSchema = z.looseObject({
  responses: z.record(z.string(), z.union([answerSchema, errorSchema])),
});

type Answer = z.output<typeof answerSchema>;

/** Normalises `mcp/authz/allow`, `/mcp/authz/allow`, `data.mcp.authz.allow` to `mcp/authz/allow`. */
export function normalizeDecisionPath(path: string): string {
  let p = path.trim();
  if (p.startsWith("data.")) p = p.slice("data.".length).replaceAll(".", "/");
  p = p
    .replace(/^\/+/, "")
    .replace(/^v1\/data\//, "")
    .replace(/\/+$/, "");
  if (p === "" || /\s/.test(p) || p.split("/").some((s) => s === "")) {
    throw new ConfigError(
      `opa: decisionPath must name a document such as "mcp/authz/allow", got ${JSON.stringify(path)}`,
    );
  }
  return p;
}

/**
 * A PDP backed by Open Policy Agent's data API. The decision document may be a boolean or
 * `{allow, reason}`; an undefined decision (no rule matched, no default) is a deny, not an error.
 * Bulk checks use Enterprise OPA's batch endpoint when it exists and this client may use it, else
 * bounded parallel single calls. Every failure is a deny with `source: "error"`; `check` and
 * `checkMany` never reject.
 */
export function opaPdp(options: OpaPdpOptions = {}): OpaPdp {
  const name = options.name ?? "opa";
  const path = normalizeDecisionPath(options.decisionPath ?? DEFAULT_DECISION_PATH);
  const encodedPath = path.split("/").map(encodeURIComponent).join("/");
  const maxBatch = integerOption("opa", "maxBatchSize", options.maxBatchSize, 100);
  const concurrency = integerOption("opa", "concurrency", options.concurrency, 8);
  const toInput = options.toInput ?? toOpaInput;
  const batchMode = options.batch ?? "auto";
  // Checked at run time too: JavaScript callers and older configs may pass `true` or `false`.
  if (!(["auto", "off"] as readonly unknown[]).includes(batchMode)) {
    const given: unknown = options.batch;
    const hint =
      typeof given === "boolean"
        ? ` (for ${String(given)}, write "${given ? "auto" : "off"}")`
        : "";
    throw new ConfigError(
      `opa: batch must be "auto" or "off", got ${JSON.stringify(options.batch)}${hint}`,
    );
  }
  if (options.token !== undefined && options.token.trim() === "") {
    throw new ConfigError("opa: token must not be empty (leave it out when OPA needs none)");
  }
  const http = new JsonHttpClient({
    url: options.url ?? DEFAULT_OPA_URL,
    name,
    ...(options.token !== undefined
      ? { headers: { authorization: `Bearer ${options.token}` } }
      : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.connections !== undefined ? { connections: options.connections } : {}),
  });
  const signalOf = (o?: CheckOptions) => (o?.signal ? { signal: o.signal } : {});
  // undefined: not yet known. The first bulk check finds out; concurrent ones wait for it.
  let batchSupported: boolean | undefined = batchMode === "off" ? false : undefined;
  let probing: Promise<void> | undefined;

  const toDecision = (answer: Answer): Decision => {
    const id = answer.decision_id !== undefined ? { decisionId: answer.decision_id } : {};
    const result = answer.result;
    if (result === undefined) {
      return {
        allow: false,
        source: "pdp",
        reason: `the decision ${path} is undefined for this input`,
        applicable: false,
        ...id,
      };
    }
    if (typeof result === "boolean") return { allow: result, source: "pdp", ...id };
    return {
      allow: result.allow,
      source: "pdp",
      ...(typeof result.reason === "string" && result.reason !== ""
        ? { reason: result.reason }
        : {}),
      ...id,
    };
  };

  const single = async (input: unknown, checkOptions?: CheckOptions): Promise<Decision> => {
    const outcome = await http.post(
      `/v1/data/${encodedPath}`,
      { input },
      answerSchema,
      signalOf(checkOptions),
    );
    return outcome.ok ? toDecision(outcome.body) : errorDecision(outcome.reason, outcome.code);
  };

  const check = async (
    request: AuthorizationRequest,
    checkOptions?: CheckOptions,
  ): Promise<Decision> => {
    let input: unknown;
    try {
      input = toInput(request);
    } catch (error) {
      return buildFailure(name, error);
    }
    return single(input, checkOptions);
  };

  // One limiter for every fallback single call: chunks run in parallel and bulk checks overlap,
  // and together they must not exceed `concurrency` calls in flight.
  const limiter = new Limiter(concurrency);
  const limitedSingle = async (input: unknown, checkOptions?: CheckOptions): Promise<Decision> => {
    if (!(await limiter.acquire(checkOptions?.signal))) {
      return errorDecision(`${name} PDP call aborted by the caller`, "PDP_ABORTED");
    }
    try {
      return await single(input, checkOptions);
    } finally {
      limiter.release();
    }
  };
  // At most `concurrency` workers per bulk check, and one listener on the caller's signal: queueing
  // every item on the limiter with the caller's signal put one abort listener per waiting item on
  // it (hundreds per list page, and a MaxListenersExceededWarning for each). The workers wait on
  // a signal of this bulk check instead, which carries at most one listener per worker.
  const singles = async (
    inputs: readonly unknown[],
    checkOptions?: CheckOptions,
  ): Promise<Decision[]> => {
    const caller = checkOptions?.signal;
    if (caller === undefined) {
      return mapWithConcurrency(inputs, concurrency, (input) => limitedSingle(input));
    }
    const local = new AbortController();
    setMaxListeners(concurrency, local.signal);
    const forward = () => {
      local.abort(caller.reason);
    };
    if (caller.aborted) forward();
    else caller.addEventListener("abort", forward, { once: true });
    try {
      return await mapWithConcurrency(inputs, concurrency, (input) =>
        limitedSingle(input, { signal: local.signal }),
      );
    } finally {
      caller.removeEventListener("abort", forward);
    }
  };

  /** One batch call; `undefined` when the endpoint does not exist. */
  const batch = async (
    inputs: readonly unknown[],
    checkOptions?: CheckOptions,
  ): Promise<Decision[] | undefined> => {
    const body = { inputs: Object.fromEntries(inputs.map((input, i) => [String(i), input])) };
    const outcome = await http.post(`/v1/batch/data/${encodedPath}`, body, batchSchema, {
      ...signalOf(checkOptions),
      acceptStatus: [207],
    });
    if (!outcome.ok) {
      if (outcome.status !== undefined && NO_BATCH_STATUSES.has(outcome.status)) {
        batchSupported = false;
        return undefined;
      }
      return failureDecisions(outcome, inputs.length);
    }
    batchSupported = true;
    const responses = outcome.body.responses;
    const missing = inputs.findIndex((_, i) => !Object.hasOwn(responses, String(i)));
    if (missing >= 0 || Object.keys(responses).length !== inputs.length) {
      return failureDecisions(
        {
          code: "PDP_BAD_RESPONSE",
          reason: `${name} answered ${Object.keys(responses).length} results to a batch of ${inputs.length}`,
        },
        inputs.length,
      );
    }
    return inputs.map((_, i) => {
      const answer = responses[String(i)];
      if (answer !== undefined && "code" in answer && typeof answer.code === "string") {
        return errorDecision(
          `${name} failed to evaluate one input of the batch (${answer.code})`,
          "PDP_ERROR",
        );
      }
      return toDecision(answer as Answer);
    });
  };

  const viaBatch = async (chunk: readonly unknown[], checkOptions?: CheckOptions) => {
    // Only one call finds out whether the endpoint exists; the others wait for its answer.
    while (batchSupported === undefined && probing !== undefined) await probing;
    if (batchSupported === false) return singles(chunk, checkOptions);
    let settle: (() => void) | undefined;
    if (batchSupported === undefined) {
      probing = new Promise<void>((resolve) => {
        settle = resolve;
      });
    }
    try {
      return (await batch(chunk, checkOptions)) ?? (await singles(chunk, checkOptions));
    } finally {
      if (settle) {
        probing = undefined;
        settle();
      }
    }
  };

  const bulk = (inputs: readonly unknown[], checkOptions?: CheckOptions): Promise<Decision[]> => {
    // Chunks only matter for the batch endpoint; single calls share one bounded fan-out.
    if (inputs.length === 1 || batchSupported === false) return singles(inputs, checkOptions);
    return mapInChunks(inputs, maxBatch, 4, (chunk) => viaBatch(chunk, checkOptions));
  };

  const checkMany = async (
    requests: readonly AuthorizationRequest[],
    checkOptions?: CheckOptions,
  ): Promise<Decision[]> => {
    if (requests.length === 0) return [];
    let inputs: unknown[];
    try {
      inputs = requests.map(toInput);
    } catch (error) {
      const failed = buildFailure(name, error);
      return requests.map(() => failed);
    }
    return bulk(inputs, checkOptions);
  };

  return {
    name,
    check,
    checkMany,
    get batchSupported() {
      return batchSupported;
    },
    async healthy(checkOptions) {
      const outcome = await http.get("/health", z.unknown(), signalOf(checkOptions));
      return outcome.ok;
    },
    close: () => http.close(),
  };
}
