import {
  type AuthorizationRequest,
  Authorizer,
  ConfigError,
  type RequestContext,
  eunomiaIdentity,
  mapListItem,
  mapRequest,
  resolveMapping,
} from "@mcp-pdp/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type EunomiaFake, startEunomiaFake } from "../../../test/fakes/eunomia.js";
import {
  type EunomiaPdp,
  eunomiaFromEnv,
  eunomiaOptionsFromEnv,
  eunomiaPdp,
} from "../src/index.js";

let fake: EunomiaFake;
const opened: EunomiaPdp[] = [];
function pdp(options: Parameters<typeof eunomiaPdp>[0] = {}) {
  const p = eunomiaPdp({ endpoint: fake.url, ...options });
  opened.push(p);
  return p;
}

const headers = { "x-agent-id": "claude", "x-user-id": "u1", "user-agent": "test-client/1.0" };
const mapping = resolveMapping({ serverName: "calc" });

async function subjectOf(context: RequestContext) {
  return eunomiaIdentity()(context);
}

async function callRequest(name: string, args: Record<string, unknown>) {
  const subject = await subjectOf({ headers });
  return { subject, ...mapRequest("tools/call", { name, arguments: args }, mapping) };
}

beforeAll(async () => {
  fake = await startEunomiaFake();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((p) => p.close()));
  fake.reset();
  fake.setPolicy(() => false);
});
afterAll(() => fake.close());

describe("eunomiaPdp wire protocol (eunomia-mcp's scheme)", () => {
  it("posts a tools/call as principal agent:<id>, resource mcp:tools:<name>, action execute", async () => {
    fake.setPolicy(() => ({ allowed: true, reason: "Rule r1 allowed the action in policy p" }));
    const decision = await pdp().check(await callRequest("add", { a: 1, b: 2 }));
    expect(decision).toEqual({
      allow: true,
      source: "pdp",
      reason: "Rule r1 allowed the action in policy p",
    });
    const req = fake.requests[0]!;
    expect(req.path).toBe("/check");
    expect(req.headers["way-api-key"]).toBeUndefined();
    expect(req.body).toEqual({
      principal: {
        uri: "agent:claude",
        attributes: { agent_id: "claude", user_id: "u1", user_agent: "test-client/1.0" },
      },
      resource: {
        uri: "mcp:tools:add",
        attributes: {
          method: "tools/call",
          component_type: "tools",
          name: "add",
          uri: "mcp:tools:add",
          arguments: { a: 1, b: 2 },
        },
      },
      action: "execute",
    });
  });

  it("sends a 1 MB argument shortened, with arguments_truncated on the resource", async () => {
    fake.setPolicy(() => ({ allowed: true }));
    await pdp().check(await callRequest("write", { text: "x".repeat(1024 * 1024), n: 1 }));
    const body = fake.requests[0]!.body as { resource: { attributes: Record<string, unknown> } };
    expect(JSON.stringify(body).length).toBeLessThan(16 * 1024);
    expect(body.resource.attributes).toMatchObject({
      arguments: { n: 1 },
      arguments_truncated: true,
    });
  });

  it("sends arguments bounded with the mapping's raised argumentLimits, so a rule on a `..` past the default cut denies", async () => {
    fake.setPolicy((c) => {
      const path = (c.resource.attributes.arguments as { path?: unknown } | undefined)?.path;
      return typeof path === "string" && !path.includes("..");
    });
    const authorizer = new Authorizer({
      pdp: pdp(),
      identity: eunomiaIdentity(),
      mapping: { serverName: "calc", argumentLimits: { maxStringLength: 65_536 } },
      audit: false,
    });
    const decide = async (path: string) => {
      const outcome = await authorizer.authorize(
        "tools/call",
        { name: "read_file", arguments: { path } },
        { headers },
      );
      if (outcome.kind !== "decided") throw new Error("expected a decision");
      return outcome.decision;
    };
    const longPath = `allowed/${"a".repeat(1100)}/../secret`;
    expect((await decide(longPath)).allow).toBe(false);
    const body = fake.requests[0]!.body as { resource: { attributes: Record<string, unknown> } };
    expect(body.resource.attributes.arguments).toEqual({ path: longPath });
    expect(body.resource.attributes).not.toHaveProperty("arguments_truncated");
    expect((await decide(`allowed/${"a".repeat(1100)}/b`)).allow).toBe(true);
  });

  it("uses agent:unknown without the header, and execute for resources/read and prompts/get", async () => {
    fake.setPolicy(() => true);
    const subject = await subjectOf({});
    const p = pdp();
    await p.check({ subject, ...mapRequest("resources/read", { uri: "notes://1" }, mapping) });
    await p.check({ subject, ...mapRequest("prompts/get", { name: "summary" }, mapping) });
    const [read, get] = fake.checks();
    expect(read?.principal.uri).toBe("agent:unknown");
    expect(read?.resource).toMatchObject({
      uri: "mcp:resources:notes://1",
      attributes: { method: "resources/read", component_type: "resources" },
    });
    expect(read?.action).toBe("execute");
    expect(get?.resource.uri).toBe("mcp:prompts:summary");
    expect(get?.action).toBe("execute");
  });

  it("checks list items with action list and the list method, without arguments", async () => {
    fake.setPolicy((c) => c.action === "list" && c.resource.attributes.name !== "secret");
    const subject = await subjectOf({ headers });
    const items = ["add", "secret", "mul"].map((name) => ({
      subject,
      ...mapListItem("tools/list", { name }, mapping)!,
    }));
    const decisions = await pdp().checkMany(items);
    expect(decisions.map((d) => d.allow)).toEqual([true, false, true]);
    expect(fake.checks()[0]?.resource.attributes).toMatchObject({
      method: "tools/list",
      component_type: "tools",
      name: "add",
    });
    expect(fake.checks()[0]?.resource.attributes.arguments).toBeUndefined();
  });

  it("lets the whole-list request through (as eunomia-mcp does) and filters its items in one bulk call", async () => {
    fake.setPolicy((c) => c.resource.attributes.name === "add");
    const authorizer = new Authorizer({
      pdp: pdp(),
      identity: eunomiaIdentity(),
      mapping: { serverName: "calc" },
      audit: false,
    });
    const coarse = await authorizer.authorize("tools/list", {}, { headers });
    expect(coarse).toMatchObject({ kind: "decided", decision: { allow: true } });
    expect(fake.requests).toHaveLength(0);
    const subject = await subjectOf({ headers });
    const listed = await authorizer.filterList(
      "tools/list",
      { tools: [{ name: "add" }, { name: "drop_db" }] },
      { headers },
      subject,
    );
    expect(listed.result).toEqual({ tools: [{ name: "add" }] });
    expect(fake.bulkSizes()).toEqual([2]);
  });

  it("sends the whole-list request when checkListRequests is set", async () => {
    fake.setPolicy(() => false);
    const subject = await subjectOf({ headers });
    const coarse = { subject, ...mapRequest("tools/list", {}, mapping) };
    expect((await pdp({ checkListRequests: true }).check(coarse)).allow).toBe(false);
    expect(fake.checks()[0]).toMatchObject({ action: "list", resource: { uri: "mcp:tools" } });
    const mixed = await pdp().checkMany([coarse, await callRequest("add", {})]);
    expect(mixed.map((d) => d.allow)).toEqual([true, false]);
    expect(fake.bulkSizes()).toEqual([1]);
  });

  it("decides with the attributes an existing Eunomia policy reads", async () => {
    // Like a policy with principal condition attributes.user_id equals u1 and a resource
    // condition on the tool name: the attributes must be where eunomia-mcp puts them.
    fake.setPolicy(
      (c) =>
        c.principal.attributes.user_id === "u1" &&
        String(c.resource.attributes.name).startsWith("read") &&
        c.action === "execute",
    );
    expect((await pdp().check(await callRequest("read_file", {}))).allow).toBe(true);
    expect((await pdp().check(await callRequest("write_file", {}))).allow).toBe(false);
  });

  it("chunks bulk checks to at most 100 and never sends an empty one", async () => {
    fake.setPolicy((c) => (c.resource.attributes.arguments as { i: number }).i % 3 === 0);
    const requests: AuthorizationRequest[] = [];
    for (let i = 0; i < 250; i++) requests.push(await callRequest("t", { i }));
    const decisions = await pdp().checkMany(requests);
    expect(decisions.map((d) => d.allow)).toEqual(requests.map((_, i) => i % 3 === 0));
    expect([...fake.bulkSizes()].sort((a, b) => a - b)).toEqual([50, 100, 100]);
    expect(await pdp().checkMany([])).toEqual([]);
    expect(fake.bulkSizes()).toHaveLength(3);
  });

  it("turns the server's 422 on an entity without uri or attributes into an error deny", async () => {
    const p = pdp({
      toCheck: () => ({
        principal: { uri: undefined as unknown as string, attributes: {} },
        resource: { uri: "mcp:tools:x", attributes: {} },
        action: "execute",
      }),
    });
    expect(await p.check(await callRequest("x", {}))).toMatchObject({
      allow: false,
      source: "error",
      errorCode: "PDP_ERROR",
    });
    expect(fake.requests[0]).toBeDefined();
  });

  it("refuses a bulk size above the server's limit", () => {
    expect(() => eunomiaPdp({ maxBulkSize: 101 })).toThrow(ConfigError);
    expect(() => eunomiaPdp({ maxBulkSize: 0 })).toThrow(/maxBulkSize/);
  });

  it("reports health", async () => {
    expect(await pdp().healthy()).toBe(true);
    const closed = pdp();
    await closed.close();
    expect(await closed.healthy()).toBe(false);
  });
});

describe("eunomiaFromEnv", () => {
  it("reads EUNOMIA_ENDPOINT and EUNOMIA_TIMEOUT_MS; options win", async () => {
    fake.setPolicy(() => true);
    const p = eunomiaFromEnv({}, { EUNOMIA_ENDPOINT: fake.url, EUNOMIA_TIMEOUT_MS: "500" });
    opened.push(p);
    expect((await p.check(await callRequest("x", {}))).allow).toBe(true);
    const o = eunomiaFromEnv({ endpoint: fake.url }, { EUNOMIA_ENDPOINT: "http://127.0.0.1:1" });
    opened.push(o);
    expect((await o.check(await callRequest("x", {}))).allow).toBe(true);
  });

  it("names a bad variable", () => {
    expect(() => eunomiaFromEnv({}, { EUNOMIA_ENDPOINT: "localhost" })).toThrow(/EUNOMIA_ENDPOINT/);
    expect(() => eunomiaFromEnv({}, { EUNOMIA_TIMEOUT_MS: "0" })).toThrow(/EUNOMIA_TIMEOUT_MS/);
  });

  it("gives the PDP with eunomia-mcp's header identity", async () => {
    fake.setPolicy(() => true);
    const o = eunomiaOptionsFromEnv({}, { EUNOMIA_ENDPOINT: fake.url });
    opened.push(o.pdp);
    expect(await o.identity({ headers: { "X-Agent-ID": "bot" } })).toMatchObject({ id: "bot" });
  });
});
