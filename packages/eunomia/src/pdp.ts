import {
  type AuthorizationRequest,
  isListMethod,
  type CheckOptions,
  ConfigError,
  type Decision,
  JsonHttpClient,
  type PolicyDecisionPoint,
  failureDecision,
  failureDecisions,
  mapInChunks,
} from "@mcp-pdp/core";
import { type EunomiaCheckRequest, eunomiaView } from "@mcp-pdp/local";
import { z } from "zod";

/** The Eunomia server's default address. */
export const DEFAULT_EUNOMIA_ENDPOINT = "http://localhost:8421";

/** The Eunomia server's limit on one `POST /check/bulk`. */
export const EUNOMIA_MAX_BULK = 100;

/** Turns a neutral request into an Eunomia check; replace it to use another scheme. */
export type EunomiaCheckBuilder = (request: AuthorizationRequest) => EunomiaCheckRequest;

/** Options of {@link eunomiaPdp}. */
export interface EunomiaPdpOptions {
  /** The server's base URL. @defaultValue `"http://localhost:8421"` */
  readonly endpoint?: string;
  /** Milliseconds one call may take. @defaultValue 1000 */
  readonly timeoutMs?: number;
  /** Keep-alive connections to the server. @defaultValue 16 */
  readonly connections?: number;
  /** Checks per `POST /check/bulk` (at most 100, the server's limit). @defaultValue 100 */
  readonly maxBulkSize?: number;
  /** Bulk calls in flight at once for one large check. @defaultValue 4 */
  readonly bulkConcurrency?: number;
  /**
   * Builds the wire check. @defaultValue eunomia-mcp's scheme (`agent:<id>`, `mcp:tools:<name>`,
   * `list`/`execute`), shared with the local engine's Eunomia policies
   */
  readonly toCheck?: EunomiaCheckBuilder;
  /**
   * Send the whole-list check (`tools/list` itself, before its items are filtered) to the server.
   * eunomia-mcp never makes that check, so by default it is allowed here and only the items are
   * decided, which keeps existing Eunomia policies working unchanged. @defaultValue false
   */
  readonly checkListRequests?: boolean;
  /** @defaultValue `"eunomia"` */
  readonly name?: string;
}

/** An Eunomia server adapter. */
export interface EunomiaPdp extends PolicyDecisionPoint {
  checkMany(requests: readonly AuthorizationRequest[], options?: CheckOptions): Promise<Decision[]>;
  /** Whether `GET /health` answers `{"status":"ok"}`. Never rejects. */
  healthy(options?: CheckOptions): Promise<boolean>;
  close(): Promise<void>;
}

const answerSchema = z.looseObject({
  allowed: z.boolean(),
  reason: z.string().nullish(),
});
const bulkSchema = z.array(answerSchema);
const healthSchema = z.looseObject({ status: z.string() });

function positiveInteger(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new ConfigError(`eunomia: ${name} must be an integer from 1 to ${max}, got ${value}`);
  }
  return value;
}

const COARSE_LIST: Decision = Object.freeze({
  allow: true,
  source: "pdp",
  reason: "list results are filtered per item under Eunomia policies",
});

const COARSE_ERROR: Decision = Object.freeze({
  allow: false,
  source: "error",
  reason: "eunomia: missing decision",
  errorCode: "PDP_BAD_RESPONSE",
});

function toDecision(answer: z.output<typeof answerSchema>): Decision {
  return {
    allow: answer.allowed,
    source: "pdp",
    ...(typeof answer.reason === "string" && answer.reason !== "" ? { reason: answer.reason } : {}),
  };
}

/**
 * A PDP backed by an Eunomia server (`POST /check`, `POST /check/bulk` in chunks of at most 100,
 * never empty). Requests are viewed with eunomia-mcp's scheme, so existing Eunomia policies work
 * unchanged. Every failure is a deny with `source: "error"`; `check` and `checkMany` never reject.
 */
export function eunomiaPdp(options: EunomiaPdpOptions = {}): EunomiaPdp {
  const name = options.name ?? "eunomia";
  const maxBulk = positiveInteger(
    "maxBulkSize",
    options.maxBulkSize ?? EUNOMIA_MAX_BULK,
    EUNOMIA_MAX_BULK,
  );
  const concurrency = positiveInteger("bulkConcurrency", options.bulkConcurrency ?? 4);
  const toCheck = options.toCheck ?? eunomiaView;
  const http = new JsonHttpClient({
    url: options.endpoint ?? DEFAULT_EUNOMIA_ENDPOINT,
    name,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.connections !== undefined ? { connections: options.connections } : {}),
  });
  const checkLists = options.checkListRequests ?? false;
  const isCoarseList = (r: AuthorizationRequest) =>
    !checkLists && r.operation.phase === "call" && isListMethod(r.operation.method);
  const signalOf = (o?: CheckOptions) => (o?.signal ? { signal: o.signal } : {});
  // A custom builder that throws must deny, not reject: check() never rejects.
  const buildFailure = (error: unknown) => ({
    code: "PDP_ERROR" as const,
    reason: `${name}: building the check failed: ${error instanceof Error ? error.message : String(error)}`,
  });

  const check = async (
    request: AuthorizationRequest,
    checkOptions?: CheckOptions,
  ): Promise<Decision> => {
    if (isCoarseList(request)) return COARSE_LIST;
    let body: EunomiaCheckRequest;
    try {
      body = toCheck(request);
    } catch (error) {
      return failureDecision(buildFailure(error));
    }
    const outcome = await http.post("/check", body, answerSchema, signalOf(checkOptions));
    return outcome.ok ? toDecision(outcome.body) : failureDecision(outcome);
  };

  const checkMany = async (
    requests: readonly AuthorizationRequest[],
    checkOptions?: CheckOptions,
  ): Promise<Decision[]> => {
    // The server answers 400 to an empty bulk call: never send one.
    if (requests.length === 0) return [];
    if (requests.some(isCoarseList)) {
      const asked = await checkMany(
        requests.filter((r) => !isCoarseList(r)),
        checkOptions,
      );
      let next = 0;
      return requests.map((r) => (isCoarseList(r) ? COARSE_LIST : (asked[next++] ?? COARSE_ERROR)));
    }
    let bodies: EunomiaCheckRequest[];
    try {
      bodies = requests.map(toCheck);
    } catch (error) {
      return failureDecisions(buildFailure(error), requests.length);
    }
    return mapInChunks(bodies, maxBulk, concurrency, async (chunk) => {
      const outcome = await http.post("/check/bulk", chunk, bulkSchema, signalOf(checkOptions));
      if (!outcome.ok) return failureDecisions(outcome, chunk.length);
      if (outcome.body.length !== chunk.length) {
        return failureDecisions(
          {
            code: "PDP_BAD_RESPONSE",
            reason: `${name} answered ${outcome.body.length} decisions to a bulk check of ${chunk.length}`,
          },
          chunk.length,
        );
      }
      return outcome.body.map(toDecision);
    });
  };

  return {
    name,
    check,
    checkMany,
    async healthy(checkOptions) {
      const outcome = await http.get("/health", healthSchema, signalOf(checkOptions));
      return outcome.ok && outcome.body.status === "ok";
    },
    close: () => http.close(),
  };
}
