/**
 * A fake Cerbos PDP speaking its HTTP protocol: `POST /api/check/resources` (one principal, 1 to
 * `maxResourcesPerRequest` resources, answered in request order with `requestId` echoed and a
 * `cerbosCallId`; `meta.actions.*.matchedPolicy` when `includeMeta` is set), the request
 * validation errors of the real server as `400 {"code":3,"message":...}`, and
 * `GET /_cerbos/health`. Checks are decided with a policy function over the wire request.
 * Besides the shared failure switches, {@link CerbosFake.tamper} corrupts answers in ways only a
 * careful client notices.
 */
import {
  type FakeServer,
  type JsonReply,
  type RecordedRequest,
  startJsonServer,
} from "./shared.js";

/** A principal on the wire. */
export interface CerbosWirePrincipal {
  readonly id: string;
  readonly roles: readonly string[];
  readonly attr: Record<string, unknown>;
}

/** A resource on the wire. */
export interface CerbosWireResource {
  readonly kind: string;
  readonly id: string;
  readonly attr: Record<string, unknown>;
  readonly policyVersion?: string;
  readonly scope?: string;
}

/** Decides one action: a boolean, or the effect with a rule output and the matched policy. */
export type CerbosFakePolicy = (
  principal: CerbosWirePrincipal,
  resource: CerbosWireResource,
  action: string,
) =>
  | boolean
  | {
      readonly allow: boolean;
      /** Value of a rule output for this action. */
      readonly output?: unknown;
      /** `NO_MATCH` when no policy applies. @defaultValue `resource.<kind>.vdefault` */
      readonly matchedPolicy?: string;
    };

/** Ways to corrupt an otherwise valid answer. */
export type CerbosTamper =
  /** Results in reverse order. */
  | "reorder"
  /** A result without an effect for the requested action. */
  | "missing-action"
  /** An effect Cerbos never sends. */
  | "unknown-effect"
  /** A `requestId` other than the one sent. */
  | "foreign-request-id";

/** Options of {@link startCerbosFake}. */
export interface CerbosFakeOptions {
  /** @defaultValue deny everything */
  readonly policy?: CerbosFakePolicy;
  /** The server's request limit. @defaultValue 50 (Cerbos' default) */
  readonly maxResourcesPerRequest?: number;
}

/** One `CheckResources` call the fake decided. */
export interface CerbosFakeCall {
  readonly principal: CerbosWirePrincipal;
  readonly resources: readonly CerbosWireResource[];
  readonly includeMeta: boolean;
}

/** A running fake Cerbos PDP. */
export interface CerbosFake extends FakeServer {
  setPolicy(policy: CerbosFakePolicy): void;
  /** Corrupts every later answer this way (undefined = off; `reset()` turns it off). */
  tamper(mode: CerbosTamper | undefined): void;
  /** Every call decided, in order. */
  calls(): CerbosFakeCall[];
  /** Number of resources of each call decided. */
  bulkSizes(): number[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const invalid = (message: string): JsonReply => ({ status: 400, body: { code: 3, message } });

interface ParsedCall {
  readonly requestId?: string;
  readonly includeMeta: boolean;
  readonly principal: CerbosWirePrincipal;
  readonly entries: { resource: CerbosWireResource; actions: string[] }[];
}

/** Validates a request the way the real server does (required fields, unique actions, limit). */
function parseCall(body: unknown, limit: number): ParsedCall | string {
  if (!isRecord(body)) return "invalid request body";
  const p = body.principal;
  if (!isRecord(p)) return "validation error: principal: value is required";
  if (typeof p.id !== "string" || p.id === "")
    return "validation error: principal.id: value is required";
  if (!Array.isArray(p.roles) || p.roles.length === 0)
    return "validation error: principal.roles: value is required";
  if (!p.roles.every((r) => typeof r === "string" && r !== ""))
    return "validation error: principal.roles: value must be a non-empty string";
  if (new Set(p.roles).size !== p.roles.length)
    return "validation error: principal.roles: repeated value must contain unique items";
  const resources = body.resources;
  if (!Array.isArray(resources) || resources.length === 0)
    return "validation error: resources: value is required";
  if (resources.length > limit)
    return `number of resources in batch (${resources.length}) exceeds configured limit (${limit})`;
  const entries: ParsedCall["entries"] = [];
  for (const [i, entry] of resources.entries()) {
    if (!isRecord(entry) || !isRecord(entry.resource))
      return `validation error: resources[${i}].resource: value is required`;
    const r = entry.resource;
    if (typeof r.kind !== "string" || r.kind === "")
      return `validation error: resources[${i}].resource.kind: value is required`;
    if (typeof r.id !== "string" || r.id === "")
      return `validation error: resources[${i}].resource.id: value is required`;
    const actions = entry.actions;
    if (!Array.isArray(actions) || actions.length === 0)
      return `validation error: resources[${i}].actions: value is required`;
    if (!actions.every((a) => typeof a === "string" && a !== ""))
      return `validation error: resources[${i}].actions: value must be a non-empty string`;
    if (new Set(actions).size !== actions.length)
      return `validation error: resources[${i}].actions: repeated value must contain unique items`;
    entries.push({
      resource: {
        kind: r.kind,
        id: r.id,
        attr: isRecord(r.attr) ? r.attr : {},
        ...(typeof r.policyVersion === "string" ? { policyVersion: r.policyVersion } : {}),
        ...(typeof r.scope === "string" ? { scope: r.scope } : {}),
      },
      actions: actions as string[],
    });
  }
  return {
    ...(typeof body.requestId === "string" ? { requestId: body.requestId } : {}),
    includeMeta: body.includeMeta === true,
    principal: { id: p.id, roles: p.roles as string[], attr: isRecord(p.attr) ? p.attr : {} },
    entries,
  };
}

/** Starts a fake Cerbos PDP on 127.0.0.1. */
export async function startCerbosFake(options: CerbosFakeOptions = {}): Promise<CerbosFake> {
  let policy: CerbosFakePolicy = options.policy ?? (() => false);
  const limit = options.maxResourcesPerRequest ?? 50;
  const calls: CerbosFakeCall[] = [];
  let tamper: CerbosTamper | undefined;
  let callCounter = 0;

  const answer = (call: ParsedCall, wrongBulkLength: boolean): Record<string, unknown> => {
    const results = call.entries.map(({ resource, actions }) => {
      const effects: Record<string, string> = {};
      const meta: Record<string, { matchedPolicy: string }> = {};
      const outputs: { src: string; val: unknown; action: string }[] = [];
      for (const action of actions) {
        const d = policy(call.principal, resource, action);
        const allow = typeof d === "boolean" ? d : d.allow;
        const matchedPolicy =
          (typeof d === "boolean" ? undefined : d.matchedPolicy) ??
          `resource.${resource.kind}.v${resource.policyVersion ?? "default"}`;
        effects[action] = allow ? "EFFECT_ALLOW" : "EFFECT_DENY";
        meta[action] = { matchedPolicy };
        if (typeof d !== "boolean" && d.output !== undefined) {
          outputs.push({ src: `${matchedPolicy}#rule`, val: d.output, action });
        }
      }
      if (tamper === "missing-action") {
        const first = actions[0];
        if (first !== undefined) Reflect.deleteProperty(effects, first);
      }
      if (tamper === "unknown-effect") {
        const first = actions[0];
        if (first !== undefined) effects[first] = "EFFECT_MAYBE";
      }
      return {
        resource: { id: resource.id, kind: resource.kind },
        actions: effects,
        ...(call.includeMeta ? { meta: { actions: meta } } : {}),
        ...(outputs.length > 0 ? { outputs } : {}),
      };
    });
    if (tamper === "reorder") results.reverse();
    if (wrongBulkLength) results.pop();
    callCounter++;
    const requestId = tamper === "foreign-request-id" ? "someone-else" : call.requestId;
    return {
      ...(requestId !== undefined ? { requestId } : {}),
      results,
      cerbosCallId: `fake-call-${callCounter}`,
    };
  };

  const server = await startJsonServer({
    isDecision: (req: RecordedRequest) =>
      req.method === "POST" && req.path === "/api/check/resources",
    handle(req, state) {
      if (req.method === "GET" && req.path === "/_cerbos/health")
        return { status: 200, body: { status: "SERVING" } };
      if (req.method !== "POST" || req.path !== "/api/check/resources") return undefined;
      const call = parseCall(req.body, limit);
      if (typeof call === "string") return invalid(call);
      calls.push({
        principal: call.principal,
        resources: call.entries.map((e) => e.resource),
        includeMeta: call.includeMeta,
      });
      if (state.wrongShape) return { status: 200, body: { outcome: "EFFECT_ALLOW" } };
      return { status: 200, body: answer(call, state.wrongBulkLength) };
    },
  });

  return {
    ...server,
    reset() {
      server.reset();
      calls.length = 0;
      tamper = undefined;
    },
    setPolicy(next) {
      policy = next;
    },
    tamper(mode) {
      tamper = mode;
    },
    calls: () => calls,
    bulkSizes: () => calls.map((c) => c.resources.length),
  };
}
