import {
  type AuthorizationRequest,
  type CheckOptions,
  type Decision,
  JsonHttpClient,
  type RemotePdp,
  buildFailure,
  checkInChunks,
  errorDecision,
  integerOption,
} from "@mcp-pdp/core";
import { type EunomiaCheckRequest, eunomiaCoarseList, eunomiaView } from "@mcp-pdp/local";
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

/** An Eunomia server adapter; `healthy()` asks `GET /health` for `{"status":"ok"}`. */
export type EunomiaPdp = RemotePdp;

const answerSchema = z.looseObject({
  allowed: z.boolean(),
  reason: z.string().nullish(),
});
const bulkSchema = z.array(answerSchema);
const healthSchema = z.looseObject({ status: z.string() });

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
  const maxBulk = integerOption(
    "eunomia",
    "maxBulkSize",
    options.maxBulkSize,
    EUNOMIA_MAX_BULK,
    1,
    EUNOMIA_MAX_BULK,
  );
  const concurrency = integerOption("eunomia", "bulkConcurrency", options.bulkConcurrency, 4);
  const toCheck = options.toCheck ?? eunomiaView;
  const http = new JsonHttpClient({
    url: options.endpoint ?? DEFAULT_EUNOMIA_ENDPOINT,
    name,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.connections !== undefined ? { connections: options.connections } : {}),
  });
  const checkLists = options.checkListRequests ?? false;
  const coarseList = (r: AuthorizationRequest) => (checkLists ? undefined : eunomiaCoarseList(r));
  const signalOf = (o?: CheckOptions) => (o?.signal ? { signal: o.signal } : {});

  const check = async (
    request: AuthorizationRequest,
    checkOptions?: CheckOptions,
  ): Promise<Decision> => {
    const coarse = coarseList(request);
    if (coarse) return coarse;
    let body: EunomiaCheckRequest;
    try {
      body = toCheck(request);
    } catch (error) {
      // A custom builder that throws must deny, not reject: check() never rejects.
      return buildFailure(name, error);
    }
    const outcome = await http.post("/check", body, answerSchema, signalOf(checkOptions));
    return outcome.ok ? toDecision(outcome.body) : errorDecision(outcome.reason, outcome.code);
  };

  const checkMany = async (
    requests: readonly AuthorizationRequest[],
    checkOptions?: CheckOptions,
  ): Promise<Decision[]> => {
    // The server answers 400 to an empty bulk call: never send one.
    if (requests.length === 0) return [];
    if (requests.some((r) => coarseList(r) !== undefined)) {
      const asked = await checkMany(
        requests.filter((r) => coarseList(r) === undefined),
        checkOptions,
      );
      let next = 0;
      return requests.map((r) => coarseList(r) ?? asked[next++] ?? COARSE_ERROR);
    }
    return checkInChunks(requests, {
      name,
      build: toCheck,
      size: maxBulk,
      concurrency,
      send: (chunk) => http.post("/check/bulk", chunk, bulkSchema, signalOf(checkOptions)),
      decide: toDecision,
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
