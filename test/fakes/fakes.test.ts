import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EunomiaFake, startEunomiaFake } from "./eunomia.js";
import { type OpaFake, startOpaFake } from "./opa.js";
import { type PermitFake, startPermitFake } from "./permit.js";
import { closedPortUrl, startBlackHole } from "./shared.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read answers of several shapes
type Json = any;

async function send(
  url: string,
  method: "GET" | "POST" | "DELETE",
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await request(url, {
    method,
    headers: { "content-type": "application/json", ...headers },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, text, json: json as Json };
}

const query = {
  user: { key: "alice", attributes: {} },
  action: "greet",
  resource: { type: "mcp_server", attributes: { tool_name: "greet" } },
  context: {},
};

describe("Permit fake", () => {
  let fake: PermitFake;
  const auth = { authorization: "Bearer k1" };
  beforeAll(async () => {
    fake = await startPermitFake({ apiKey: "k1", policy: (q) => q.user.key === "alice" });
  });
  afterAll(() => fake.close());

  it("answers /allowed with allow, result, query and debug; tenant defaults to default", async () => {
    const res = await send(`${fake.url}/allowed`, "POST", query, auth);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ allow: true, result: true });
    expect(res.json.query.resource.tenant).toBe("default");
    expect(fake.queries()[0]?.resource.tenant).toBe("default");
  });

  it("answers 401 to a missing or wrong key and matches the scheme case-insensitively", async () => {
    expect((await send(`${fake.url}/allowed`, "POST", query)).status).toBe(401);
    expect(
      (await send(`${fake.url}/allowed`, "POST", query, { authorization: "Bearer nope" })).status,
    ).toBe(401);
    expect(
      (await send(`${fake.url}/allowed`, "POST", query, { authorization: "bearer k1" })).status,
    ).toBe(200);
  });

  it("answers a bulk array in order under allow, and 422 to a malformed query", async () => {
    const res = await send(
      `${fake.url}/allowed/bulk`,
      "POST",
      [query, { ...query, user: { key: "bob" } }],
      auth,
    );
    expect(res.json.allow.map((a: { allow: boolean }) => a.allow)).toEqual([true, false]);
    expect(fake.bulkSizes().at(-1)).toBe(2);
    expect((await send(`${fake.url}/allowed`, "POST", { action: "x" }, auth)).status).toBe(422);
  });

  it("serves health and all-tenants", async () => {
    expect((await send(`${fake.url}/health`, "GET")).json).toEqual({ status: "ok" });
    fake.setHealthy(false);
    expect((await send(`${fake.url}/health`, "GET")).status).toBe(503);
    fake.setHealthy(true);
    const res = await send(`${fake.url}/allowed/all-tenants`, "POST", query, auth);
    expect(res.json.allowed_tenants).toEqual([{ tenant: { key: "default" } }]);
  });

  it("applies the failure switches to decision endpoints only", async () => {
    fake.errorStatus(503);
    expect((await send(`${fake.url}/allowed`, "POST", query, auth)).status).toBe(503);
    expect((await send(`${fake.url}/health`, "GET")).status).toBe(200);
    fake.reset();
    fake.garbage(true);
    const garbage = await send(`${fake.url}/allowed`, "POST", query, auth);
    expect(garbage.status).toBe(200);
    expect(garbage.json).toBeUndefined();
    fake.reset();
    fake.wrongShape(true);
    expect((await send(`${fake.url}/allowed`, "POST", query, auth)).json).toEqual({
      result: "yes",
    });
    fake.reset();
    fake.wrongBulkLength(true);
    const short = await send(`${fake.url}/allowed/bulk`, "POST", [query, query], auth);
    expect(short.json.allow).toHaveLength(1);
    fake.reset();
    fake.latency(30);
    expect((await send(`${fake.url}/allowed`, "POST", query, auth)).status).toBe(200);
    expect(fake.requests).toHaveLength(1);
    fake.reset();
    expect(fake.requests).toHaveLength(0);
  });
});

describe("Eunomia fake", () => {
  let fake: EunomiaFake;
  const check = {
    principal: { uri: "agent:claude", attributes: { agent_id: "claude" } },
    resource: { uri: "mcp:tools:add", attributes: { name: "add" } },
    action: "execute",
  };
  beforeAll(async () => {
    fake = await startEunomiaFake({
      policy: (c) => ({ allowed: c.action === "execute", reason: `action ${c.action}` }),
      adminApiKey: "adm",
    });
  });
  afterAll(() => fake.close());

  it("answers /check with allowed and reason, defaulting the action to access", async () => {
    expect((await send(`${fake.url}/check`, "POST", check)).json).toEqual({
      allowed: true,
      reason: "action execute",
    });
    const { action: _, ...withoutAction } = check;
    expect((await send(`${fake.url}/check`, "POST", withoutAction)).json).toEqual({
      allowed: false,
      reason: "action access",
    });
  });

  it("answers 422 to an entity with neither uri nor attributes", async () => {
    const bad = { ...check, principal: { attributes: {} } };
    expect((await send(`${fake.url}/check`, "POST", bad)).status).toBe(422);
    const uriOnly = { ...check, principal: { uri: "agent:x" } };
    expect((await send(`${fake.url}/check`, "POST", uriOnly)).status).toBe(200);
    expect((await send(`${fake.url}/check/bulk`, "POST", [check, bad])).status).toBe(422);
  });

  it("answers bulk arrays of 1 to 100 in order and 400 to an empty or oversized one", async () => {
    const res = await send(`${fake.url}/check/bulk`, "POST", [check, { ...check, action: "list" }]);
    expect(res.json.map((a: { allowed: boolean }) => a.allowed)).toEqual([true, false]);
    expect((await send(`${fake.url}/check/bulk`, "POST", [])).status).toBe(400);
    expect((await send(`${fake.url}/check/bulk`, "POST", Array(101).fill(check))).status).toBe(400);
    expect((await send(`${fake.url}/check/bulk`, "POST", Array(100).fill(check))).status).toBe(200);
  });

  it("guards the admin API with WAY-API-KEY and rejects unknown policy fields", async () => {
    expect((await send(`${fake.url}/admin/policies`, "GET")).status).toBe(401);
    const key = { "way-api-key": "adm" };
    expect((await send(`${fake.url}/admin/policies`, "GET", undefined, key)).json).toEqual([]);
    const bad = { name: "p", rules: [], extra: true };
    expect((await send(`${fake.url}/admin/policies`, "POST", bad, key)).status).toBe(422);
    expect((await send(`${fake.url}/admin/policies/missing`, "GET", undefined, key)).status).toBe(
      404,
    );
    expect((await send(`${fake.url}/health`, "GET")).json).toEqual({ status: "ok" });
  });
});

describe("OPA fake", () => {
  let oss: OpaFake;
  let enterprise: OpaFake;
  beforeAll(async () => {
    oss = await startOpaFake({
      policy: (input, path) =>
        path === "mcp/authz/allow" ? (input as { ok?: boolean }).ok : undefined,
    });
    enterprise = await startOpaFake({
      enterprise: true,
      decisionIds: true,
      token: "t0k",
      policy: (input) => input,
    });
  });
  afterAll(async () => {
    await oss.close();
    await enterprise.close();
  });

  it("answers {result} and {} for an undefined decision", async () => {
    expect(
      (await send(`${oss.url}/v1/data/mcp/authz/allow`, "POST", { input: { ok: true } })).json,
    ).toEqual({ result: true });
    expect((await send(`${oss.url}/v1/data/mcp/authz/allow`, "POST", { input: {} })).json).toEqual(
      {},
    );
    expect((await send(`${oss.url}/v1/data/other`, "POST", { input: { ok: true } })).json).toEqual(
      {},
    );
    expect((await send(`${oss.url}/health`, "GET")).json).toEqual({});
  });

  it("answers 404 on the batch path unless enterprise mode is on", async () => {
    const body = { inputs: { a: { ok: true } } };
    expect((await send(`${oss.url}/v1/batch/data/mcp/authz/allow`, "POST", body)).status).toBe(404);
    expect(oss.batchAttempts()).toBe(1);
    const res = await send(
      `${enterprise.url}/v1/batch/data/x`,
      "POST",
      { inputs: { a: { n: 1 }, b: { n: 2, c: { y: 2 } } }, common_input: { c: { x: 1 } } },
      { authorization: "Bearer t0k" },
    );
    expect(res.status).toBe(200);
    expect(res.json.responses.a).toEqual({ result: { c: { x: 1 }, n: 1 }, decision_id: "fake-1" });
    expect(res.json.responses.b.result).toEqual({ c: { x: 1, y: 2 }, n: 2 });
  });

  it("requires the bearer token when configured", async () => {
    expect((await send(`${enterprise.url}/v1/data/x`, "POST", { input: 1 })).status).toBe(401);
  });
});

describe("network helpers", () => {
  it("a closed port refuses and a black hole accepts without answering", async () => {
    await expect(send(await closedPortUrl(), "GET")).rejects.toMatchObject({
      code: "ECONNREFUSED",
    });
    const hole = await startBlackHole();
    const pending = request(hole.url, { signal: AbortSignal.timeout(100) });
    await expect(pending).rejects.toThrow();
    expect(hole.connections).toBe(1);
    await hole.close();
  });
});
