/**
 * One RBAC + ABAC policy written for three engines (the local engine, casbin and Cedar), and one
 * set of requests translated for each. The policy, for the tools of the `notes` server:
 *
 * - a suspended caller is denied everything (a deny that overrides every allow);
 * - `admin` may call every tool;
 * - `user` may call `read_note`, `search_notes`, `list_notes` and `write_note`;
 * - `guest` may call `read_note` and `search_notes`;
 * - `user` with `level >= 3` may also call `export_notes` (ABAC);
 * - anyone in the `finance` department may call `view_ledger` (ABAC);
 * - nothing else (`delete_note` and `purge_all` are for admins only; unknown tools are denied).
 */
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import { Authorizer, type AuthorizationRequest, type Subject } from "@mcp-pdp/core";
import { type LocalPdp, type NativePolicy, localPdp } from "@mcp-pdp/local";
import { newEnforcer, newModelFromString, StringAdapter } from "casbin";
import { SERVER_NAME, pick, prng } from "./fixtures.js";

export const TOOLS = [
  "read_note",
  "search_notes",
  "list_notes",
  "write_note",
  "delete_note",
  "export_notes",
  "view_ledger",
  "purge_all",
  "unknown_tool",
] as const;

const USER_TOOLS = ["read-note", "search-notes", "list-notes", "write-note"];
const GUEST_TOOLS = ["read-note", "search-notes"];

/** The policy for the local engine (its native format). */
export const LOCAL_POLICY: NativePolicy = {
  rules: [
    {
      name: "suspended-callers",
      effect: "deny",
      resources: { types: [SERVER_NAME] },
      actions: ["*"],
      when: [{ field: "subject.attributes.suspended", op: "equals", value: true }],
    },
    {
      name: "admins-everything",
      effect: "allow",
      subjects: { roles: ["admin"] },
      resources: { types: [SERVER_NAME] },
      actions: ["*"],
    },
    {
      name: "users-notes",
      effect: "allow",
      subjects: { roles: ["user"] },
      resources: { types: [SERVER_NAME] },
      actions: USER_TOOLS,
    },
    {
      name: "guests-read",
      effect: "allow",
      subjects: { roles: ["guest"] },
      resources: { types: [SERVER_NAME] },
      actions: GUEST_TOOLS,
    },
    {
      name: "senior-users-export",
      effect: "allow",
      subjects: { roles: ["user"] },
      resources: { types: [SERVER_NAME] },
      actions: ["export-notes"],
      when: [{ field: "subject.attributes.level", op: "gte", value: 3 }],
    },
    {
      name: "finance-ledger",
      effect: "allow",
      resources: { types: [SERVER_NAME] },
      actions: ["view-ledger"],
      when: [{ field: "subject.attributes.dept", op: "equals", value: "finance" }],
    },
  ],
};

/**
 * The same policy for casbin: ABAC in the matcher (the request's subject is an object), a `cond`
 * column naming which attribute test a line needs, and deny-override as the effect.
 */
export const CASBIN_MODEL = `
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act, cond, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = r.obj == p.obj && (p.act == "*" || r.act == p.act) && (p.sub == "*" || r.sub.Role == p.sub) && (p.cond == "-" || (p.cond == "suspended" && r.sub.Suspended == true) || (p.cond == "senior" && r.sub.Level >= 3) || (p.cond == "finance" && r.sub.Dept == "finance"))
`;

export const CASBIN_POLICY = [
  `p, *, ${SERVER_NAME}, *, suspended, deny`,
  `p, admin, ${SERVER_NAME}, *, -, allow`,
  ...USER_TOOLS.map((a) => `p, user, ${SERVER_NAME}, ${a}, -, allow`),
  ...GUEST_TOOLS.map((a) => `p, guest, ${SERVER_NAME}, ${a}, -, allow`),
  `p, user, ${SERVER_NAME}, export-notes, senior, allow`,
  `p, *, ${SERVER_NAME}, view-ledger, finance, allow`,
].join("\n");

const actionList = (actions: readonly string[]) =>
  actions.map((a) => `Action::${JSON.stringify(a)}`).join(", ");

/** The same policy in Cedar: roles are the principal's parents, attributes its attributes. */
export const CEDAR_POLICY = `
forbid (principal, action, resource == Server::"${SERVER_NAME}") when { principal.suspended };
permit (principal in Role::"admin", action, resource == Server::"${SERVER_NAME}");
permit (principal in Role::"user", action in [${actionList(USER_TOOLS)}], resource == Server::"${SERVER_NAME}");
permit (principal in Role::"guest", action in [${actionList(GUEST_TOOLS)}], resource == Server::"${SERVER_NAME}");
permit (principal in Role::"user", action == Action::"export-notes", resource == Server::"${SERVER_NAME}")
  when { principal.level >= 3 };
permit (principal, action == Action::"view-ledger", resource == Server::"${SERVER_NAME}")
  when { principal.dept == "finance" };
`;

/** One caller as each engine sees it. */
interface Caller {
  readonly subject: Subject;
  readonly casbin: { Role: string; Dept: string; Level: number; Suspended: boolean };
  readonly cedar: cedar.EntityJson[];
  readonly cedarUid: cedar.TypeAndId;
}

function callers(count: number, random: () => number): Caller[] {
  return Array.from({ length: count }, (_, i) => {
    const role = pick(["admin", "user", "user", "user", "guest"], random);
    const dept = pick(["eng", "finance", "sales"], random);
    const level = 1 + Math.floor(random() * 5);
    const suspended = random() < 0.1;
    const id = `u${i}`;
    const uid = { type: "User", id };
    return {
      subject: {
        id,
        authenticated: true,
        roles: [role],
        attributes: { dept, level, suspended },
      },
      casbin: { Role: role, Dept: dept, Level: level, Suspended: suspended },
      cedar: [{ uid, attrs: { dept, level, suspended }, parents: [{ type: "Role", id: role }] }],
      cedarUid: uid,
    };
  });
}

/** The requests, prebuilt for every engine. */
export interface Workload {
  /** As the guard builds them (`Authorizer.buildRequest`). */
  readonly local: readonly AuthorizationRequest[];
  /** casbin's `(sub, obj, act)`. */
  readonly casbin: readonly (readonly [Caller["casbin"], string, string])[];
  readonly cedar: readonly cedar.StatefulAuthorizationCall[];
}

export const CEDAR_POLICY_SET_ID = "bench";

/** `count` seeded requests: random callers calling random tools with small arguments. */
export function workload(count: number): Workload {
  const random = prng(42);
  const people = callers(200, random);
  // Only buildRequest is used: the PDP is never asked.
  const authorizer = new Authorizer({
    pdp: { name: "unused", check: () => Promise.reject(new Error("unused")) },
    audit: false,
    mapping: { serverName: SERVER_NAME },
  });
  const local: AuthorizationRequest[] = [];
  const casbinRequests: [Caller["casbin"], string, string][] = [];
  const cedarRequests: cedar.StatefulAuthorizationCall[] = [];
  for (let i = 0; i < count; i++) {
    const caller = pick(people, random);
    const tool = pick(TOOLS, random);
    const request = authorizer.buildRequest(
      "tools/call",
      { name: tool, arguments: { id: `n${i % 100}` } },
      caller.subject,
    );
    local.push(request);
    casbinRequests.push([caller.casbin, request.resource.type, request.action]);
    cedarRequests.push({
      principal: caller.cedarUid,
      action: { type: "Action", id: request.action },
      resource: { type: "Server", id: request.resource.type },
      context: {},
      entities: caller.cedar,
      preparsedPolicySetId: CEDAR_POLICY_SET_ID,
    });
  }
  return { local, casbin: casbinRequests, cedar: cedarRequests };
}

/** The three engines, built and ready to decide. */
export interface Engines {
  readonly local: LocalPdp;
  casbin(sub: Caller["casbin"], obj: string, act: string): boolean;
  cedar(call: cedar.StatefulAuthorizationCall): boolean;
}

export async function engines(): Promise<Engines> {
  const local = localPdp({ policies: [LOCAL_POLICY] });
  const enforcer = await newEnforcer(
    newModelFromString(CASBIN_MODEL),
    new StringAdapter(CASBIN_POLICY),
  );
  const parsed = cedar.preparsePolicySet(CEDAR_POLICY_SET_ID, { staticPolicies: CEDAR_POLICY });
  if (parsed.type !== "success") {
    throw new Error(`Cedar rejected the policy: ${JSON.stringify(parsed.errors)}`);
  }
  return {
    local,
    casbin: (sub, obj, act) => enforcer.enforceSync(sub, obj, act),
    cedar(call) {
      const answer = cedar.statefulIsAuthorized(call);
      if (answer.type !== "success") {
        throw new Error(`Cedar failed: ${JSON.stringify(answer.errors)}`);
      }
      if (answer.response.diagnostics.errors.length > 0) {
        throw new Error(`Cedar policy errors: ${JSON.stringify(answer.response.diagnostics)}`);
      }
      return answer.response.decision === "allow";
    },
  };
}
