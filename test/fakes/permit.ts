/**
 * A fake Permit.io PDP speaking its HTTP protocol: `POST /allowed`, `POST /allowed/bulk`,
 * `POST /allowed/all-tenants`, `GET /health`, bearer API key (401 when missing or wrong). It decides
 * with a policy function over the wire query.
 */
import {
  type FakeServer,
  type JsonReply,
  type RecordedRequest,
  startJsonServer,
} from "./shared.js";

/** One Permit check query as it travels on the wire (tenant filled with `default` when empty). */
export interface PermitQuery {
  readonly user: { readonly key: string; readonly attributes?: Record<string, unknown> };
  readonly action: string;
  readonly resource: {
    readonly type: string;
    readonly key?: string;
    readonly tenant: string;
    readonly attributes?: Record<string, unknown>;
  };
  readonly context?: Record<string, unknown>;
}

/** Decides one query. */
export type PermitPolicy = (query: PermitQuery) => boolean;

/** Options of {@link startPermitFake}. */
export interface PermitFakeOptions {
  /** The API key the PDP accepts. @defaultValue `"permit_key_test"` */
  readonly apiKey?: string;
  /** @defaultValue deny everything */
  readonly policy?: PermitPolicy;
}

/** A running fake Permit PDP. */
export interface PermitFake extends FakeServer {
  readonly apiKey: string;
  /** Replaces the policy. */
  setPolicy(policy: PermitPolicy): void;
  /** Makes `GET /health` answer 503 (false) or 200 (true). */
  setHealthy(healthy: boolean): void;
  /** Every query decided (single and bulk), in order. */
  queries(): PermitQuery[];
  /** Sizes of the bulk calls received. */
  bulkSizes(): number[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Validates a query like the PDP's request model does (422 with FastAPI-style details). */
function parseQuery(raw: unknown): PermitQuery | string {
  if (!isRecord(raw)) return "query must be an object";
  const { user, action, resource, context } = raw;
  if (!isRecord(user) || typeof user.key !== "string") return "user.key is required";
  if (user.attributes !== undefined && !isRecord(user.attributes))
    return "user.attributes must be an object";
  if (typeof action !== "string") return "action is required";
  if (!isRecord(resource) || typeof resource.type !== "string") return "resource.type is required";
  if (resource.key !== undefined && resource.key !== null && typeof resource.key !== "string")
    return "resource.key must be a string";
  if (resource.attributes !== undefined && !isRecord(resource.attributes))
    return "resource.attributes must be an object";
  if (context !== undefined && !isRecord(context)) return "context must be an object";
  const tenant =
    typeof resource.tenant === "string" && resource.tenant !== "" ? resource.tenant : "default";
  return {
    user: {
      key: user.key,
      ...(user.attributes ? { attributes: user.attributes } : {}),
    },
    action,
    resource: {
      type: resource.type,
      ...(typeof resource.key === "string" ? { key: resource.key } : {}),
      tenant,
      ...(resource.attributes ? { attributes: resource.attributes } : {}),
    },
    ...(context ? { context: context } : {}),
  };
}

const unprocessable = (message: string): JsonReply => ({
  status: 422,
  body: { detail: [{ loc: ["body"], msg: message, type: "value_error" }] },
});

/** Starts a fake Permit PDP on 127.0.0.1. */
export async function startPermitFake(options: PermitFakeOptions = {}): Promise<PermitFake> {
  const apiKey = options.apiKey ?? "permit_key_test";
  let policy: PermitPolicy = options.policy ?? (() => false);
  let healthy = true;
  const queries: PermitQuery[] = [];
  const bulkSizes: number[] = [];

  const authorized = (req: RecordedRequest): boolean => {
    const header = req.headers.authorization;
    const value = Array.isArray(header) ? header[0] : header;
    const match = value === undefined ? null : /^bearer\s+(.+)$/i.exec(value.trim());
    return match?.[1] === apiKey;
  };
  const decide = (query: PermitQuery) => {
    queries.push(query);
    const allow = policy(query);
    return { allow, result: allow, query, debug: { fake: true } };
  };

  const server = await startJsonServer({
    isDecision: (req) => req.method === "POST" && req.path.startsWith("/allowed"),
    handle(req, state) {
      if (req.method === "GET" && req.path === "/health") {
        return healthy
          ? { status: 200, body: { status: "ok" } }
          : { status: 503, body: { status: "unavailable" } };
      }
      if (req.method !== "POST") return undefined;
      if (!["/allowed", "/allowed/bulk", "/allowed/all-tenants"].includes(req.path))
        return undefined;
      if (!authorized(req)) {
        return { status: 401, body: { detail: "Must provide a valid bearer token" } };
      }
      if (req.path === "/allowed/bulk") {
        if (!Array.isArray(req.body)) return unprocessable("body must be a list of queries");
        const parsed = req.body.map(parseQuery);
        const bad = parsed.find((q): q is string => typeof q === "string");
        if (bad !== undefined) return unprocessable(bad);
        bulkSizes.push(parsed.length);
        const answers = (parsed as PermitQuery[]).map(decide);
        if (state.wrongShape) return { status: 200, body: { allowed: answers } };
        if (state.wrongBulkLength) answers.pop();
        return { status: 200, body: { allow: answers } };
      }
      const query = parseQuery(req.body);
      if (typeof query === "string") return unprocessable(query);
      if (req.path === "/allowed/all-tenants") {
        const answer = decide(query);
        return {
          status: 200,
          body: {
            allowed_tenants: answer.allow ? [{ tenant: { key: query.resource.tenant } }] : [],
          },
        };
      }
      const answer = decide(query);
      if (state.wrongShape) return { status: 200, body: { result: "yes" } };
      return { status: 200, body: answer };
    },
  });

  return {
    ...server,
    reset() {
      server.reset();
      queries.length = 0;
      bulkSizes.length = 0;
    },
    apiKey,
    setPolicy(next) {
      policy = next;
    },
    setHealthy(next) {
      healthy = next;
    },
    queries: () => queries,
    bulkSizes: () => bulkSizes,
  };
}
