/**
 * The adapter against the real Cerbos server (the binary of @cerbos/cerbos-linux-x64) loaded with
 * ./policies.
 */
import { fileURLToPath } from "node:url";
import type { AuthorizationRequest, Decision, PolicyDecisionPoint } from "@mcp-pdp/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CerbosPdpOptions, cerbosFromEnv, cerbosPdp } from "../src/index.js";
import { type CerbosServer, startCerbosServer } from "../src/testing.js";
import { admin, call, listed, user } from "./helpers.js";

const POLICIES = fileURLToPath(new URL("./policies", import.meta.url));

let server: CerbosServer;
let limited: CerbosServer;
const opened: PolicyDecisionPoint[] = [];

function pdp(options: CerbosPdpOptions = {}, at: CerbosServer = server): PolicyDecisionPoint {
  const created = cerbosPdp({ url: at.url, timeoutMs: 5000, ...options });
  opened.push(created);
  return created;
}

function many(p: PolicyDecisionPoint, requests: AuthorizationRequest[]): Promise<Decision[]> {
  if (!p.checkMany) throw new Error("no checkMany");
  return p.checkMany(requests);
}

beforeAll(async () => {
  [server, limited] = await Promise.all([
    startCerbosServer({ policyDir: POLICIES }),
    startCerbosServer({
      policyDir: POLICIES,
      set: ["server.requestLimits.maxResourcesPerRequest=10"],
    }),
  ]);
});

afterAll(async () => {
  await Promise.all(opened.map((p) => p.close?.() ?? Promise.resolve()));
  await Promise.all([server.close(), limited.close()]);
});

describe("decisions", () => {
  it("allows and denies on tool arguments, as PDP decisions with the call id", async () => {
    const p = pdp();
    const small = await p.check(
      call(user(), "tools/call", { name: "bounded", arguments: { n: 3 } }),
    );
    expect(small).toMatchObject({ allow: true, source: "pdp" });
    expect(small.decisionId).toMatch(/\S/);
    expect(small.errorCode).toBeUndefined();
    const big = await p.check(
      call(user(), "tools/call", { name: "bounded", arguments: { n: 30 } }),
    );
    expect(big).toMatchObject({ allow: false, source: "pdp" });
  });

  it("shows a tool in a list when the policy allows its list phase, arguments absent", async () => {
    const d = await pdp().check(listed(user(), "tools/list", { name: "bounded" }));
    expect(d.allow).toBe(true);
  });

  it("names the matched policy in the reason", async () => {
    const d = await pdp().check(call(admin, "tools/call", { name: "anything" }));
    expect(d).toMatchObject({ allow: true, reason: "allowed by resource.mcp_tool.vdefault" });
  });

  it("takes the reason from a rule's output", async () => {
    const d = await pdp().check(call(admin, "tools/call", { name: "secret" }));
    expect(d).toMatchObject({ allow: false, source: "pdp", reason: "secret tools are off limits" });
  });

  it("marks a decision no policy matched as not applicable", async () => {
    const d = await pdp().check(call(user(), "logging/setLevel", { level: "debug" }));
    expect(d).toMatchObject({ allow: false, source: "pdp", applicable: false });
    expect(d.reason).toMatch(/no Cerbos policy matches mcp_logging\/setLevel/);
  });

  it("leaves out policy names and applicability when includeMeta is off", async () => {
    const d = await pdp({ includeMeta: false }).check(
      call(user(), "logging/setLevel", { level: "debug" }),
    );
    expect(d.allow).toBe(false);
    expect(d.applicable).toBeUndefined();
    expect(d.reason).toBe("Cerbos denied mcp_logging/setLevel");
  });

  it("passes authenticated, tenant, scopes and claims to principal conditions", async () => {
    const p = pdp();
    const echo = call(user(), "tools/call", { name: "echo" });
    expect((await p.check(echo)).allow).toBe(true);
    const unverified = call(user({ authenticated: false }), "tools/call", { name: "echo" });
    expect((await p.check(unverified)).allow).toBe(false);

    expect(
      (await p.check(call(user({ tenant: "acme" }), "tools/call", { name: "tenant_tool" }))).allow,
    ).toBe(true);
    expect(
      (await p.check(call(user({ tenant: "other" }), "tools/call", { name: "tenant_tool" }))).allow,
    ).toBe(false);

    const scoped = (scopes: string[]) => call(user({ scopes }), "tools/call", { name: "scoped" });
    expect((await p.check(scoped(["notes:write"]))).allow).toBe(true);
    expect((await p.check(scoped(["notes:read"]))).allow).toBe(false);

    const claims = (department: string) =>
      call(user({ attributes: { department } }), "tools/call", { name: "claims" });
    expect((await p.check(claims("eng"))).allow).toBe(true);
    expect((await p.check(claims("sales"))).allow).toBe(false);
  });

  it("lets a claim named authenticated never overrule the identity", async () => {
    const forged = call(
      user({ authenticated: false, attributes: { authenticated: true } }),
      "tools/call",
      {
        name: "echo",
      },
    );
    expect((await pdp().check(forged)).allow).toBe(false);
  });

  it("evaluates derived roles over arguments", async () => {
    const p = pdp();
    const del = (owner: string) =>
      call(user(), "tools/call", { name: "delete_doc", arguments: { owner } });
    expect((await p.check(del("uma"))).allow).toBe(true);
    expect((await p.check(del("sam"))).allow).toBe(false);
  });

  it("decides with annotations the server declared", async () => {
    const request = call(user(), "tools/call", { name: "annotated" });
    const annotated = {
      ...request,
      operation: { ...request.operation, metadata: { annotations: { readOnlyHint: true } } },
    };
    const p = pdp();
    expect((await p.check(annotated)).allow).toBe(true);
    expect((await p.check(request)).allow).toBe(false);
  });

  it("sends a subject without roles as anonymous, or with the configured default roles", async () => {
    const nobody = { id: "visitor", authenticated: false };
    expect((await pdp().check(call(nobody, "tools/call", { name: "public" }))).allow).toBe(true);
    expect((await pdp().check(call(nobody, "tools/call", { name: "allow_x" }))).allow).toBe(false);
    const asUser = pdp({ defaultRoles: ["user"] });
    expect((await asUser.check(call(nobody, "tools/call", { name: "allow_x" }))).allow).toBe(true);
  });

  it("decides resources by URI, templates in lists, and subscriptions by verb", async () => {
    const p = pdp();
    expect((await p.check(call(user(), "resources/read", { uri: "docs://a" }))).allow).toBe(true);
    expect((await p.check(call(user(), "resources/read", { uri: "secret://a" }))).allow).toBe(
      false,
    );
    const template = listed(user(), "resources/templates/list", { uriTemplate: "docs://{id}" });
    expect((await p.check(template)).allow).toBe(true);
    expect((await p.check(call(user(), "resources/subscribe", { uri: "docs://a" }))).allow).toBe(
      false,
    );
    expect((await p.check(call(admin, "resources/subscribe", { uri: "docs://a" }))).allow).toBe(
      true,
    );
  });

  it("decides prompts on their arguments and lists them by phase", async () => {
    const p = pdp();
    const get = (lang: string) =>
      call(user(), "prompts/get", { name: "summarize", arguments: { lang } });
    expect((await p.check(get("en"))).allow).toBe(true);
    expect((await p.check(get("fr"))).allow).toBe(false);
    expect((await p.check(listed(user(), "prompts/list", { name: "summarize" }))).allow).toBe(true);
  });

  it("decides the coarse list check and server-level methods", async () => {
    const p = pdp();
    expect((await p.check(call(user(), "tools/list"))).allow).toBe(true);
    expect((await p.check(call({ ...user(), roles: ["guest"] }, "tools/list"))).allow).toBe(false);
    const complete = call(user(), "completion/complete", { ref: { type: "ref/other" } });
    expect((await p.check(complete)).allow).toBe(true);
  });

  it("uses the neutral scheme's kinds and actions", async () => {
    const p = pdp({ scheme: "neutral" });
    expect((await p.check(call(user(), "tools/call", { name: "read_doc" }))).allow).toBe(true);
    expect((await p.check(call(user(), "tools/call", { name: "bounded" }))).allow).toBe(false);
  });

  it("uses server-prefixed kinds", async () => {
    const p = pdp({ prefixKindWithServer: true });
    const other = (name: string) => call(user(), "tools/call", { name }, "other");
    expect((await p.check(other("other_only"))).allow).toBe(true);
    expect((await p.check(other("allow_x"))).allow).toBe(false);
  });

  it("asks the configured policy version", async () => {
    const request = call(user(), "tools/call", { name: "anything" });
    expect((await pdp().check(request)).allow).toBe(false);
    expect((await pdp({ policyVersion: "v2" }).check(request)).allow).toBe(true);
  });

  it("reads CERBOS_URL from the environment, options winning", async () => {
    const fromEnv = cerbosFromEnv({}, { CERBOS_URL: server.url });
    opened.push(fromEnv);
    expect((await fromEnv.check(call(admin, "tools/call", { name: "x" }))).source).toBe("pdp");
    const overridden = cerbosFromEnv({ url: server.url }, { CERBOS_URL: "http://127.0.0.1:1" });
    opened.push(overridden);
    expect((await overridden.check(call(admin, "tools/call", { name: "x" }))).allow).toBe(true);
  });
});

describe("bulk checks", () => {
  it("decides a page of mixed subjects in order, each with its own principal", async () => {
    const requests = Array.from({ length: 30 }, (_, i) => {
      const subject =
        i % 3 === 0 ? admin : i % 3 === 1 ? user() : { id: `g${i}`, authenticated: false };
      return call(subject, "tools/call", { name: i % 2 === 0 ? `allow_${i}` : `deny_${i}` });
    });
    const decisions = await many(pdp(), requests);
    expect(decisions).toHaveLength(30);
    decisions.forEach((d, i) => {
      const expected = i % 3 === 0 || (i % 3 === 1 && i % 2 === 0);
      expect({ i, allow: d.allow, source: d.source }).toEqual({
        i,
        allow: expected,
        source: "pdp",
      });
    });
  });

  it("splits a page into chunks within the server's limit", async () => {
    const requests = Array.from({ length: 35 }, (_, i) =>
      call(user(), "tools/call", { name: i % 4 === 0 ? `deny_${i}` : `allow_${i}` }),
    );
    const decisions = await many(pdp({ maxResourcesPerRequest: 10 }, limited), requests);
    decisions.forEach((d, i) => {
      expect({ i, allow: d.allow, source: d.source }).toEqual({
        i,
        allow: i % 4 !== 0,
        source: "pdp",
      });
    });
  });

  it("denies with Cerbos' own message when a chunk exceeds the server's limit", async () => {
    const requests = Array.from({ length: 11 }, (_, i) =>
      call(user(), "tools/call", { name: `allow_${i}` }),
    );
    const decisions = await many(pdp({}, limited), requests);
    for (const d of decisions) {
      expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_ERROR" });
      expect(d.reason).toMatch(/HTTP 400.*exceeds configured limit \(10\)/);
    }
  });

  it("sends the same tool twice in one page with different arguments and keeps both answers", async () => {
    const decisions = await many(pdp(), [
      call(user(), "tools/call", { name: "bounded", arguments: { n: 1 } }),
      call(user(), "tools/call", { name: "bounded", arguments: { n: 100 } }),
    ]);
    expect(decisions.map((d) => d.allow)).toEqual([true, false]);
  });

  it("fails only the requests that cannot be sent, never rejecting", async () => {
    const bad = call(user({ attributes: { big: 10n } }), "tools/call", { name: "allow_a" });
    const empty = call({ id: "", authenticated: true, roles: ["user"] }, "tools/call", {
      name: "allow_b",
    });
    const good = call(user(), "tools/call", { name: "allow_c" });
    const decisions = await many(pdp(), [bad, empty, good]);
    expect(decisions[0]).toMatchObject({ allow: false, source: "error", errorCode: "PDP_ERROR" });
    expect(decisions[1]).toMatchObject({ allow: false, source: "error", errorCode: "PDP_ERROR" });
    expect(decisions[1]?.reason).toMatch(/empty id/);
    expect(decisions[2]).toMatchObject({ allow: true, source: "pdp" });
    expect(await pdp().check(bad)).toMatchObject({ allow: false, source: "error" });
  });
});
