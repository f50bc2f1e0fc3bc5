import {
  type AuthorizationRequest,
  type CheckOptions,
  ConfigError,
  type Decision,
  JsonHttpClient,
  type PolicyDecisionPoint,
  failureDecision,
  failureDecisions,
  mapInChunks,
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

/** A Permit PDP adapter. */
export interface PermitPdp extends PolicyDecisionPoint {
  checkMany(requests: readonly AuthorizationRequest[], options?: CheckOptions): Promise<Decision[]>;
  /** Whether `GET /health` answers `{"status":"ok"}`. Never rejects. */
  healthy(options?: CheckOptions): Promise<boolean>;
  close(): Promise<void>;
}

const answerSchema = z.looseObject({ allow: z.boolean() });
const bulkSchema = z.looseObject({ allow: z.array(answerSchema) });
const healthSchema = z.looseObject({ status: z.string() });

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`permit: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

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
  const maxBulk = positiveInteger("maxBulkSize", options.maxBulkSize ?? 100);
  const concurrency = positiveInteger("bulkConcurrency", options.bulkConcurrency ?? 4);
  const toQuery = options.toQuery ?? ((r: AuthorizationRequest) => toPermitQuery(r, defaultTenant));
  const http = new JsonHttpClient({
    url: options.url ?? DEFAULT_PERMIT_PDP_URL,
    name,
    headers: { authorization: `Bearer ${options.apiKey.trim()}` },
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.connections !== undefined ? { connections: options.connections } : {}),
  });
  const signalOf = (o?: CheckOptions) => (o?.signal ? { signal: o.signal } : {});

  const decide = (allow: boolean): Decision => ({ allow, source: "pdp" });
  // A custom builder that throws must deny, not reject: check() never rejects.
  const buildFailure = (error: unknown) => ({
    code: "PDP_ERROR" as const,
    reason: `${name}: building the query failed: ${error instanceof Error ? error.message : String(error)}`,
  });

  const check = async (
    request: AuthorizationRequest,
    checkOptions?: CheckOptions,
  ): Promise<Decision> => {
    let query;
    try {
      query = toQuery(request);
    } catch (error) {
      return failureDecision(buildFailure(error));
    }
    const outcome = await http.post("/allowed", query, answerSchema, signalOf(checkOptions));
    return outcome.ok ? decide(outcome.body.allow) : failureDecision(outcome);
  };

  const bulk = async (
    requests: readonly AuthorizationRequest[],
    checkOptions?: CheckOptions,
  ): Promise<Decision[]> => {
    if (requests.length === 0) return [];
    let queries;
    try {
      queries = requests.map(toQuery);
    } catch (error) {
      return failureDecisions(buildFailure(error), requests.length);
    }
    return mapInChunks(queries, maxBulk, concurrency, async (chunk) => {
      const outcome = await http.post("/allowed/bulk", chunk, bulkSchema, signalOf(checkOptions));
      if (!outcome.ok) return failureDecisions(outcome, chunk.length);
      const answers = outcome.body.allow;
      if (answers.length !== chunk.length) {
        return failureDecisions(
          {
            code: "PDP_BAD_RESPONSE",
            reason: `${name} PDP answered ${answers.length} decisions to a bulk check of ${chunk.length}`,
          },
          chunk.length,
        );
      }
      return answers.map((a) => decide(a.allow));
    });
  };

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
