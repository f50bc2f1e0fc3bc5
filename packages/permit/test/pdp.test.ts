import { inspect } from "node:util";
import {
  type AuthorizationRequest,
  Authorizer,
  ConfigError,
  type Decision,
  type Subject,
  mapRequest,
  resolveMapping,
} from "@mcp-pdp/core";
import { memoryAuditSink } from "@mcp-pdp/core/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type PermitFake, startPermitFake } from "../../../test/fakes/permit.js";
import { type PermitPdp, permitPdp, toPermitQuery } from "../src/index.js";

const KEY = "permit_key_0123456789abcdef";
const alice: Subject = {
  id: "alice",
  authenticated: true,
  roles: ["editor"],
  attributes: { department: "sales" },
};

function call(tool: string, args?: Record<string, unknown>, subject: Subject = alice) {
  const mapped = mapRequest(
    "tools/call",
    { name: tool, ...(args ? { arguments: args } : {}) },
    resolveMapping({ serverName: "notes" }),
  );
  return { subject, ...mapped } satisfies AuthorizationRequest;
}

let fake: PermitFake;
const opened: PermitPdp[] = [];
function pdp(options: Partial<Parameters<typeof permitPdp>[0]> = {}) {
  const p = permitPdp({ url: fake.url, apiKey: KEY, ...options });
  opened.push(p);
  return p;
}

beforeAll(async () => {
  fake = await startPermitFake({ apiKey: KEY });
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((p) => p.close()));
  fake.reset();
  fake.setPolicy(() => false);
  fake.setHealthy(true);
});
afterAll(() => fake.close());

describe("permitPdp wire protocol", () => {
  it("posts the query to /allowed with the bearer key and the exact body", async () => {
    fake.setPolicy((q) => q.action === "read-note");
    const decision = await pdp().check(call("read_note", { id: 7 }));
    expect(decision).toEqual({ allow: true, source: "pdp" });
    const req = fake.requests[0]!;
    expect(req.method).toBe("POST");
    expect(req.path).toBe("/allowed");
    expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.body).toEqual({
      user: {
        key: "alice",
        attributes: { department: "sales", authenticated: true, roles: ["editor"] },
      },
      action: "read-note",
      resource: {
        type: "notes",
        tenant: "default",
        attributes: { tool_name: "read_note", mcp_method: "tools/call", arg_id: 7 },
      },
      context: { mcp_method: "tools/call", mcp_phase: "call" },
    });
  });

  it("denies as a PDP decision when Permit says no", async () => {
    expect(await pdp().check(call("delete_note"))).toEqual({ allow: false, source: "pdp" });
  });

  it("sends the resource key and the tenant of the resource, else of the subject", async () => {
    fake.setPolicy(() => true);
    const read = mapRequest("resources/read", { uri: "notes://1" }, resolveMapping({}));
    await pdp().check({ subject: { ...alice, tenant: "acme" }, ...read });
    await pdp().check({
      subject: { ...alice, tenant: "acme" },
      ...read,
      resource: { ...read.resource, tenant: "other" },
    });
    const [first, second] = fake.queries();
    expect(first?.resource).toMatchObject({ type: "mcp_server_resources", key: "notes://1" });
    expect(first?.resource.tenant).toBe("acme");
    expect(first?.user.attributes).toMatchObject({ tenant: "acme" });
    expect(second?.resource.tenant).toBe("other");
  });

  it("uses the configured default tenant", async () => {
    await pdp({ defaultTenant: "t1" }).check(call("x"));
    expect(fake.queries()[0]?.resource.tenant).toBe("t1");
  });

  it("marks the list phase in the context", () => {
    const q = toPermitQuery({ ...call("x"), operation: { ...call("x").operation, phase: "list" } });
    expect(q.context).toEqual({ mcp_method: "tools/call", mcp_phase: "list" });
  });

  it("sends a bulk check as a bare array to /allowed/bulk and answers in order", async () => {
    fake.setPolicy((q) => q.action.startsWith("read"));
    const requests = ["read_a", "write_b", "read_c"].map((t) => call(t));
    const decisions = await pdp().checkMany(requests);
    expect(decisions.map((d) => d.allow)).toEqual([true, false, true]);
    const req = fake.requests[0]!;
    expect(req.path).toBe("/allowed/bulk");
    expect(Array.isArray(req.body)).toBe(true);
    expect((req.body as unknown[]).length).toBe(3);
  });

  it("splits a large bulk check into calls of at most maxBulkSize", async () => {
    fake.setPolicy((q) => Number(q.resource.attributes?.arg_i) % 2 === 0);
    const requests = Array.from({ length: 250 }, (_, i) => call("t", { i }));
    const decisions = await pdp().checkMany(requests);
    expect(decisions.map((d) => d.allow)).toEqual(requests.map((_, i) => i % 2 === 0));
    expect([...fake.bulkSizes()].sort((a, b) => a - b)).toEqual([50, 100, 100]);
    await pdp({ maxBulkSize: 7 }).checkMany(requests.slice(0, 15));
    expect(fake.bulkSizes().slice(3)).toEqual([7, 7, 1]);
  });

  it("fails only the chunk whose answer has the wrong length", async () => {
    fake.setPolicy(() => true);
    fake.wrongBulkLength(true);
    const decisions = await pdp({ maxBulkSize: 2 }).checkMany([call("a"), call("b"), call("c")]);
    expect(decisions.map((d) => d.errorCode)).toEqual([
      "PDP_BAD_RESPONSE",
      "PDP_BAD_RESPONSE",
      "PDP_BAD_RESPONSE",
    ]);
    fake.wrongBulkLength(false);
  });

  it("denies with PDP_UNAUTHORIZED on a wrong key, and never shows the key", async () => {
    const wrong = "permit_key_WRONG_987654321";
    const d = await pdp({ apiKey: wrong }).check(call("read_note"));
    expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_UNAUTHORIZED" });
    expect(fake.requests[0]?.headers.authorization).toBe(`Bearer ${wrong}`);
    expect(JSON.stringify(d)).not.toContain(wrong);
  });

  it("keeps the API key out of every reason, audit event and inspection", async () => {
    const decisions: Decision[] = [];
    const p = pdp();
    for (const setup of [
      () => {
        fake.errorStatus(401);
      },
      () => {
        fake.errorStatus(500);
      },
      () => {
        fake.garbage(true);
      },
      () => {
        fake.wrongShape(true);
      },
    ]) {
      fake.reset();
      setup();
      decisions.push(await p.check(call("x")), ...(await p.checkMany([call("y")])));
    }
    fake.reset();
    const sink = memoryAuditSink();
    const authorizer = new Authorizer({ pdp: pdp({ apiKey: "bad-key-abcdef" }), audit: sink });
    await authorizer.authorize("tools/call", { name: "x" }, {}, { subject: alice });
    const texts = [
      JSON.stringify(decisions),
      JSON.stringify(sink.events),
      inspect(p, { depth: 20, showHidden: true }),
    ];
    for (const text of texts) {
      expect(text).not.toContain(KEY);
      expect(text).not.toContain("bad-key-abcdef");
    }
    expect(decisions.every((d) => d.source === "error" && !d.allow)).toBe(true);
  });

  it("reports health from GET /health", async () => {
    expect(await pdp().healthy()).toBe(true);
    fake.setHealthy(false);
    expect(await pdp().healthy()).toBe(false);
  });

  it("denies unauthenticated callers by default without asking the PDP", async () => {
    fake.setPolicy(() => true);
    const anonymous: Subject = { id: "anonymous", authenticated: false };
    const p = pdp();
    expect(await p.check(call("x", undefined, anonymous))).toEqual({
      allow: false,
      source: "pdp",
      reason: "caller is not authenticated",
    });
    expect(fake.requests).toHaveLength(0);
    const decisions = await p.checkMany([call("a"), call("b", undefined, anonymous), call("c")]);
    expect(decisions.map((d) => d.allow)).toEqual([true, false, true]);
    expect(fake.bulkSizes()).toEqual([2]);
    expect(fake.queries().map((q) => q.user.key)).toEqual(["alice", "alice"]);
  });

  it("sends authenticated: false to Permit when denyUnauthenticated is off", async () => {
    fake.setPolicy((q) => q.user.attributes?.authenticated === true);
    const anonymous: Subject = {
      id: "anonymous",
      authenticated: false,
      attributes: { authenticated: true },
    };
    const p = pdp({ denyUnauthenticated: false });
    expect((await p.check(call("x", undefined, anonymous))).allow).toBe(false);
    expect(fake.queries()[0]?.user).toEqual({
      key: "anonymous",
      attributes: { authenticated: false },
    });
    expect((await p.check(call("x"))).allow).toBe(true);
  });

  it("turns a throwing custom query builder into an error deny", async () => {
    const p = pdp({
      toQuery: () => {
        throw new Error("boom");
      },
    });
    expect(await p.check(call("x"))).toMatchObject({ allow: false, errorCode: "PDP_ERROR" });
    expect((await p.checkMany([call("x"), call("y")])).map((d) => d.errorCode)).toEqual([
      "PDP_ERROR",
      "PDP_ERROR",
    ]);
  });

  it("refuses a missing key and bad limits at construction", () => {
    expect(() => permitPdp({ apiKey: "" })).toThrow(ConfigError);
    expect(() => permitPdp({ apiKey: "  " })).toThrow(/PERMIT_API_KEY/);
    expect(() => permitPdp({ apiKey: "k", maxBulkSize: 0 })).toThrow(/maxBulkSize/);
    expect(() => permitPdp({ apiKey: "k", url: "localhost:7766" })).toThrow(ConfigError);
  });

  it("works behind the Authorizer with list filtering in one bulk call", async () => {
    fake.setPolicy((q) => q.action === "list" || q.action === "read-note");
    const authorizer = new Authorizer({
      pdp: pdp(),
      mapping: { serverName: "notes" },
      audit: false,
    });
    const listed = await authorizer.filterList(
      "tools/list",
      { tools: [{ name: "read_note" }, { name: "delete_note" }], nextCursor: "c2" },
      {},
      alice,
    );
    expect(listed.result).toEqual({ tools: [{ name: "read_note" }], nextCursor: "c2" });
    expect(fake.bulkSizes()).toEqual([2]);
    expect(fake.queries().map((q) => q.context?.mcp_phase)).toEqual(["list", "list"]);
  });
});
