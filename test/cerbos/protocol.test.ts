/**
 * What @mcp-pdp/cerbos puts on the wire and how it treats answers a real server would only give
 * when broken, against the fake Cerbos PDP.
 */
import { type CerbosPdpOptions, cerbosFromEnv, cerbosPdp } from "@mcp-pdp/cerbos";
import {
  type AuthorizationRequest,
  type Decision,
  type PolicyDecisionPoint,
  type Subject,
  mapRequest,
  resolveMapping,
} from "@mcp-pdp/core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type CerbosFake, startCerbosFake } from "../fakes/cerbos.js";

const mapping = resolveMapping({ serverName: "notes" });

const subject = (id: string, roles: string[] = ["user"]): Subject => ({
  id,
  roles,
  authenticated: true,
});

const toolCall = (who: Subject, name: string): AuthorizationRequest => ({
  subject: who,
  ...mapRequest("tools/call", { name, arguments: { q: "x" } }, mapping),
});

let fake: CerbosFake;
const opened: PolicyDecisionPoint[] = [];

function pdp(options: CerbosPdpOptions = {}): PolicyDecisionPoint {
  const created = cerbosPdp({ url: fake.url, ...options });
  opened.push(created);
  return created;
}

function many(p: PolicyDecisionPoint, requests: AuthorizationRequest[]): Promise<Decision[]> {
  if (!p.checkMany) throw new Error("no checkMany");
  return p.checkMany(requests);
}

beforeAll(async () => {
  fake = await startCerbosFake({
    policy: (_principal, resource) => resource.id.startsWith("allow"),
  });
});

beforeEach(() => {
  fake.reset();
});

afterAll(async () => {
  await Promise.all(opened.map((p) => p.close?.() ?? Promise.resolve()));
  await fake.close();
});

describe("the wire request", () => {
  it("sends one call per principal for a page of mixed subjects", async () => {
    const alice = subject("alice");
    const bob = subject("bob", ["admin"]);
    const requests = [
      toolCall(alice, "allow_1"),
      toolCall(bob, "allow_2"),
      toolCall(alice, "deny_3"),
      toolCall(bob, "deny_4"),
      toolCall(alice, "allow_5"),
    ];
    const decisions = await many(pdp(), requests);
    expect(decisions.map((d) => d.allow)).toEqual([true, true, false, false, true]);
    const calls = fake.calls();
    expect(calls).toHaveLength(2);
    const byId = Object.fromEntries(calls.map((c) => [c.principal.id, c]));
    expect(byId.alice?.resources.map((r) => r.id)).toEqual(["allow_1", "deny_3", "allow_5"]);
    expect(byId.bob?.resources.map((r) => r.id)).toEqual(["allow_2", "deny_4"]);
    expect(byId.bob?.principal.roles).toEqual(["admin"]);
  });

  it("splits a page at maxResourcesPerRequest", async () => {
    const requests = Array.from({ length: 23 }, (_, i) => toolCall(subject("a"), `allow_${i}`));
    const decisions = await many(pdp({ maxResourcesPerRequest: 10 }), requests);
    expect(decisions.every((d) => d.allow)).toBe(true);
    expect(fake.bulkSizes().sort((x, y) => x - y)).toEqual([3, 10, 10]);
  });

  it("sends no call for an empty page", async () => {
    expect(await many(pdp(), [])).toEqual([]);
    expect(fake.requests).toHaveLength(0);
  });

  it("sends the principal, kind, id, one action and attributes the policy reads", async () => {
    await pdp().check({
      ...toolCall({ ...subject("alice"), tenant: "acme", scopes: ["s"] }, "allow_x"),
    });
    const [call] = fake.calls();
    expect(call?.includeMeta).toBe(true);
    expect(call?.principal).toEqual({
      id: "alice",
      roles: ["user"],
      attr: { authenticated: true, tenant: "acme", scopes: ["s"] },
    });
    const body = fake.requests[0]?.body as { requestId?: unknown; resources: unknown[] };
    expect(typeof body.requestId).toBe("string");
    expect(body.resources[0]).toMatchObject({
      resource: {
        kind: "mcp_tool",
        id: "allow_x",
        attr: { tool_name: "allow_x", arg_q: "x", phase: "call", server: "notes", tenant: "acme" },
      },
      actions: ["call"],
    });
  });

  it("sends the headers of CERBOS_HEADERS with every call", async () => {
    const p = cerbosFromEnv({}, { CERBOS_URL: fake.url, CERBOS_HEADERS: "x-api-key=k-123" });
    opened.push(p);
    await p.check(toolCall(subject("a"), "allow_1"));
    expect(fake.requests[0]?.headers["x-api-key"]).toBe("k-123");
    expect(fake.requests[0]?.headers["content-type"]).toBe("application/json");
  });

  it("asks for no metadata when includeMeta is off", async () => {
    await pdp({ includeMeta: false }).check(toolCall(subject("a"), "allow_1"));
    expect(fake.calls()[0]?.includeMeta).toBe(false);
  });
});

describe("answers", () => {
  it("takes a string output, or an object's reason, as the decision's reason", async () => {
    fake.setPolicy((_p, r) =>
      r.id === "a" ? { allow: false, output: "no a" } : { allow: true, output: { reason: "b ok" } },
    );
    const [a, b] = await many(pdp(), [toolCall(subject("x"), "a"), toolCall(subject("x"), "b")]);
    expect(a).toMatchObject({ allow: false, reason: "no a", source: "pdp" });
    expect(b).toMatchObject({ allow: true, reason: "b ok", source: "pdp" });
    expect(a?.decisionId).toMatch(/^fake-call-/);
    fake.setPolicy((_p, resource) => resource.id.startsWith("allow"));
  });

  it("denies every item with PDP_BAD_RESPONSE when results come in another order", async () => {
    fake.tamper("reorder");
    const decisions = await many(pdp(), [
      toolCall(subject("a"), "allow_1"),
      toolCall(subject("a"), "deny_2"),
    ]);
    for (const d of decisions) {
      expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_BAD_RESPONSE" });
    }
  });

  it("denies with PDP_BAD_RESPONSE a result without an effect for the action", async () => {
    fake.tamper("missing-action");
    const d = await pdp().check(toolCall(subject("a"), "allow_1"));
    expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_BAD_RESPONSE" });
    expect(d.reason).toMatch(/no effect for action call/);
  });

  it("denies with PDP_BAD_RESPONSE an effect Cerbos does not have", async () => {
    fake.tamper("unknown-effect");
    const d = await pdp().check(toolCall(subject("a"), "allow_1"));
    expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_BAD_RESPONSE" });
  });

  it("denies with PDP_BAD_RESPONSE an answer to another request", async () => {
    fake.tamper("foreign-request-id");
    const d = await pdp().check(toolCall(subject("a"), "allow_1"));
    expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_BAD_RESPONSE" });
  });

  it("keeps the server's message when it rejects a call over its limit", async () => {
    const small = await startCerbosFake({
      policy: () => true,
      maxResourcesPerRequest: 5,
    });
    const p = cerbosPdp({ url: small.url });
    const requests = Array.from({ length: 6 }, (_, i) => toolCall(subject("a"), `allow_${i}`));
    const decisions = await many(p, requests);
    for (const d of decisions) {
      expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_ERROR" });
      expect(d.reason).toMatch(/exceeds configured limit \(5\)/);
    }
    await p.close?.();
    await small.close();
  });

  it("never puts header values in a reason", async () => {
    const secret = "header-secret-4242";
    fake.errorStatus(500);
    const p = pdp({ headers: { authorization: `Bearer ${secret}` } });
    const d = await p.check(toolCall(subject("a"), "allow_1"));
    expect(d.source).toBe("error");
    expect(JSON.stringify(d)).not.toContain(secret);
  });
});
