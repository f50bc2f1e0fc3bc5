import {
  type AuthorizationRequest,
  type CheckOptions,
  ConfigError,
  type Decision,
  JsonHttpClient,
  type RemotePdp,
  buildFailure,
  checkInChunks,
  errorDecision,
  integerOption,
} from "@mcp-pdp/core";
import { z } from "zod";
import { DEFAULT_TENANT, type PermitQueryBuilder, toPermitQuery } from "./query.js";
import { refuseUnauthenticated } from "./unauthenticated.js";

/** The Permit PDP's usual local address (the container's port 7000 mapped to 7766). */
export const DEFAULT_PERMIT_PDP_URL = "http://localhost:7766";

/** Options of {@link permitPdp}. */
export interface PermitPdpOptions {
  /** The PDP's base URL. @defaultValue `"http://localhost:7766"` */
  readonly url?: string;
  /** The environment's API key, sent as `Authorization: Bearer <key>`. Required. */
  readonly apiKey: string;
  /** Milliseconds one PDP call may take. @defaultValue 1000 */
  readonly timeoutMs?: number;
  /** Keep-alive connections to the PDP. @defaultValue 16 */
  readonly connections?: number;
  /** Tenant sent when the request names none. @defaultValue `"default"` */
  readonly defaultTenant?: string;
  /** Queries per `POST /allowed/bulk` call; larger checks are split. @defaultValue 100 */
  readonly maxBulkSize?: number;
  /** Bulk calls in flight at once for one large check. @defaultValue 4 */
  readonly bulkConcurrency?: number;
  /** Builds the wire query from a neutral request. @defaultValue {@link toPermitQuery} */
  readonly toQuery?: PermitQueryBuilder;
  /**
   * Deny a caller whose identity was not established (`subject.authenticated === false`: no
   * credential, a token that failed verification) without asking the PDP. Such a caller's id is a
   * placeholder (`anonymous`), which Permit could not tell from a real user of that key. Turn it off
   * only to let Permit decide for anonymous callers itself (the user attribute `authenticated`
   * tells them apart). @defaultValue true
   */
  readonly denyUnauthenticated?: boolean;
  /** The PDP's name in decisions, audit events and reasons. @defaultValue `"permit"` */
  readonly name?: string;
}

/** A Permit PDP adapter; `healthy()` asks `GET /health` for `{"status":"ok"}`. */
export type PermitPdp = RemotePdp;

const answerSchema = z.looseObject({ allow: z.boolean() });
// A bulk answer is `{"allow": [answer, ...]}`: the array is what is checked against the queries.
const bulkSchema = z.looseObject({ allow: z.array(answerSchema) }).transform((b) => b.allow);
const healthSchema = z.looseObject({ status: z.string() });

/**
 * A PDP backed by a Permit.io PDP over HTTP (`POST /allowed`, `POST /allowed/bulk`). Every
 * failure (timeout, refused connection, 401, 5xx, a body that is not the expected JSON, a bulk
 * answer of the wrong length) is a deny with `source: "error"` and an error code; `check` and
 * `checkMany` never reject.
 */
export function permitPdp(options: PermitPdpOptions): PermitPdp {
  // Checked before anything else so a missing key never reaches the wire as "Bearer ".
  if (typeof options.apiKey !== "string" || options.apiKey.trim() === "") {
    throw new ConfigError("permit: apiKey is required (the environment's API key, PERMIT_API_KEY)");
  }
  const name = options.name ?? "permit";
  const defaultTenant = options.defaultTenant ?? DEFAULT_TENANT;
  if (defaultTenant === "") throw new ConfigError("permit: defaultTenant must not be empty");
  const maxBulk = integerOption("permit", "maxBulkSize", options.maxBulkSize, 100);
  const concurrency = integerOption("permit", "bulkConcurrency", options.bulkConcurrency, 4);
  const toQuery = options.toQuery ?? ((r: AuthorizationRequest) => toPermitQuery(r, defaultTenant));
  const http = new JsonHttpClient({
    url: options.url ?? DEFAULT_PERMIT_PDP_URL,
    name,
    headers: { authorization: `Bearer ${options.apiKey.trim()}` },
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.connections !== undefined ? { connections: options.connections } : {}),
  });
  const signalOf = (o?: CheckOptions) => (o?.signal ? { signal: o.signal } : {});

  const decide = (answer: { readonly allow: boolean }): Decision => ({
    allow: answer.allow,
    source: "pdp",
  });

  const check = async (
    request: AuthorizationRequest,
    checkOptions?: CheckOptions,
  ): Promise<Decision> => {
    let query;
    try {
      query = toQuery(request);
    } catch (error) {
      // A custom builder that throws must deny, not reject: check() never rejects.
      return buildFailure(name, error);
    }
    const outcome = await http.post("/allowed", query, answerSchema, signalOf(checkOptions));
    return outcome.ok ? decide(outcome.body) : errorDecision(outcome.reason, outcome.code);
  };

  const bulk = (
    requests: readonly AuthorizationRequest[],
    checkOptions?: CheckOptions,
  ): Promise<Decision[]> =>
    checkInChunks(requests, {
      name,
      build: toQuery,
      size: maxBulk,
      concurrency,
      send: (chunk) => http.post("/allowed/bulk", chunk, bulkSchema, signalOf(checkOptions)),
      decide,
    });

  const checks =
    (options.denyUnauthenticated ?? true)
      ? refuseUnauthenticated(check, bulk)
      : { check, checkMany: bulk };

  return {
    name,
    ...checks,
    async healthy(checkOptions) {
      const outcome = await http.get("/health", healthSchema, signalOf(checkOptions));
      return outcome.ok && outcome.body.status === "ok";
    },
    close: () => http.close(),
  };
}
