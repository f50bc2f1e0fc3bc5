import { ConfigError, mapRequest, resolveMapping } from "@mcp-pdp/core";
import { describe, expect, it } from "vitest";
import { resolveCerbosMapping, toCerbos } from "../src/index.js";
import { admin, call, listed, user } from "./helpers.js";

const component = resolveCerbosMapping();

describe("the component scheme", () => {
  it("sends a tool call as kind mcp_tool, the tool name as id and action call", () => {
    const input = toCerbos(
      call(user(), "tools/call", { name: "read_note", arguments: { id: "7", deep: { a: 1 } } }),
      component,
    );
    expect(input.action).toBe("call");
    expect(input.entry.actions).toEqual(["call"]);
    expect(input.entry.resource.kind).toBe("mcp_tool");
    expect(input.entry.resource.id).toBe("read_note");
    expect(input.entry.resource.attr).toMatchObject({
      tool_name: "read_note",
      mcp_method: "tools/call",
      arg_id: "7",
      arg_deep_a: 1,
      phase: "call",
      server: "demo",
      component: "tool",
      name: "read_note",
    });
  });

  it("sends a listed tool with the same kind, id and action, phase list and no arguments", () => {
    const input = toCerbos(listed(user(), "tools/list", { name: "read_note" }), component);
    expect(input.entry.resource.kind).toBe("mcp_tool");
    expect(input.entry.resource.id).toBe("read_note");
    expect(input.action).toBe("call");
    expect(input.entry.resource.attr.phase).toBe("list");
    expect(Object.keys(input.entry.resource.attr).some((k) => k.startsWith("arg_"))).toBe(false);
  });

  it("sends resource reads and subscriptions with the URI as id and the method's verb", () => {
    const read = toCerbos(call(user(), "resources/read", { uri: "notes://index" }), component);
    expect(read.entry.resource).toMatchObject({ kind: "mcp_resource", id: "notes://index" });
    expect(read.action).toBe("read");
    const sub = toCerbos(call(user(), "resources/subscribe", { uri: "notes://index" }), component);
    expect(sub.action).toBe("subscribe");
    const unsub = toCerbos(
      call(user(), "resources/unsubscribe", { uri: "notes://index" }),
      component,
    );
    expect(unsub.action).toBe("unsubscribe");
  });

  it("sends a listed template as a resource read of the URI template", () => {
    const input = toCerbos(
      listed(user(), "resources/templates/list", { uriTemplate: "notes://note/{id}" }),
      component,
    );
    expect(input.entry.resource).toMatchObject({ kind: "mcp_resource", id: "notes://note/{id}" });
    expect(input.action).toBe("read");
    expect(input.entry.resource.attr).toMatchObject({
      phase: "list",
      component: "resource_template",
    });
  });

  it("sends prompts as kind mcp_prompt with action get, when called and when listed", () => {
    const get = toCerbos(
      call(user(), "prompts/get", { name: "summarize", arguments: { lang: "en" } }),
      component,
    );
    expect(get.entry.resource).toMatchObject({ kind: "mcp_prompt", id: "summarize" });
    expect(get.action).toBe("get");
    expect(get.entry.resource.attr.arg_lang).toBe("en");
    const item = toCerbos(listed(user(), "prompts/list", { name: "summarize" }), component);
    expect(item.entry.resource).toMatchObject({ kind: "mcp_prompt", id: "summarize" });
    expect(item.action).toBe("get");
  });

  it("sends the coarse list checks as plural kinds with action list and the resource type as id", () => {
    const cases = [
      ["tools/list", "mcp_tools", "demo_tools"],
      ["resources/list", "mcp_resources", "demo_resources"],
      ["resources/templates/list", "mcp_resource_templates", "demo_resource_templates"],
      ["prompts/list", "mcp_prompts", "demo_prompts"],
    ] as const;
    for (const [method, kind, id] of cases) {
      const input = toCerbos(call(user(), method), component);
      expect(input.entry.resource.kind).toBe(kind);
      expect(input.entry.resource.id).toBe(id);
      expect(input.action).toBe("list");
    }
  });

  it("sends other methods as kind mcp_<head> with the rest of the method as action", () => {
    const complete = toCerbos(
      call(user(), "completion/complete", { ref: { type: "ref/other" } }),
      component,
    );
    expect(complete.entry.resource.kind).toBe("mcp_completion");
    expect(complete.action).toBe("complete");
    // Completing a prompt's arguments is governed by that prompt's policy.
    const ofPrompt = toCerbos(
      call(user(), "completion/complete", { ref: { type: "ref/prompt", name: "p" } }),
      component,
    );
    expect(ofPrompt.entry.resource.kind).toBe("mcp_prompt");
    expect(ofPrompt.entry.resource.id).toBe("p");
    expect(ofPrompt.action).toBe("complete");
    expect(ofPrompt.entry.resource.attr.ref_name).toBe("p");
    const logging = toCerbos(call(user(), "logging/setLevel", { level: "info" }), component);
    expect(logging.entry.resource.kind).toBe("mcp_logging");
    expect(logging.action).toBe("setLevel");
    const nested = toCerbos(call(user(), "tasks/result/get"), component);
    expect(nested.entry.resource.kind).toBe("mcp_tasks");
    expect(nested.action).toBe("result_get");
  });

  it("puts the server name in every kind with prefixKindWithServer", () => {
    const mapping = resolveCerbosMapping({ prefixKindWithServer: true });
    expect(toCerbos(call(user(), "tools/call", { name: "x" }), mapping).entry.resource.kind).toBe(
      "mcp_demo_tool",
    );
    expect(toCerbos(call(user(), "tools/list"), mapping).entry.resource.kind).toBe(
      "mcp_demo_tools",
    );
  });

  it("uses kindPrefix and lets a kind function have the last word", () => {
    const bare = resolveCerbosMapping({ kindPrefix: "" });
    expect(toCerbos(call(user(), "tools/call", { name: "x" }), bare).entry.resource.kind).toBe(
      "tool",
    );
    const custom = resolveCerbosMapping({
      kind: (request, kind) => `${request.operation.server}:${kind}`,
    });
    expect(toCerbos(call(user(), "tools/call", { name: "x" }), custom).entry.resource.kind).toBe(
      "demo:mcp_tool",
    );
  });

  it("falls back to the resource type as id when a tool has no name", () => {
    const input = toCerbos(call(user(), "tools/call", {}), component);
    expect(input.entry.resource.id).toBe("demo");
  });

  it("sends policyVersion and a scope chosen per request", () => {
    const mapping = resolveCerbosMapping({
      policyVersion: "v2",
      scope: (request) => request.subject.tenant,
    });
    const input = toCerbos(call(user({ tenant: "acme" }), "tools/call", { name: "x" }), mapping);
    expect(input.entry.resource.policyVersion).toBe("v2");
    expect(input.entry.resource.scope).toBe("acme");
    const none = toCerbos(call(user(), "tools/call", { name: "x" }), mapping);
    expect(none.entry.resource.scope).toBeUndefined();
    const fixed = resolveCerbosMapping({ scope: "eu" });
    expect(toCerbos(call(user(), "tools/call", { name: "x" }), fixed).entry.resource.scope).toBe(
      "eu",
    );
  });

  it("passes the component's annotations and tags to the policy", () => {
    const request = call(user(), "tools/call", { name: "x" });
    const input = toCerbos(
      {
        ...request,
        operation: {
          ...request.operation,
          metadata: { annotations: { readOnlyHint: true }, tags: ["read"] },
        },
      },
      component,
    );
    expect(input.entry.resource.attr.annotations).toEqual({ readOnlyHint: true });
    expect(input.entry.resource.attr.tags).toEqual(["read"]);
  });

  it("keeps an argument from posing as the phase or the method", () => {
    const mapping = resolveMapping({ serverName: "demo", argumentPrefix: "" });
    const mapped = mapRequest(
      "tools/call",
      { name: "x", arguments: { phase: "list", mcp_method: "tools/list", server: "evil" } },
      mapping,
    );
    const input = toCerbos({ subject: user(), ...mapped }, component);
    expect(input.entry.resource.attr.phase).toBe("call");
    expect(input.entry.resource.attr.mcp_method).toBe("tools/call");
    expect(input.entry.resource.attr.server).toBe("demo");
  });
});

describe("the neutral scheme", () => {
  it("sends the core mapping's resource type and action unchanged", () => {
    const mapping = resolveCerbosMapping({ scheme: "neutral" });
    const tool = toCerbos(call(user(), "tools/call", { name: "read_doc" }), mapping);
    expect(tool.entry.resource).toMatchObject({ kind: "demo", id: "read_doc" });
    expect(tool.action).toBe("read-doc");
    const read = toCerbos(call(user(), "resources/read", { uri: "docs://a" }), mapping);
    expect(read.entry.resource).toMatchObject({ kind: "demo_resources", id: "docs://a" });
    expect(read.action).toBe("read");
    const list = toCerbos(call(user(), "tools/list"), mapping);
    expect(list.entry.resource).toMatchObject({ kind: "demo_tools", id: "demo_tools" });
    expect(list.action).toBe("list");
  });
});

describe("the principal", () => {
  it("carries id, roles and the subject's attributes with authenticated, tenant and scopes", () => {
    const input = toCerbos(
      call(
        user({
          tenant: "acme",
          scopes: ["notes:read"],
          attributes: { department: "eng", authenticated: true, tenant: "other" },
          authenticated: false,
        }),
        "tools/call",
        { name: "x" },
      ),
      component,
    );
    expect(input.principal).toEqual({
      id: "uma",
      roles: ["user"],
      attr: { department: "eng", authenticated: false, tenant: "acme", scopes: ["notes:read"] },
    });
  });

  it("sends the role anonymous for a subject without roles, since Cerbos requires one", () => {
    const none = toCerbos(
      call({ id: "x", authenticated: false }, "tools/call", { name: "t" }),
      component,
    );
    expect(none.principal.roles).toEqual(["anonymous"]);
    const blank = toCerbos(
      call({ id: "x", authenticated: false, roles: ["", ""] }, "tools/call", { name: "t" }),
      component,
    );
    expect(blank.principal.roles).toEqual(["anonymous"]);
    const custom = toCerbos(
      call({ id: "x", authenticated: false }, "tools/call", { name: "t" }),
      resolveCerbosMapping({ defaultRoles: ["guest"] }),
    );
    expect(custom.principal.roles).toEqual(["guest"]);
  });

  it("sends each role once, since Cerbos rejects repeated roles", () => {
    const input = toCerbos(
      call({ ...admin, roles: ["admin", "user", "admin"] }, "tools/call", { name: "t" }),
      component,
    );
    expect(input.principal.roles).toEqual(["admin", "user"]);
  });

  it("refuses a subject with an empty id instead of sending it", () => {
    expect(() =>
      toCerbos(call({ id: "", authenticated: false }, "tools/call", { name: "t" }), component),
    ).toThrow(ConfigError);
  });
});

describe("resolveCerbosMapping", () => {
  it("rejects an unknown scheme and empty default roles with the option's name", () => {
    expect(() => resolveCerbosMapping({ scheme: "other" as "neutral" })).toThrow(/cerbos\.scheme/);
    expect(() => resolveCerbosMapping({ defaultRoles: [] })).toThrow(/cerbos\.defaultRoles/);
    expect(() => resolveCerbosMapping({ defaultRoles: [""] })).toThrow(/cerbos\.defaultRoles/);
  });
});
