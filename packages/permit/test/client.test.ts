import type { AuthorizationRequest } from "@mcp-pdp/core";
import { Permit } from "permitio";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type PermitFake, startPermitFake } from "../../../test/fakes/permit.js";
import { startBlackHole } from "../../../test/fakes/shared.js";
import { type PermitClientLike, permitClientPdp } from "../src/index.js";

const KEY = "permit_sdk_key_55555555";
let fake: PermitFake;

beforeAll(async () => {
  fake = await startPermitFake({ apiKey: KEY });
});
afterEach(() => {
  fake.reset();
  fake.setPolicy(() => false);
});
afterAll(() => fake.close());

function sdk(options: { token?: string; pdp?: string; throwOnError?: boolean } = {}) {
  return new Permit({
    token: options.token ?? KEY,
    pdp: options.pdp ?? fake.url,
    throwOnError: options.throwOnError ?? true,
    log: { level: "silent" },
  });
}

function request(tool: string, subject = "alice", authenticated = true): AuthorizationRequest {
  return {
    subject: { id: subject, authenticated, roles: ["user"] },
    operation: { method: "tools/call", phase: "call", server: "notes", name: tool },
    resource: { type: "notes", attributes: { tool_name: tool } },
    action: tool,
  };
}

describe("permitClientPdp with the permitio SDK", () => {
  it("accepts a real Permit client", () => {
    const client: PermitClientLike = sdk();
    expect(permitClientPdp(client).name).toBe("permit-sdk");
  });

  it("checks through the SDK's check and bulkCheck", async () => {
    fake.setPolicy((q) => q.action.startsWith("read") && q.user.key === "alice");
    const pdp = permitClientPdp(sdk());
    expect(await pdp.check(request("read_note"))).toEqual({ allow: true, source: "pdp" });
    expect(await pdp.check(request("delete_note"))).toEqual({ allow: false, source: "pdp" });
    const many = await pdp.checkMany!([
      request("read_a"),
      request("write"),
      request("read_b", "bob"),
    ]);
    expect(many.map((d) => d.allow)).toEqual([true, false, false]);
    expect(fake.bulkSizes()).toEqual([3]);
    expect(fake.queries()[0]).toMatchObject({
      user: { key: "alice", attributes: { authenticated: true, roles: ["user"] } },
      resource: { type: "notes", tenant: "default" },
    });
  });

  it("denies every item when bulkCheck answers [] on error (throwOnError: false)", async () => {
    fake.setPolicy(() => true);
    fake.errorStatus(500);
    const pdp = permitClientPdp(sdk({ throwOnError: false }));
    const many = await pdp.checkMany!([request("a"), request("b")]);
    expect(many).toHaveLength(2);
    for (const d of many) expect(d).toMatchObject({ allow: false, errorCode: "PDP_BAD_RESPONSE" });
  });

  it("denies every item when bulkCheck answers the wrong number of decisions", async () => {
    fake.setPolicy(() => true);
    fake.wrongBulkLength(true);
    const many = await permitClientPdp(sdk()).checkMany!([request("a"), request("b")]);
    for (const d of many) expect(d).toMatchObject({ allow: false, source: "error" });
  });

  it("turns SDK errors into error denies without the key", async () => {
    const wrong = "permit_sdk_WRONG_key_0000";
    const d = await permitClientPdp(sdk({ token: wrong })).check(request("a"));
    expect(d).toMatchObject({ allow: false, source: "error" });
    expect(JSON.stringify(d)).not.toContain(wrong);
  });

  it("times out and honours aborts even though the SDK call cannot be cancelled", async () => {
    const hole = await startBlackHole();
    try {
      const pdp = permitClientPdp(sdk({ pdp: hole.url }), { timeoutMs: 100 });
      expect(await pdp.check(request("a"))).toMatchObject({ errorCode: "PDP_TIMEOUT" });
      const slow = permitClientPdp(sdk({ pdp: hole.url }), { timeoutMs: 10_000 });
      const controller = new AbortController();
      const pending = slow.checkMany!([request("a")], { signal: controller.signal });
      controller.abort();
      expect(await pending).toEqual([expect.objectContaining({ errorCode: "PDP_ABORTED" })]);
    } finally {
      await hole.close();
    }
  });

  it("denies with an error when a custom client answers something other than a boolean", async () => {
    const odd = {
      check: () => Promise.resolve("yes" as unknown as boolean),
      bulkCheck: () => Promise.resolve([true, "no" as unknown as boolean]),
    };
    const pdp = permitClientPdp(odd);
    expect(await pdp.check(request("a"))).toMatchObject({
      allow: false,
      errorCode: "PDP_BAD_RESPONSE",
    });
    const many = await pdp.checkMany!([request("a"), request("b")]);
    expect(many.every((d) => !d.allow && d.errorCode === "PDP_BAD_RESPONSE")).toBe(true);
  });

  it("denies unauthenticated callers without asking the SDK, unless told otherwise", async () => {
    fake.setPolicy(() => true);
    const pdp = permitClientPdp(sdk());
    expect(await pdp.check(request("a", "anonymous", false))).toEqual({
      allow: false,
      source: "pdp",
      reason: "caller is not authenticated",
    });
    const many = await pdp.checkMany!([request("a"), request("b", "anonymous", false)]);
    expect(many.map((d) => d.allow)).toEqual([true, false]);
    expect(fake.queries().map((q) => q.user.key)).toEqual(["alice"]);
    const open = permitClientPdp(sdk(), { denyUnauthenticated: false });
    expect((await open.check(request("a", "anonymous", false))).allow).toBe(true);
    expect(fake.queries().at(-1)?.user.attributes).toMatchObject({ authenticated: false });
  });
});
