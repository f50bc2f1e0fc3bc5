/**
 * A fake Eunomia server speaking its HTTP protocol: `POST /check`, `POST /check/bulk` (1 to 100
 * requests, else 400), 422 on an entity with neither `uri` nor attributes, `GET /health`, and the
 * admin policy API under `/admin/policies` guarded by `WAY-API-KEY`. Checks are decided with a
 * policy function over the wire request.
 */
import {
  type FakeServer,
  type JsonReply,
  type RecordedRequest,
  startJsonServer,
} from "./shared.js";

/** An entity (principal or resource) on the wire. */
export interface EunomiaEntity {
  readonly uri?: string;
  readonly attributes: Record<string, unknown>;
}

/** One check request on the wire (`action` defaulted to `access`). */
export interface EunomiaCheck {
  readonly principal: EunomiaEntity;
  readonly resource: EunomiaEntity;
  readonly action: string;
}

/** Decides one check: a boolean, or the answer with a reason. */
export type EunomiaPolicy = (
  check: EunomiaCheck,
) => boolean | { readonly allowed: boolean; readonly reason?: string };

/** Options of {@link startEunomiaFake}. */
export interface EunomiaFakeOptions {
  /** @defaultValue deny everything */
  readonly policy?: EunomiaPolicy;
  /** When set, the admin API requires this `WAY-API-KEY`. @defaultValue admin API open */
  readonly adminApiKey?: string;
}

/** A running fake Eunomia server. */
export interface EunomiaFake extends FakeServer {
  setPolicy(policy: EunomiaPolicy): void;
  /** Every check decided (single and bulk), in order. */
  checks(): EunomiaCheck[];
  /** Sizes of the bulk calls accepted. */
  bulkSizes(): number[];
  /** Policies stored through the admin API, by name. */
  readonly policies: Map<string, Record<string, unknown>>;
}

const MAX_BULK = 100;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const detail = (status: number, message: string): JsonReply => ({
  status,
  body: { detail: message },
});

function parseEntity(raw: unknown, where: string): EunomiaEntity | string {
  if (!isRecord(raw)) return `${where}: field required`;
  const uri = raw.uri;
  const attributes = raw.attributes ?? {};
  if (uri !== undefined && uri !== null && typeof uri !== "string")
    return `${where}.uri must be a string`;
  if (!isRecord(attributes)) return `${where}.attributes must be an object`;
  if ((uri === undefined || uri === null) && Object.keys(attributes).length === 0) {
    return `${where}: either 'uri' or non-empty 'attributes' must be provided`;
  }
  return { ...(typeof uri === "string" ? { uri } : {}), attributes };
}

function parseCheck(raw: unknown): EunomiaCheck | string {
  if (!isRecord(raw)) return "request must be an object";
  const principal = parseEntity(raw.principal, "principal");
  if (typeof principal === "string") return principal;
  const resource = parseEntity(raw.resource, "resource");
  if (typeof resource === "string") return resource;
  const action = raw.action ?? "access";
  if (typeof action !== "string") return "action must be a string";
  return { principal, resource, action };
}

const POLICY_KEYS = new Set(["version", "name", "description", "rules", "default_effect"]);
const RULE_KEYS = new Set([
  "name",
  "effect",
  "principal_conditions",
  "resource_conditions",
  "actions",
]);

/** Checks a policy document the way the server does: known fields only, required ones present. */
function policyProblem(raw: unknown): string | undefined {
  if (!isRecord(raw)) return "policy must be an object";
  for (const key of Object.keys(raw)) if (!POLICY_KEYS.has(key)) return `unknown field ${key}`;
  if (typeof raw.name !== "string" || raw.name === "") return "name is required";
  if (!Array.isArray(raw.rules)) return "rules must be a list";
  for (const rule of raw.rules) {
    if (!isRecord(rule)) return "rule must be an object";
    for (const key of Object.keys(rule))
      if (!RULE_KEYS.has(key)) return `unknown field rules.${key}`;
    if (rule.effect !== "allow" && rule.effect !== "deny")
      return "rule effect must be allow or deny";
    if (!Array.isArray(rule.actions)) return "rule actions must be a list";
  }
  if (
    raw.default_effect !== undefined &&
    raw.default_effect !== "allow" &&
    raw.default_effect !== "deny"
  )
    return "default_effect must be allow or deny";
  return undefined;
}

/** Starts a fake Eunomia server on 127.0.0.1. */
export async function startEunomiaFake(options: EunomiaFakeOptions = {}): Promise<EunomiaFake> {
  let policy: EunomiaPolicy = options.policy ?? (() => false);
  const checks: EunomiaCheck[] = [];
  const bulkSizes: number[] = [];
  const policies = new Map<string, Record<string, unknown>>();

  const decide = (check: EunomiaCheck) => {
    checks.push(check);
    const answer = policy(check);
    const allowed = typeof answer === "boolean" ? answer : answer.allowed;
    const reason =
      typeof answer === "boolean" || answer.reason === undefined
        ? allowed
          ? "Rule fake allowed the action"
          : "No rule allowed the action"
        : answer.reason;
    return { allowed, reason };
  };

  const admin = (req: RecordedRequest): JsonReply | undefined => {
    if (options.adminApiKey !== undefined) {
      const key = req.headers["way-api-key"];
      if (key !== options.adminApiKey)
        return detail(401, "Invalid API key. Please provide a valid API key.");
    }
    const url = new URL(req.path, "http://fake");
    const rest = url.pathname.slice("/admin/policies".length);
    if (rest === "" || rest === "/") {
      if (req.method === "GET") return { status: 200, body: [...policies.values()] };
      if (req.method === "POST") {
        const problem = policyProblem(req.body);
        if (problem !== undefined) return detail(422, problem);
        const doc = req.body as Record<string, unknown>;
        policies.set(doc.name as string, doc);
        return { status: 200, body: doc };
      }
      return detail(405, "Method Not Allowed");
    }
    if (rest === "/simple" && req.method === "POST") {
      const name = url.searchParams.get("name");
      if (!name) return detail(422, "query parameter name is required");
      const check = parseCheck(req.body);
      if (typeof check === "string") return detail(422, check);
      const condition = (attrs: Record<string, unknown>) =>
        Object.entries(attrs).map(([k, v]) => ({
          path: `attributes.${k}`,
          operator: "equals",
          value: v,
        }));
      const doc = {
        version: "1.0",
        name,
        description: "simple policy",
        rules: [
          {
            name: `${name}-rule`,
            effect: "allow",
            principal_conditions: condition(check.principal.attributes),
            resource_conditions: condition(check.resource.attributes),
            actions: [check.action],
          },
        ],
        default_effect: "deny",
      };
      policies.set(name, doc);
      return { status: 200, body: doc };
    }
    const name = decodeURIComponent(rest.slice(1));
    if (req.method === "GET") {
      const doc = policies.get(name);
      return doc ? { status: 200, body: doc } : detail(404, "Policy not found");
    }
    if (req.method === "DELETE") return { status: 200, body: policies.delete(name) };
    return detail(405, "Method Not Allowed");
  };

  const server = await startJsonServer({
    isDecision: (req) => req.method === "POST" && req.path.startsWith("/check"),
    handle(req, state) {
      if (req.method === "GET" && req.path === "/health")
        return { status: 200, body: { status: "ok" } };
      if (req.path.startsWith("/admin/policies")) return admin(req);
      if (req.method !== "POST") return undefined;
      if (req.path === "/check/bulk") {
        if (!Array.isArray(req.body)) return detail(422, "body must be a list of check requests");
        if (req.body.length === 0) return detail(400, "Bulk request must not be empty");
        if (req.body.length > MAX_BULK)
          return detail(400, `Bulk request exceeds the maximum of ${MAX_BULK} checks`);
        const parsed = req.body.map(parseCheck);
        const bad = parsed.find((c): c is string => typeof c === "string");
        if (bad !== undefined) return detail(422, bad);
        bulkSizes.push(parsed.length);
        const answers = (parsed as EunomiaCheck[]).map(decide);
        if (state.wrongShape) return { status: 200, body: { results: answers } };
        if (state.wrongBulkLength) answers.pop();
        return { status: 200, body: answers };
      }
      if (req.path === "/check") {
        const check = parseCheck(req.body);
        if (typeof check === "string") return detail(422, check);
        const answer = decide(check);
        if (state.wrongShape) return { status: 200, body: { allowed: "yes" } };
        return { status: 200, body: answer };
      }
      return undefined;
    },
  });

  return {
    ...server,
    reset() {
      server.reset();
      checks.length = 0;
      bulkSizes.length = 0;
    },
    setPolicy(next) {
      policy = next;
    },
    checks: () => checks,
    bulkSizes: () => bulkSizes,
    policies,
  };
}
