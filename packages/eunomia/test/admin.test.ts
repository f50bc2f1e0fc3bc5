import { PdpError, PolicyError } from "@mcp-pdp/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type EunomiaFake, startEunomiaFake } from "../../../test/fakes/eunomia.js";
import {
  type EunomiaAdmin,
  type EunomiaPolicy,
  eunomiaAdmin,
  eunomiaAdminFromEnv,
} from "../src/index.js";

const ADMIN_KEY = "way-admin-key-31415926";
let fake: EunomiaFake;
const admins: EunomiaAdmin[] = [];
function admin(apiKey: string | null = ADMIN_KEY) {
  const a = eunomiaAdmin({ endpoint: fake.url, ...(apiKey !== null ? { apiKey } : {}) });
  admins.push(a);
  return a;
}

const policy: EunomiaPolicy = {
  version: "1.0",
  name: "default",
  description: "everyone may list and execute",
  rules: [
    {
      name: "allow-all",
      effect: "allow",
      principal_conditions: [],
      resource_conditions: [],
      actions: ["list", "execute"],
    },
  ],
  default_effect: "deny",
};

beforeAll(async () => {
  fake = await startEunomiaFake({ adminApiKey: ADMIN_KEY });
});
afterEach(async () => {
  await Promise.all(admins.splice(0).map((a) => a.close()));
  fake.policies.clear();
  fake.reset();
});
afterAll(() => fake.close());

describe("eunomiaAdmin", () => {
  it("creates, lists, gets and deletes policies with the WAY-API-KEY header", async () => {
    const a = admin();
    expect(await a.listPolicies()).toEqual([]);
    expect(await a.createPolicy(policy)).toEqual(policy);
    expect(await a.listPolicies()).toEqual([policy]);
    expect(await a.getPolicy("default")).toEqual(policy);
    expect(await a.deletePolicy("default")).toBe(true);
    expect(await a.deletePolicy("default")).toBe(false);
    expect(await a.getPolicy("default")).toBeUndefined();
    expect(fake.requests.every((r) => r.headers["way-api-key"] === ADMIN_KEY)).toBe(true);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /admin/policies",
      "POST /admin/policies",
      "GET /admin/policies",
      "GET /admin/policies/default",
      "DELETE /admin/policies/default",
      "DELETE /admin/policies/default",
      "GET /admin/policies/default",
    ]);
  });

  it("creates a simple policy from a check", async () => {
    const created = await admin().createSimplePolicy("only-claude", {
      principal: { uri: "agent:claude", attributes: { agent_id: "claude" } },
      resource: { uri: "mcp:tools:add", attributes: { name: "add" } },
      action: "execute",
    });
    expect(created.name).toBe("only-claude");
    expect(fake.requests[0]?.path).toBe("/admin/policies/simple?name=only-claude");
    expect(fake.policies.has("only-claude")).toBe(true);
  });

  it("escapes policy names in paths", async () => {
    await admin().getPolicy("a/b c");
    expect(fake.requests[0]?.path).toBe("/admin/policies/a%2Fb%20c");
    await expect(admin().getPolicy("")).rejects.toThrow(PolicyError);
  });

  it("throws a PolicyError with the server's reason for a rejected policy", async () => {
    const bad = {
      ...policy,
      rules: [{ ...policy.rules[0]!, priority: 1 }],
    } as unknown as EunomiaPolicy;
    await expect(admin().createPolicy(bad)).rejects.toThrow(/unknown field rules.priority/);
    await expect(admin().createPolicy(bad)).rejects.toBeInstanceOf(PolicyError);
  });

  it("throws PDP_UNAUTHORIZED on a wrong or missing key, without the key in the message", async () => {
    const wrong = "way-WRONG-key-27182818";
    const error = await admin(wrong)
      .listPolicies()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PdpError);
    expect((error as PdpError).code).toBe("PDP_UNAUTHORIZED");
    expect((error as PdpError).message).toMatch(/WAY_API_KEY/);
    expect((error as PdpError).message).not.toContain(wrong);
    await expect(admin(null).listPolicies()).rejects.toThrow(/401/);
  });

  it("reads EUNOMIA_ENDPOINT and WAY_API_KEY", async () => {
    const a = eunomiaAdminFromEnv({}, { EUNOMIA_ENDPOINT: fake.url, WAY_API_KEY: ADMIN_KEY });
    admins.push(a);
    expect(await a.listPolicies()).toEqual([]);
    expect(() => eunomiaAdminFromEnv({}, { EUNOMIA_ENDPOINT: "nope" })).toThrow(/EUNOMIA_ENDPOINT/);
  });
});
