/**
 * Regression: an argument cut at `maxStringLength` must not be decided on what is left of it. A
 * path `allowed/<padding>/../secret` cut before its `..` passed a "no `..`" deny rule, and the
 * filesystem server behind the proxy returned the secret.
 */
import { Authorizer, type MappingOptions, type Subject, withCache } from "@mcp-pdp/core";
import { describe, expect, it } from "vitest";
import { type PolicyDocument, localPdp } from "../src/index.js";

const alice: Subject = { id: "alice", authenticated: true, roles: ["user"] };
const longPath = `allowed/${"a".repeat(1100)}/../secret`;

/** Native: allow read_file, deny any flattened path with `..` in it. */
const native: PolicyDocument = {
  version: 1,
  rules: [
    {
      name: "read-files",
      effect: "allow",
      resources: { tools: ["read_file"] },
      actions: "*",
    },
    {
      name: "no-dot-dot",
      effect: "deny",
      resources: { tools: ["read_file"] },
      actions: "*",
      when: [{ field: "resource.attributes.arg_path", op: "contains", value: ".." }],
    },
  ],
};

/** Eunomia: allow execute only when the whole arguments' path holds no `..`. */
const eunomia: PolicyDocument = {
  name: "fs",
  rules: [
    {
      name: "read-without-dot-dot",
      effect: "allow",
      resource_conditions: [
        { path: "attributes.name", operator: "equals", value: "read_file" },
        { path: "attributes.arguments.path", operator: "not_contains", value: ".." },
      ],
      actions: ["execute"],
    },
  ],
  default_effect: "deny",
};

async function decide(policy: PolicyDocument, path: string, mapping: MappingOptions = {}) {
  const authorizer = new Authorizer({
    pdp: localPdp({ policies: [policy] }),
    identity: () => alice,
    audit: false,
    mapping,
  });
  const outcome = await authorizer.authorize(
    "tools/call",
    { name: "read_file", arguments: { path } },
    {},
  );
  if (outcome.kind !== "decided") throw new Error("expected a decision");
  return outcome.decision;
}

describe("a path with `..` past the string limit", () => {
  it("is decided on whole when short: the rules work", async () => {
    expect((await decide(native, "allowed/a.txt")).allow).toBe(true);
    expect((await decide(native, "allowed/../secret")).allow).toBe(false);
    expect((await decide(eunomia, "allowed/a.txt")).allow).toBe(true);
    expect((await decide(eunomia, "allowed/../secret")).allow).toBe(false);
  });

  it.each([
    ["a native deny rule on arg_path", native, {}],
    ["an Eunomia not_contains rule", eunomia, {}],
    ["an Eunomia rule, arguments not flattened", eunomia, { flattenArguments: false }],
    ["a native rule, arguments not flattened", native, { flattenArguments: false }],
  ] as const)("is denied as REQUEST_INVALID under %s", async (_what, policy, mapping) => {
    const decision = await decide(policy, longPath, mapping);
    expect(decision).toMatchObject({
      allow: false,
      source: "error",
      errorCode: "REQUEST_INVALID",
    });
    expect(decision.reason).toMatch(/argumentLimits/);
  });

  it.each([
    ["flattened", {}],
    ["not flattened", { flattenArguments: false }],
  ] as const)(
    "is judged whole by an Eunomia rule when raised limits accept it (%s)",
    async (_what, options) => {
      const mapping = { ...options, argumentLimits: { maxStringLength: 65_536 } };
      // Accepted by the mapping, so the rule must see the `..` past core's default cut (1024).
      expect(await decide(eunomia, longPath, mapping)).toMatchObject({
        allow: false,
        source: "pdp",
      });
      expect((await decide(eunomia, `allowed/${"a".repeat(1100)}/b`, mapping)).allow).toBe(true);
    },
  );

  it("is judged whole by an Eunomia rule behind a cache when raised limits accept it", async () => {
    const authorizer = new Authorizer({
      pdp: withCache()(localPdp({ policies: [eunomia] })),
      identity: () => alice,
      audit: false,
      mapping: { argumentLimits: { maxStringLength: 65_536 } },
    });
    for (let round = 0; round < 2; round++) {
      const outcome = await authorizer.authorize(
        "tools/call",
        { name: "read_file", arguments: { path: longPath } },
        {},
      );
      if (outcome.kind !== "decided") throw new Error("expected a decision");
      expect(outcome.decision.allow).toBe(false);
    }
  });

  it("passes the cut-down rule with argumentOverflow truncate, as before (hence the default)", async () => {
    const decision = await decide(eunomia, longPath, { argumentOverflow: "truncate" });
    expect(decision.allow).toBe(true);
  });
});
