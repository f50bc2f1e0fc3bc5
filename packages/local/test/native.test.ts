import { firstApplicable } from "@mcp-pdp/core";
import { allowAll } from "@mcp-pdp/core/testing";
import { describe, expect, it } from "vitest";
import { type NativePolicy, type PolicyRule, localPdp } from "../src/index.js";
import { admin, alice, anonymous, call, guest, item, tool } from "./helpers.js";

function pdpOf(...rules: PolicyRule[]) {
  return localPdp({ policies: [{ rules }] });
}

describe("default deny", () => {
  it("denies with applicable: false when no rule matches", async () => {
    const pdp = pdpOf({
      name: "admins",
      effect: "allow",
      subjects: { roles: "admin" },
      actions: "*",
    });
    const d = await pdp.check(tool(alice, "read_note"));
    expect(d).toEqual({
      allow: false,
      source: "pdp",
      reason: "no rule matched",
      applicable: false,
    });
  });

  it("denies everything when no policy is loaded", () => {
    expect(localPdp().decide(tool(admin, "read_note")).allow).toBe(false);
  });

  it("lets firstApplicable fall through to the next PDP on a default deny only", async () => {
    const pdp = pdpOf({
      name: "no-delete",
      effect: "deny",
      resources: { tools: "delete_note" },
      actions: "*",
    });
    const chain = firstApplicable(pdp, allowAll());
    expect((await chain.check(tool(alice, "read_note"))).allow).toBe(true);
    expect((await chain.check(tool(alice, "delete_note"))).allow).toBe(false);
  });
});

describe("deny overrides allow", () => {
  const pdp = pdpOf(
    { name: "users-all-tools", effect: "allow", subjects: { roles: "user" }, actions: "*" },
    { name: "no-delete", effect: "deny", resources: { tools: "delete_note" }, actions: "*" },
  );

  it("denies when a deny rule matches, whatever the order of rules, and names it", () => {
    const d = pdp.decide(tool(alice, "delete_note", { id: "1" }));
    expect(d.allow).toBe(false);
    expect(d.reason).toBe('denied by rule "no-delete"');
    expect(d.applicable).toBeUndefined();
  });

  it("allows through the allow rule otherwise and names it", () => {
    const d = pdp.decide(tool(alice, "create_note", { title: "t", body: "b" }));
    expect(d).toEqual({ allow: true, source: "pdp", reason: 'allowed by rule "users-all-tools"' });
  });

  it("names the first matching rule in document order when several match", () => {
    const two = pdpOf(
      { name: "first", effect: "allow", subjects: { ids: "alice" }, actions: "*" },
      { name: "second", effect: "allow", resources: { types: "notes" }, actions: "read-note" },
    );
    expect(two.decide(tool(alice, "read_note")).reason).toBe('allowed by rule "first"');
  });
});

describe("subjects", () => {
  it("matches ids with globs", () => {
    const pdp = pdpOf({
      name: "a-star",
      effect: "allow",
      subjects: { ids: ["al*"] },
      actions: "*",
    });
    expect(pdp.decide(tool(alice, "read_note")).allow).toBe(true);
    expect(pdp.decide(tool(admin, "read_note")).allow).toBe(false);
  });

  it("matches when any role of the subject matches any role pattern", () => {
    const pdp = pdpOf({
      name: "ops",
      effect: "allow",
      subjects: { roles: ["ops-*", "user"] },
      actions: "*",
    });
    expect(
      pdp.decide(tool({ id: "x", authenticated: true, roles: ["a", "ops-eu"] }, "n")).allow,
    ).toBe(true);
    expect(pdp.decide(tool(alice, "n")).allow).toBe(true);
    expect(pdp.decide(tool(guest, "n")).allow).toBe(false);
    expect(pdp.decide(tool(anonymous, "n")).allow).toBe(false);
  });

  it("requires a verified identity with authenticated: true, and only unverified with false", () => {
    const pdp = pdpOf(
      {
        name: "verified",
        effect: "allow",
        subjects: { authenticated: true },
        resources: { tools: "read_note" },
        actions: "*",
      },
      {
        name: "unverified",
        effect: "allow",
        subjects: { authenticated: false },
        resources: { tools: "list_notes" },
        actions: "*",
      },
    );
    const unverifiedAdmin = { ...admin, authenticated: false };
    expect(pdp.decide(tool(alice, "read_note")).allow).toBe(true);
    expect(pdp.decide(tool(unverifiedAdmin, "read_note")).allow).toBe(false);
    expect(pdp.decide(tool(anonymous, "list_notes")).allow).toBe(true);
    expect(pdp.decide(tool(alice, "list_notes")).allow).toBe(false);
  });

  it("requires every given criterion (ids and roles together)", () => {
    const pdp = pdpOf({
      name: "alice-as-user",
      effect: "allow",
      subjects: { ids: "alice", roles: "admin" },
      actions: "*",
    });
    expect(pdp.decide(tool(alice, "read_note")).allow).toBe(false);
  });
});

describe("resources and actions", () => {
  it("matches resource types and actions, with globs", () => {
    const pdp = pdpOf({
      name: "lists",
      effect: "allow",
      resources: { types: "notes_*" },
      actions: "list",
    });
    expect(pdp.decide(call(alice, "tools/list")).allow).toBe(true);
    expect(pdp.decide(call(alice, "prompts/list")).allow).toBe(true);
    expect(pdp.decide(call(alice, "resources/read", { uri: "notes://index" })).allow).toBe(false);
    expect(pdp.decide(tool(alice, "list_notes")).allow).toBe(false);
  });

  it("matches normalised tool actions", () => {
    const pdp = pdpOf({
      name: "reads",
      effect: "allow",
      resources: { types: "notes" },
      actions: ["read-*", "search-notes"],
    });
    expect(pdp.decide(tool(alice, "read_note")).allow).toBe(true);
    expect(pdp.decide(tool(alice, "search_notes")).allow).toBe(true);
    expect(pdp.decide(tool(alice, "delete_note")).allow).toBe(false);
  });

  it("matches resource keys (resource URIs and prompt names); a request without a key never matches", () => {
    const pdp = pdpOf({
      name: "note-uris",
      effect: "allow",
      resources: { keys: ["notes://note/*", "summarize_*"] },
      actions: "*",
    });
    expect(pdp.decide(call(alice, "resources/read", { uri: "notes://note/7" })).allow).toBe(true);
    expect(pdp.decide(call(alice, "resources/read", { uri: "notes://index" })).allow).toBe(false);
    expect(pdp.decide(call(alice, "prompts/get", { name: "summarize_note" })).allow).toBe(true);
    expect(pdp.decide(call(alice, "tools/list")).allow).toBe(false);
  });

  it("matches tool names of tools/call only", () => {
    const pdp = pdpOf({
      name: "readers",
      effect: "allow",
      resources: { tools: ["read_*", "list_notes"] },
      actions: "*",
    });
    expect(pdp.decide(tool(alice, "read_note")).allow).toBe(true);
    expect(pdp.decide(tool(alice, "list_notes")).allow).toBe(true);
    expect(pdp.decide(tool(alice, "delete_note")).allow).toBe(false);
    // A prompt named like a tool is not a tool.
    expect(pdp.decide(call(alice, "prompts/get", { name: "read_note" })).allow).toBe(false);
  });

  it("applies one rule to listing an item and to calling it", () => {
    const pdp = pdpOf({
      name: "readers",
      effect: "allow",
      resources: { tools: "read_note" },
      actions: "*",
    });
    expect(pdp.decide(item(alice, "tools/list", { name: "read_note" })).allow).toBe(true);
    expect(pdp.decide(item(alice, "tools/list", { name: "delete_note" })).allow).toBe(false);
  });
});

describe("conditions", () => {
  it("require every condition of a rule to hold", () => {
    const pdp = pdpOf({
      name: "eng-seniors",
      effect: "allow",
      actions: "*",
      when: [
        { field: "subject.attributes.dept", op: "equals", value: "eng" },
        { field: "subject.attributes.level", op: "gte", value: 3 },
      ],
    });
    expect(pdp.decide(tool(alice, "read_note")).allow).toBe(true);
    const junior = { ...alice, attributes: { dept: "eng", level: 2 } };
    expect(pdp.decide(tool(junior, "read_note")).allow).toBe(false);
  });

  it("read tool arguments by nested dot path", () => {
    const pdp = pdpOf({
      name: "own-folder",
      effect: "allow",
      actions: "*",
      when: [{ field: "arguments.target.path", op: "starts_with", value: "/home/alice/" }],
    });
    expect(pdp.decide(tool(alice, "write", { target: { path: "/home/alice/a" } })).allow).toBe(
      true,
    );
    expect(pdp.decide(tool(alice, "write", { target: { path: "/etc/passwd" } })).allow).toBe(false);
    expect(pdp.decide(tool(alice, "write", {})).allow).toBe(false);
  });

  it("read resource attributes, operation fields and the action", () => {
    const pdp = pdpOf({
      name: "by-attributes",
      effect: "allow",
      actions: "*",
      when: [
        { field: "resource.attributes.tool_name", op: "equals", value: "read_note" },
        { field: "operation.name", op: "equals", value: "read_note" },
        { field: "operation.method", op: "equals", value: "tools/call" },
        { field: "action", op: "equals", value: "read-note" },
      ],
    });
    expect(pdp.decide(tool(alice, "read_note")).allow).toBe(true);
    expect(pdp.decide(tool(alice, "search_notes")).allow).toBe(false);
  });

  it("read operation.uri of a resource read", () => {
    const pdp = pdpOf({
      name: "uri",
      effect: "allow",
      actions: "read",
      when: [{ field: "operation.uri", op: "regex", value: "^notes://note/\\d+$" }],
    });
    expect(pdp.decide(call(alice, "resources/read", { uri: "notes://note/12" })).allow).toBe(true);
    expect(pdp.decide(call(alice, "resources/read", { uri: "notes://note/x" })).allow).toBe(false);
  });
});

describe("list phase", () => {
  const policy: NativePolicy = {
    rules: [
      {
        name: "read-own-notes",
        effect: "allow",
        resources: { tools: "read_note" },
        actions: "*",
        when: [
          { field: "subject.roles", op: "contains", value: "user" },
          { field: "arguments.id", op: "starts_with", value: "alice-" },
        ],
      },
      {
        name: "no-secret-ids",
        effect: "deny",
        resources: { tools: "read_note" },
        actions: "*",
        when: [{ field: "arguments.id", op: "ends_with", value: "-secret" }],
      },
      {
        name: "no-search-for-contractors",
        effect: "deny",
        resources: { tools: "search_notes" },
        actions: "*",
        when: [{ field: "subject.attributes.contractor", op: "equals", value: true }],
      },
      { name: "search", effect: "allow", resources: { tools: "search_notes" }, actions: "*" },
      { name: "never-delete", effect: "deny", resources: { tools: "delete_note" }, actions: "*" },
      {
        name: "delete-with-reason",
        effect: "allow",
        resources: { tools: "delete_note" },
        actions: "*",
        when: [{ field: "arguments.reason", op: "exists" }],
      },
    ],
  };
  const pdp = localPdp({ policies: [policy] });

  it("shows an item whose allow depends on arguments that could satisfy it", () => {
    const d = pdp.decide(item(alice, "tools/list", { name: "read_note" }));
    expect(d).toMatchObject({ allow: true, reason: 'allowed by rule "read-own-notes"' });
  });

  it("still checks the other conditions of that allow", () => {
    expect(pdp.decide(item(guest, "tools/list", { name: "read_note" })).allow).toBe(false);
  });

  it("decides the call itself on the arguments", () => {
    expect(pdp.decide(tool(alice, "read_note", { id: "alice-1" })).allow).toBe(true);
    expect(pdp.decide(tool(alice, "read_note", { id: "bob-1" })).allow).toBe(false);
    expect(pdp.decide(tool(alice, "read_note", { id: "alice-secret" })).reason).toBe(
      'denied by rule "no-secret-ids"',
    );
  });

  it("does not let a deny conditioned only on arguments hide the item", () => {
    expect(pdp.decide(item(alice, "tools/list", { name: "read_note" })).allow).toBe(true);
  });

  it("hides an item when a deny without argument conditions holds", () => {
    const contractor = { ...alice, attributes: { contractor: true } };
    expect(pdp.decide(item(contractor, "tools/list", { name: "search_notes" })).reason).toBe(
      'denied by rule "no-search-for-contractors"',
    );
    expect(pdp.decide(item(alice, "tools/list", { name: "search_notes" })).allow).toBe(true);
  });

  it("hides an item under an unconditional deny even when an allow could hold", () => {
    expect(pdp.decide(item(alice, "tools/list", { name: "delete_note" })).reason).toBe(
      'denied by rule "never-delete"',
    );
  });
});

describe("several documents", () => {
  it("decide together: a deny in one overrides an allow in another", () => {
    const pdp = localPdp({
      policies: [
        { rules: [{ name: "all", effect: "allow", actions: "*" }] },
        {
          rules: [
            { name: "no-guests", effect: "deny", subjects: { roles: "guest" }, actions: "*" },
          ],
        },
      ],
    });
    expect(pdp.decide(tool(alice, "read_note")).allow).toBe(true);
    expect(pdp.decide(tool(guest, "read_note")).reason).toBe('denied by rule "no-guests"');
  });
});

describe("explain", () => {
  it("returns the decision, the deciding rule and the rules considered with why they missed", () => {
    const pdp = pdpOf(
      {
        name: "users-read",
        effect: "allow",
        subjects: { roles: "user" },
        resources: { types: "notes" },
        actions: "read-note",
      },
      { name: "admins", effect: "allow", subjects: { roles: "admin" }, actions: "*" },
      {
        name: "frozen",
        effect: "deny",
        resources: { types: "notes" },
        actions: "*",
        when: [{ field: "context.frozen", op: "equals", value: true }],
      },
    );
    const e = pdp.explain(tool(alice, "read_note"));
    expect(e.decision.allow).toBe(true);
    expect(e.rule).toBe("users-read");
    expect(e.considered).toEqual([
      { rule: "users-read", effect: "allow", source: "policies[0]", matched: true },
      {
        rule: "admins",
        effect: "allow",
        source: "policies[0]",
        matched: false,
        because: "no subject role in subjects.roles",
      },
      {
        rule: "frozen",
        effect: "deny",
        source: "policies[0]",
        matched: false,
        because: "condition failed: context.frozen equals true",
      },
    ]);
  });

  it("has no deciding rule for a default deny", () => {
    const e = pdpOf({
      name: "admins",
      effect: "allow",
      subjects: { roles: "admin" },
      actions: "*",
    }).explain(tool(alice, "read_note"));
    expect(e.rule).toBeUndefined();
    expect(e.decision.applicable).toBe(false);
  });

  it("considers only the rules indexed for the request's type and action", () => {
    const many: PolicyRule[] = [];
    for (let i = 0; i < 500; i++) {
      many.push({
        name: `other-${i}`,
        effect: "allow",
        resources: { types: `server${i}` },
        actions: "*",
      });
      many.push({
        name: `act-${i}`,
        effect: "allow",
        resources: { types: "notes" },
        actions: `tool-${i}`,
      });
    }
    many.push({
      name: "target",
      effect: "allow",
      resources: { types: "notes" },
      actions: "read-note",
    });
    many.push({ name: "any-list", effect: "allow", actions: "list" });
    many.push({ name: "wild", effect: "deny", resources: { types: "n*" }, actions: "delete-*" });
    const pdp = pdpOf(...many);
    // Rules with wildcard types and actions form the one small list every decision scans.
    expect(pdp.explain(tool(alice, "read_note")).considered.map((t) => t.rule)).toEqual([
      "target",
      "wild",
    ]);
    expect(pdp.explain(tool(alice, "delete_note")).considered.map((t) => t.rule)).toEqual(["wild"]);
    expect(pdp.explain(call(alice, "tools/list")).considered.map((t) => t.rule)).toEqual([
      "any-list",
      "wild",
    ]);
  });
});

describe("check and checkMany", () => {
  const pdp = pdpOf({ name: "users", effect: "allow", subjects: { roles: "user" }, actions: "*" });

  it("check resolves to the same decision as decide", async () => {
    const r = tool(alice, "read_note");
    await expect(pdp.check(r)).resolves.toEqual(pdp.decide(r));
  });

  it("checkMany answers in order", async () => {
    const ds = await pdp.checkMany([tool(alice, "a"), tool(guest, "a"), tool(alice, "b")]);
    expect(ds.map((d) => d.allow)).toEqual([true, false, true]);
  });

  it("answers an already aborted check with an error deny", async () => {
    const signal = AbortSignal.abort();
    const d = await pdp.check(tool(alice, "a"), { signal });
    expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_ABORTED" });
    const ds = await pdp.checkMany([tool(alice, "a")], { signal });
    expect(ds[0]).toMatchObject({ allow: false, source: "error" });
  });

  it("turns a malformed request into an error deny instead of throwing", async () => {
    const bad = { action: "x" } as never;
    const d = await pdp.check(bad);
    expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_ERROR" });
  });
});
