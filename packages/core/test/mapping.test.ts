import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/errors.js";
import {
  DEFAULT_BYPASS,
  DEFAULT_SERVER_NAME,
  LIST_METHODS,
  type ListMethod,
  globToRegExp,
  isListMethod,
  mapListItem,
  mapRequest,
  resolveMapping,
  toolAction,
} from "../src/mapping.js";
import { isSealed } from "../src/sealed.js";

const defaults = resolveMapping();

describe("default mapping, method by method", () => {
  it("maps tools/list to {server}_tools with action list and the method attribute", () => {
    const m = mapRequest("tools/list", {}, defaults);
    expect(m.resource).toEqual({
      type: "mcp_server_tools",
      attributes: { mcp_method: "tools/list" },
    });
    expect(m.action).toBe("list");
    expect(m.operation).toEqual({ method: "tools/list", phase: "call", server: "mcp_server" });
  });

  it("maps resources/list to {server}_resources with action list", () => {
    const m = mapRequest("resources/list", { cursor: "abc" }, defaults);
    expect(m.resource.type).toBe("mcp_server_resources");
    expect(m.resource.key).toBeUndefined();
    expect(m.action).toBe("list");
  });

  it("maps resources/templates/list to {server}_resource_templates with action list", () => {
    const m = mapRequest("resources/templates/list", {}, defaults);
    expect(m.resource.type).toBe("mcp_server_resource_templates");
    expect(m.action).toBe("list");
  });

  it("maps prompts/list to {server}_prompts with action list", () => {
    const m = mapRequest("prompts/list", undefined, defaults);
    expect(m.resource.type).toBe("mcp_server_prompts");
    expect(m.action).toBe("list");
  });

  it("maps resources/read to {server}_resources keyed by the uri, action read, with resource_uri", () => {
    const m = mapRequest("resources/read", { uri: "file:///etc/hosts" }, defaults);
    expect(m.resource).toEqual({
      type: "mcp_server_resources",
      key: "file:///etc/hosts",
      attributes: { resource_uri: "file:///etc/hosts", mcp_method: "resources/read" },
    });
    expect(m.action).toBe("read");
    expect(m.operation).toMatchObject({
      method: "resources/read",
      phase: "call",
      component: "resource",
      uri: "file:///etc/hosts",
      server: "mcp_server",
    });
  });

  it.each([
    ["resources/subscribe", "subscribe"],
    ["resources/unsubscribe", "unsubscribe"],
  ])("maps %s to {server}_resources keyed by the uri with the verb as action", (method, verb) => {
    const m = mapRequest(method, { uri: "mem://a" }, defaults);
    expect(m.resource.type).toBe("mcp_server_resources");
    expect(m.resource.key).toBe("mem://a");
    expect(m.resource.attributes.resource_uri).toBe("mem://a");
    expect(m.action).toBe(verb);
  });

  it("maps prompts/get to {server}_prompts keyed by name, action get, with prompt_name and flattened arguments", () => {
    const m = mapRequest(
      "prompts/get",
      { name: "summarize", arguments: { language: "fr", style: "short" } },
      defaults,
    );
    expect(m.resource.type).toBe("mcp_server_prompts");
    expect(m.resource.key).toBe("summarize");
    expect(m.action).toBe("get");
    expect({ ...m.resource.attributes }).toEqual({
      prompt_name: "summarize",
      mcp_method: "prompts/get",
      arg_language: "fr",
      arg_style: "short",
    });
    expect(m.operation).toMatchObject({
      component: "prompt",
      name: "summarize",
      arguments: { language: "fr", style: "short" },
    });
  });

  it("maps tools/call to resource {server}, action the normalised tool name, with tool_name, mcp_method and arg_*", () => {
    const m = mapRequest(
      "tools/call",
      { name: "conditional_greet", arguments: { name: "Ada", times: 2, loud: false, note: null } },
      defaults,
    );
    expect(m.resource.type).toBe("mcp_server");
    expect(m.resource.key).toBeUndefined();
    expect(m.action).toBe("conditional-greet");
    expect({ ...m.resource.attributes }).toEqual({
      tool_name: "conditional_greet",
      mcp_method: "tools/call",
      arg_name: "Ada",
      arg_times: 2,
      arg_loud: false,
      arg_note: null,
    });
    expect(m.operation).toEqual({
      method: "tools/call",
      phase: "call",
      component: "tool",
      name: "conditional_greet",
      server: "mcp_server",
      arguments: { name: "Ada", times: 2, loud: false, note: null },
      argumentLimits: defaults.argumentLimits,
    });
  });

  it("maps tools/call without arguments to tool_name and mcp_method only", () => {
    const m = mapRequest("tools/call", { name: "ping" }, defaults);
    expect(m.resource.attributes).toEqual({ tool_name: "ping", mcp_method: "tools/call" });
    expect(m.operation.arguments).toBeUndefined();
    expect(m.operation).not.toHaveProperty("argumentLimits");
  });

  it("gives operations with arguments the mapping's resolved argumentLimits, sealed and shared", () => {
    const raised = resolveMapping({ argumentLimits: { maxStringLength: 65_536 } });
    expect(raised.argumentLimits).toEqual({
      maxDepth: 6,
      maxKeys: 256,
      maxStringLength: 65_536,
      maxArrayItems: 64,
      maxKeyLength: 256,
    });
    expect(isSealed(raised.argumentLimits)).toBe(true);
    for (const method of ["tools/call", "prompts/get"]) {
      const m = mapRequest(method, { name: "p", arguments: { a: "b" } }, raised);
      expect(m.operation.argumentLimits, method).toBe(raised.argumentLimits);
      const bare = mapRequest(method, { name: "p" }, raised);
      expect(bare.operation, method).not.toHaveProperty("argumentLimits");
    }
  });

  it("maps completion/complete to {server}_completion with action complete and the ref", () => {
    const m = mapRequest(
      "completion/complete",
      { ref: { type: "ref/prompt", name: "summarize" }, argument: { name: "x", value: "y" } },
      defaults,
    );
    expect(m.resource.type).toBe("mcp_server_completion");
    expect(m.action).toBe("complete");
    expect(m.resource.attributes).toEqual({
      mcp_method: "completion/complete",
      ref_type: "ref/prompt",
      ref_name: "summarize",
    });
  });

  it("records the uri of a resource reference in a completion", () => {
    const m = mapRequest(
      "completion/complete",
      { ref: { type: "ref/resource", uri: "file:///{path}" } },
      defaults,
    );
    expect(m.resource.attributes).toMatchObject({
      ref_type: "ref/resource",
      ref_uri: "file:///{path}",
    });
  });

  it("maps logging/setLevel to {server}_logging with action setLevel", () => {
    const m = mapRequest("logging/setLevel", { level: "debug" }, defaults);
    expect(m.resource.type).toBe("mcp_server_logging");
    expect(m.action).toBe("setLevel");
    expect(m.resource.attributes).toEqual({ mcp_method: "logging/setLevel" });
  });

  it("maps an unknown method a/b (tasks/get) to {server}_a with action b", () => {
    const m = mapRequest("tasks/get", { taskId: "t1" }, defaults);
    expect(m.resource.type).toBe("mcp_server_tasks");
    expect(m.action).toBe("get");
    expect(m.operation).toEqual({ method: "tasks/get", phase: "call", server: "mcp_server" });
  });

  it("joins the remaining segments of a deeper unknown method with _", () => {
    const m = mapRequest("x/y/z", {}, defaults);
    expect(m.resource.type).toBe("mcp_server_x");
    expect(m.action).toBe("y_z");
  });

  it("gives a method without a slash the action call", () => {
    const m = mapRequest("custom", {}, defaults);
    expect(m.resource.type).toBe("mcp_server_custom");
    expect(m.action).toBe("call");
  });
});

describe("bypass", () => {
  it("bypasses initialize, ping and every notification by default", () => {
    expect(DEFAULT_BYPASS).toEqual(["initialize", "server/discover", "ping", "notifications/*"]);
    for (const method of [
      "initialize",
      "ping",
      "notifications/initialized",
      "notifications/cancelled",
      "notifications/roots/list_changed",
    ]) {
      expect(defaults.isBypassed(method), method).toBe(true);
    }
  });

  it("checks every other method by default", () => {
    for (const method of [
      "tools/call",
      "tools/list",
      "resources/read",
      "prompts/get",
      "initialized",
      "pingx",
      "xping",
      "notifications",
      "logging/setLevel",
    ]) {
      expect(defaults.isBypassed(method), method).toBe(false);
    }
  });

  it("uses a custom list instead of the default", () => {
    const m = resolveMapping({ bypass: ["tools/list", "resources/*"] });
    expect(m.isBypassed("tools/list")).toBe(true);
    expect(m.isBypassed("resources/read")).toBe(true);
    expect(m.isBypassed("resources/templates/list")).toBe(true);
    expect(m.isBypassed("ping")).toBe(false);
    expect(m.isBypassed("tools/call")).toBe(false);
  });

  it("matches exact names, trailing wildcards and inner wildcards alike", () => {
    const m = resolveMapping({ bypass: ["a.b", "tools/*", "*/list", "x*y*z"] });
    expect(m.isBypassed("a.b")).toBe(true);
    expect(m.isBypassed("axb")).toBe(false);
    expect(m.isBypassed("tools/")).toBe(true);
    expect(m.isBypassed("tools")).toBe(false);
    expect(m.isBypassed("prompts/list")).toBe(true);
    expect(m.isBypassed("prompts/list/x")).toBe(false);
    expect(m.isBypassed("x-y-z")).toBe(true);
    expect(m.isBypassed("x-y-z!")).toBe(false);
    expect(resolveMapping({ bypass: ["*"] }).isBypassed("anything/at/all")).toBe(true);
  });

  it("bypasses nothing with an empty list", () => {
    const m = resolveMapping({ bypass: [] });
    expect(m.isBypassed("initialize")).toBe(false);
    expect(m.isBypassed("notifications/initialized")).toBe(false);
  });

  it("treats regex characters in a glob literally", () => {
    const re = globToRegExp("a.b(c)+[d]/*");
    expect(re.test("a.b(c)+[d]/anything")).toBe(true);
    expect(re.test("aXb(c)+[d]/anything")).toBe(false);
    expect(re.test("a.b(c)+[d]")).toBe(false);
  });

  it("anchors a glob at both ends", () => {
    const re = globToRegExp("ping");
    expect(re.test("ping")).toBe(true);
    expect(re.test("ping2")).toBe(false);
    expect(re.test("a ping")).toBe(false);
  });
});

describe("server name", () => {
  it("defaults to mcp_server", () => {
    expect(DEFAULT_SERVER_NAME).toBe("mcp_server");
    expect(defaults.serverName).toBe("mcp_server");
  });

  it("uses a custom server name in every resource type and operation", () => {
    const m = resolveMapping({ serverName: "weather" });
    expect(mapRequest("tools/list", {}, m).resource.type).toBe("weather_tools");
    expect(mapRequest("tools/call", { name: "t" }, m).resource.type).toBe("weather");
    expect(mapRequest("resources/read", { uri: "u" }, m).resource.type).toBe("weather_resources");
    expect(mapRequest("prompts/get", { name: "p" }, m).resource.type).toBe("weather_prompts");
    expect(mapRequest("logging/setLevel", {}, m).resource.type).toBe("weather_logging");
    expect(mapRequest("tools/call", { name: "t" }, m).operation.server).toBe("weather");
  });

  it("rejects an empty or blank server name with a ConfigError", () => {
    expect(() => resolveMapping({ serverName: "" })).toThrow(ConfigError);
    expect(() => resolveMapping({ serverName: "  " })).toThrow(/serverName/);
  });
});

describe("tool names", () => {
  it("normalises _, . and / to - by default", () => {
    expect(toolAction("conditional_greet", defaults)).toBe("conditional-greet");
    expect(toolAction("a.b/c", defaults)).toBe("a-b-c");
    expect(toolAction("plain", defaults)).toBe("plain");
  });

  it("keeps raw tool names with toolNames raw", () => {
    const m = resolveMapping({ toolNames: "raw" });
    expect(toolAction("conditional_greet", m)).toBe("conditional_greet");
    expect(mapRequest("tools/call", { name: "a.b/c" }, m).action).toBe("a.b/c");
  });

  it("keeps the raw name in tool_name whatever the action", () => {
    const m = mapRequest("tools/call", { name: "a.b/c" }, defaults);
    expect(m.action).toBe("a-b-c");
    expect(m.resource.attributes.tool_name).toBe("a.b/c");
    expect(m.operation.name).toBe("a.b/c");
  });
});

describe("action prefix", () => {
  const m = resolveMapping({ actionPrefix: "mcp:" });

  it("is prepended to tool actions", () => {
    expect(mapRequest("tools/call", { name: "get_weather" }, m).action).toBe("mcp:get-weather");
  });

  it("is prepended to list, read, get, subscribe, complete and unknown actions", () => {
    expect(mapRequest("tools/list", {}, m).action).toBe("mcp:list");
    expect(mapRequest("resources/read", { uri: "u" }, m).action).toBe("mcp:read");
    expect(mapRequest("resources/subscribe", { uri: "u" }, m).action).toBe("mcp:subscribe");
    expect(mapRequest("prompts/get", { name: "p" }, m).action).toBe("mcp:get");
    expect(mapRequest("completion/complete", {}, m).action).toBe("mcp:complete");
    expect(mapRequest("tasks/get", {}, m).action).toBe("mcp:get");
  });

  it("is prepended to list item actions", () => {
    expect(mapListItem("tools/list", { name: "t" }, m)?.action).toBe("mcp:t");
    expect(mapListItem("resources/list", { uri: "docs://u" }, m)?.action).toBe("mcp:read");
    expect(mapListItem("prompts/list", { name: "p" }, m)?.action).toBe("mcp:get");
  });
});

describe("resource prefix", () => {
  it("uses {resourcePrefix}{component} when prefixResourceWithServerName is false", () => {
    const m = resolveMapping({
      serverName: "weather",
      prefixResourceWithServerName: false,
      resourcePrefix: "app_",
    });
    expect(mapRequest("tools/list", {}, m).resource.type).toBe("app_tools");
    expect(mapRequest("resources/read", { uri: "u" }, m).resource.type).toBe("app_resources");
    expect(mapRequest("resources/templates/list", {}, m).resource.type).toBe(
      "app_resource_templates",
    );
    expect(mapRequest("prompts/get", { name: "p" }, m).resource.type).toBe("app_prompts");
    expect(mapRequest("logging/setLevel", {}, m).resource.type).toBe("app_logging");
    expect(mapListItem("prompts/list", { name: "p" }, m)?.resource.type).toBe("app_prompts");
  });

  it("defaults the resource prefix to mcp_", () => {
    const m = resolveMapping({ prefixResourceWithServerName: false });
    expect(mapRequest("tools/list", {}, m).resource.type).toBe("mcp_tools");
  });

  it("keeps the bare server name as the tool resource type", () => {
    const m = resolveMapping({ serverName: "weather", prefixResourceWithServerName: false });
    expect(mapRequest("tools/call", { name: "t" }, m).resource.type).toBe("weather");
  });
});

describe("argument flattening options", () => {
  it("leaves arguments out of the attributes when flattenArguments is false", () => {
    const m = resolveMapping({ flattenArguments: false });
    const mapped = mapRequest("tools/call", { name: "t", arguments: { a: 1 } }, m);
    expect(mapped.resource.attributes).toEqual({ tool_name: "t", mcp_method: "tools/call" });
    expect(mapped.operation.arguments).toEqual({ a: 1 });
  });

  it("uses a custom argument prefix", () => {
    const m = resolveMapping({ argumentPrefix: "input." });
    const mapped = mapRequest("tools/call", { name: "t", arguments: { a: 1 } }, m);
    expect(mapped.resource.attributes["input.a"]).toBe(1);
    expect(mapped.resource.attributes.arg_a).toBeUndefined();
  });

  it("rejects a negative or fractional argument limit with a ConfigError naming it", () => {
    expect(() => resolveMapping({ argumentLimits: { maxDepth: -1 } })).toThrow(ConfigError);
    expect(() => resolveMapping({ argumentLimits: { maxKeys: 1.5 } })).toThrow(
      /argumentLimits\.maxKeys/,
    );
  });
});

describe("mapListItem", () => {
  it("maps a tool item like calling it, with phase list and no arguments", () => {
    const item = mapListItem(
      "tools/list",
      { name: "conditional_greet", inputSchema: { type: "object" } },
      defaults,
    );
    const call = mapRequest(
      "tools/call",
      { name: "conditional_greet", arguments: { a: 1 } },
      defaults,
    );
    expect(item?.resource.type).toBe(call.resource.type);
    expect(item?.action).toBe(call.action);
    expect(item?.resource.attributes).toEqual({
      tool_name: "conditional_greet",
      mcp_method: "tools/call",
    });
    expect(item?.operation).toEqual({
      method: "tools/call",
      phase: "list",
      component: "tool",
      name: "conditional_greet",
      server: "mcp_server",
    });
  });

  it("maps a prompt item like getting it, with phase list and no arguments", () => {
    const item = mapListItem("prompts/list", { name: "summarize", arguments: [] }, defaults);
    const get = mapRequest("prompts/get", { name: "summarize" }, defaults);
    expect(item?.resource).toEqual(get.resource);
    expect(item?.action).toBe("get");
    expect(item?.operation.phase).toBe("list");
    expect(item?.operation.component).toBe("prompt");
    expect(item?.operation.arguments).toBeUndefined();
  });

  it("maps a resource item like reading it, with phase list", () => {
    const item = mapListItem("resources/list", { uri: "file:///a", name: "a" }, defaults);
    const read = mapRequest("resources/read", { uri: "file:///a" }, defaults);
    expect(item?.resource).toEqual(read.resource);
    expect(item?.action).toBe(read.action);
    expect(item?.operation).toEqual({
      method: "resources/read",
      phase: "list",
      component: "resource",
      uri: "file:///a",
      server: "mcp_server",
    });
  });

  it("maps a resource template item to a read of its uri template", () => {
    const item = mapListItem(
      "resources/templates/list",
      { uriTemplate: "file:///{path}", name: "files" },
      defaults,
    );
    expect(item?.resource).toEqual({
      type: "mcp_server_resources",
      key: "file:///{path}",
      attributes: { resource_uri: "file:///{path}", mcp_method: "resources/read" },
    });
    expect(item?.action).toBe("read");
    expect(item?.operation).toMatchObject({
      method: "resources/read",
      phase: "list",
      component: "resource_template",
      uri: "file:///{path}",
    });
  });

  it.each([
    ["tools/list", { description: "no name" }],
    ["tools/list", { name: 42 }],
    ["prompts/list", { name: null }],
    ["resources/list", { name: "no uri" }],
    ["resources/templates/list", { uri: "file:///a", name: "uri instead of uriTemplate" }],
    ["tools/list", null],
    ["tools/list", "a string"],
    ["tools/list", ["array"]],
  ] as [ListMethod, unknown][])("gives undefined for an unusable %s item %j", (method, item) => {
    expect(mapListItem(method, item, defaults)).toBeUndefined();
  });

  it("covers every list method", () => {
    expect(Object.keys(LIST_METHODS).sort()).toEqual([
      "prompts/list",
      "resources/list",
      "resources/templates/list",
      "tools/list",
    ]);
    expect(isListMethod("tools/list")).toBe(true);
    expect(isListMethod("tools/call")).toBe(false);
    expect(isListMethod("toString")).toBe(false);
    expect(isListMethod("__proto__")).toBe(false);
  });
});

describe("malformed params", () => {
  const methods = [
    "tools/call",
    "tools/list",
    "resources/read",
    "resources/subscribe",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "tasks/get",
  ];
  const params: unknown[] = [
    null,
    undefined,
    42,
    "string",
    [],
    [1, 2],
    { name: 42, uri: 7 },
    { name: null, arguments: "not an object" },
    { name: ["a"], arguments: [1, 2, 3] },
    { name: { nested: true }, arguments: null },
    { ref: "not an object" },
    { ref: { type: 1, name: 2, uri: 3 } },
  ];

  it.each(methods)("never throws for %s", (method) => {
    for (const p of params) {
      expect(() => mapRequest(method, p, defaults), JSON.stringify(p) ?? "undefined").not.toThrow();
    }
  });

  it("maps a tool call whose name is not a string to an empty name and ignores array arguments", () => {
    const m = mapRequest("tools/call", { name: 42, arguments: [1, 2] }, defaults);
    expect(m.operation.name).toBe("");
    expect(m.action).toBe("");
    expect(m.resource.attributes).toEqual({ tool_name: "", mcp_method: "tools/call" });
    expect(m.operation.arguments).toBeUndefined();
  });

  it("maps a read whose uri is not a string to an empty key", () => {
    const m = mapRequest("resources/read", { uri: 7 }, defaults);
    expect(m.resource.key).toBe("");
    expect(m.operation.uri).toBe("");
  });
});

describe("resource URIs", () => {
  const m = resolveMapping({ serverName: "docs" });

  it("are decided as the server resolves them, whatever the client's spelling", () => {
    for (const spelling of [
      "docs://host/secret",
      "DOCS://host/secret",
      "docs://host/x/../secret",
    ]) {
      const mapped = mapRequest("resources/read", { uri: spelling }, m);
      expect(mapped.resource.key).toBe("docs://host/secret");
      expect(mapped.operation.uri).toBe("docs://host/secret");
      expect(mapped.problem).toBeUndefined();
    }
  });

  it("deny a URI that does not parse, without asking the PDP", () => {
    expect(mapRequest("resources/read", { uri: "not a uri" }, m).problem).toMatch(/URI/);
  });

  it("hide a listed resource whose URI does not parse, and keep templates as declared", () => {
    expect(mapListItem("resources/list", { uri: "::" }, m)).toBeUndefined();
    expect(
      mapListItem("resources/templates/list", { uriTemplate: "docs://page/{id}" }, m)?.resource.key,
    ).toBe("docs://page/{id}");
  });
});

describe("completion/complete", () => {
  const m = resolveMapping({ serverName: "s" });

  it("names the prompt whose arguments are completed", () => {
    const mapped = mapRequest(
      "completion/complete",
      { ref: { type: "ref/prompt", name: "payroll" }, argument: { name: "who", value: "a" } },
      m,
    );
    expect(mapped.operation).toMatchObject({ component: "prompt", name: "payroll" });
    expect(mapped.resource).toMatchObject({ type: "s_completion", key: "payroll" });
  });

  it("names the resource template whose variables are completed", () => {
    const mapped = mapRequest(
      "completion/complete",
      {
        ref: { type: "ref/resource", uri: "docs://page/{id}" },
        argument: { name: "id", value: "" },
      },
      m,
    );
    expect(mapped.operation).toMatchObject({
      component: "resource_template",
      uri: "docs://page/{id}",
    });
    expect(mapped.resource.key).toBe("docs://page/{id}");
  });
});
