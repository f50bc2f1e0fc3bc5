import { PolicyError, type Subject } from "@mcp-pdp/core";
import { describe, expect, it } from "vitest";
import {
  type EunomiaCondition,
  type EunomiaOperator,
  type EunomiaPolicy,
  type EunomiaRule,
  eunomiaView,
  localPdp,
  parsePolicy,
} from "../src/index.js";
import { alice, call, item, tool } from "./helpers.js";

const agent = (attributes: Record<string, unknown> = {}): Subject => ({
  id: "claude",
  authenticated: true,
  attributes,
});

function policy(rules: EunomiaRule[], extra: Partial<EunomiaPolicy> = {}): EunomiaPolicy {
  return { version: "1.0", name: "p", rules, default_effect: "deny", ...extra };
}

/** Whether one principal condition on `attributes.x` holds for an attribute (absent when undefined). */
function holds(operator: EunomiaOperator, value: unknown, attribute: unknown): boolean {
  const pdp = localPdp({
    policies: [
      policy([
        {
          name: "r",
          effect: "allow",
          actions: ["execute"],
          principal_conditions: [{ path: "attributes.x", operator, value }],
        },
      ]),
    ],
  });
  return pdp.decide(tool(agent(attribute === undefined ? {} : { x: attribute }), "add")).allow;
}

describe("Eunomia operators are applied as op(condition value, attribute)", () => {
  const cases: [EunomiaOperator, unknown, unknown, boolean][] = [
    ["equals", "admin", "admin", true],
    ["equals", "admin", "user", false],
    ["equals", 1, 1.0, true],
    ["equals", true, 1, true], // Python: True == 1
    ["equals", { a: [1] }, { a: [1] }, true],
    ["not_equals", "admin", "user", true],
    ["not_equals", "admin", "admin", false],
    // contains: the condition value is a substring of the attribute
    ["contains", "ell", "hello", true],
    ["contains", "hello", "ell", false],
    ["contains", "a", ["a"], false], // strings only
    ["not_contains", "xyz", "hello", true],
    ["not_contains", "ell", "hello", false],
    ["startswith", "he", "hello", true],
    ["startswith", "hello", "he", false],
    ["endswith", "lo", "hello", true],
    ["endswith", "he", "hello", false],
    // gt: the condition value is greater than the attribute
    ["gt", 10, 5, true],
    ["gt", 10, 15, false],
    ["gt", 10, 10, false],
    ["gte", 10, 10, true],
    ["gte", 10, 11, false],
    ["lt", 10, 15, true],
    ["lt", 10, 5, false],
    ["lte", 10, 10, true],
    ["gt", 1, false, true], // Python bools are ints
    ["gt", 10, "5", false], // a string attribute is not a number
    ["gt", "b", "a", false], // strings do not order
    // in: the attribute is in the condition's list
    ["in", ["admin", "ops"], "ops", true],
    ["in", ["admin", "ops"], "user", false],
    ["in", "admin", "admin", false], // the value must be a list
    ["in", [1, 2], true, true], // Python: True in [1, 2]
    ["not_in", ["admin"], "user", true],
    ["not_in", ["admin"], "admin", false],
  ];

  it.each(cases)("%s %j against %j is %s", (operator, value, attribute, expected) => {
    expect(holds(operator, value, attribute)).toBe(expected);
  });
});

describe("Eunomia condition values that are JSON strings are compared parsed", () => {
  const cases: [EunomiaOperator, string, unknown, boolean][] = [
    ["gt", "10", 5, true],
    ["equals", "10", 10, true],
    ["equals", "10", "10", false], // the attribute is not parsed
    ["in", '["a", "b"]', "b", true],
    ["equals", "true", true, true],
    ["equals", '"quoted"', "quoted", true],
    ["equals", "not json", "not json", true],
    ["equals", "null", "null", false], // parses to None, which fails every operator
    ["gt", "Infinity", 1e308, true], // Python's json accepts Infinity
  ];
  it.each(cases)("%s %j against %j is %s", (operator, value, attribute, expected) => {
    expect(holds(operator, value, attribute)).toBe(expected);
  });
});

describe("a missing attribute fails every Eunomia operator, the negated ones included", () => {
  const all: [EunomiaOperator, unknown][] = [
    ["equals", "a"],
    ["not_equals", "a"],
    ["contains", "a"],
    ["not_contains", "a"],
    ["startswith", "a"],
    ["endswith", "a"],
    ["gt", 1],
    ["gte", 1],
    ["lt", 1],
    ["lte", 1],
    ["in", ["a"]],
    ["not_in", ["a"]],
  ];
  it.each(all)("%s", (operator, value) => {
    expect(holds(operator, value, undefined)).toBe(false);
    expect(holds(operator, value, null)).toBe(false);
  });
});

describe("Eunomia dot paths", () => {
  function allows(
    condition: EunomiaCondition,
    side: "principal" | "resource",
    args?: Record<string, unknown>,
  ) {
    const pdp = localPdp({
      policies: [
        policy([
          {
            name: "r",
            effect: "allow",
            actions: ["execute"],
            [`${side}_conditions`]: [condition],
          },
        ]),
      ],
    });
    return pdp.decide(tool(agent({ teams: ["core", "infra"] }), "add", args)).allow;
  }

  it("index lists by digit segments, below the list's length", () => {
    const args = { items: [{ id: "a" }, { id: "b" }] };
    expect(
      allows(
        { path: "attributes.arguments.items.1.id", operator: "equals", value: "b" },
        "resource",
        args,
      ),
    ).toBe(true);
    expect(
      allows(
        { path: "attributes.arguments.items.2.id", operator: "not_equals", value: "b" },
        "resource",
        args,
      ),
    ).toBe(false);
    expect(
      allows({ path: "attributes.teams.0", operator: "equals", value: "core" }, "principal"),
    ).toBe(true);
  });

  it("reach the entity's uri and type", () => {
    expect(allows({ path: "uri", operator: "equals", value: "agent:claude" }, "principal")).toBe(
      true,
    );
    expect(allows({ path: "uri", operator: "equals", value: "mcp:tools:add" }, "resource")).toBe(
      true,
    );
    expect(allows({ path: "type", operator: "equals", value: "resource" }, "resource")).toBe(true);
  });

  it("do not index strings", () => {
    expect(allows({ path: "uri.0", operator: "equals", value: "a" }, "principal")).toBe(false);
  });
});

describe("Eunomia rule and policy semantics", () => {
  const allowAdd: EunomiaRule = {
    name: "allow-add",
    effect: "allow",
    actions: ["execute"],
    resource_conditions: [{ path: "attributes.name", operator: "equals", value: "add" }],
  };
  const denyAdd: EunomiaRule = { ...allowAdd, name: "deny-add", effect: "deny" };

  const cases: {
    name: string;
    policies: EunomiaPolicy[];
    allow: boolean;
    reason: string;
    applicable?: false;
  }[] = [
    {
      name: "the first matching rule of a policy decides (allow before deny)",
      policies: [policy([allowAdd, denyAdd])],
      allow: true,
      reason: 'allowed by rule "allow-add" of policy "p"',
    },
    {
      name: "the first matching rule of a policy decides (deny before allow)",
      policies: [policy([denyAdd, allowAdd])],
      allow: false,
      reason: 'denied by rule "deny-add" of policy "p"',
    },
    {
      name: "an explicit deny in any policy wins over an allow in another",
      policies: [policy([allowAdd], { name: "a" }), policy([denyAdd], { name: "b" })],
      allow: false,
      reason: 'denied by rule "deny-add" of policy "b"',
    },
    {
      name: "when several policies deny, the last denying rule is named, as the server does",
      policies: [
        policy([denyAdd], { name: "a" }),
        policy([allowAdd], { name: "b" }),
        policy([{ ...denyAdd, name: "deny-add-too" }], { name: "c" }),
      ],
      allow: false,
      reason: 'denied by rule "deny-add-too" of policy "c"',
    },
    {
      name: "when several policies allow, the last allowing rule is named, as the server does",
      policies: [
        policy([allowAdd], { name: "a" }),
        policy([{ ...allowAdd, name: "allow-add-too" }], { name: "b" }),
      ],
      allow: true,
      reason: 'allowed by rule "allow-add-too" of policy "b"',
    },
    {
      name: "an explicit allow wins over another policy's default deny",
      policies: [policy([], { name: "a" }), policy([allowAdd], { name: "b" })],
      allow: true,
      reason: 'allowed by rule "allow-add" of policy "b"',
    },
    {
      name: "default_effect allow never grants",
      policies: [policy([], { default_effect: "allow" })],
      allow: false,
      reason: "no rule matched",
      applicable: false,
    },
    {
      name: "default_effect allow does not override an explicit deny elsewhere",
      policies: [
        policy([], { name: "a", default_effect: "allow" }),
        policy([denyAdd], { name: "b" }),
      ],
      allow: false,
      reason: 'denied by rule "deny-add" of policy "b"',
    },
    {
      name: "no matching rule: deny",
      policies: [policy([{ ...allowAdd, actions: ["list"] }])],
      allow: false,
      reason: "no rule matched",
      applicable: false,
    },
    {
      name: "no policies: deny",
      policies: [],
      allow: false,
      reason: "no rule matched",
      applicable: false,
    },
    {
      name: "actions given as a JSON string",
      policies: [policy([{ ...allowAdd, actions: '["execute"]' }])],
      allow: true,
      reason: 'allowed by rule "allow-add" of policy "p"',
    },
  ];

  it.each(cases)("$name", ({ policies, allow, reason, applicable }) => {
    const d = localPdp({ policies }).decide(tool(agent(), "add", { a: 1 }));
    expect(d.allow).toBe(allow);
    expect(d.reason).toBe(reason);
    expect(d.applicable).toBe(applicable);
  });

  it("matches actions exactly", () => {
    const pdp = localPdp({ policies: [policy([{ ...allowAdd, actions: ["exec*"] }])] });
    expect(pdp.decide(tool(agent(), "add")).allow).toBe(false);
  });

  it("explain names the deciding rule and its policy and lists the rules up to the first match", () => {
    const pdp = localPdp({
      policies: [policy([{ ...denyAdd, actions: ["list"] }, allowAdd, denyAdd])],
    });
    const e = pdp.explain(tool(agent(), "add"));
    expect(e.rule).toBe("allow-add");
    expect(e.policy).toBe("p");
    expect(e.considered).toEqual([
      {
        rule: "deny-add",
        effect: "deny",
        source: "policies[0]",
        policy: "p",
        matched: false,
        because: "action execute not listed",
      },
      { rule: "allow-add", effect: "allow", source: "policies[0]", policy: "p", matched: true },
    ]);
  });
});

describe("Eunomia policies over MCP requests", () => {
  const pdp = localPdp({
    policies: [
      policy([
        {
          name: "list-readers",
          effect: "allow",
          actions: ["list"],
          resource_conditions: [{ path: "attributes.name", operator: "startswith", value: "read" }],
        },
        {
          name: "execute-readers",
          effect: "allow",
          actions: ["execute"],
          principal_conditions: [{ path: "attributes.user_id", operator: "equals", value: "u1" }],
          resource_conditions: [{ path: "attributes.name", operator: "startswith", value: "read" }],
        },
      ]),
    ],
  });
  const claude = agent({ user_id: "u1" });

  it("lets the whole-list check through and filters each item with action list", () => {
    expect(pdp.decide(call(claude, "tools/list")).allow).toBe(true);
    expect(pdp.decide(item(claude, "tools/list", { name: "read_note" })).allow).toBe(true);
    expect(pdp.decide(item(claude, "tools/list", { name: "delete_note" })).allow).toBe(false);
  });

  it("decides calls with action execute", () => {
    expect(pdp.decide(tool(claude, "read_note", { id: "1" })).allow).toBe(true);
    expect(pdp.decide(tool(agent({ user_id: "u2" }), "read_note")).allow).toBe(false);
    expect(pdp.decide(tool(claude, "delete_note")).allow).toBe(false);
  });
});

describe("native and Eunomia policies loaded together", () => {
  const eunomiaAllowAll = policy([
    { name: "everyone", effect: "allow", actions: ["list", "execute"] },
  ]);

  it("a native deny overrides an Eunomia allow", () => {
    const pdp = localPdp({
      policies: [
        eunomiaAllowAll,
        {
          rules: [
            {
              name: "no-delete",
              effect: "deny",
              resources: { tools: "delete_note" },
              actions: "*",
            },
          ],
        },
      ],
    });
    expect(pdp.decide(tool(alice, "read_note")).reason).toBe(
      'allowed by rule "everyone" of policy "p"',
    );
    expect(pdp.decide(tool(alice, "delete_note")).reason).toBe('denied by rule "no-delete"');
  });

  it("an Eunomia deny overrides a native allow", () => {
    const pdp = localPdp({
      policies: [
        { rules: [{ name: "all", effect: "allow", actions: "*" }] },
        policy([
          {
            name: "no-delete",
            effect: "deny",
            actions: ["execute"],
            resource_conditions: [
              { path: "attributes.name", operator: "equals", value: "delete_note" },
            ],
          },
        ]),
      ],
    });
    expect(pdp.decide(tool(alice, "read_note")).reason).toBe('allowed by rule "all"');
    expect(pdp.decide(tool(alice, "delete_note")).reason).toBe(
      'denied by rule "no-delete" of policy "p"',
    );
  });
});

describe("eunomiaView", () => {
  const subject: Subject = {
    id: "claude",
    authenticated: true,
    roles: ["user"],
    attributes: { agent_id: "claude", user_id: "u1", user_agent: "ua/1" },
  };

  it("views tools/call as execute on mcp:tools:<name> with the arguments", () => {
    expect(eunomiaView(tool(subject, "add", { a: 1 }))).toEqual({
      principal: {
        uri: "agent:claude",
        attributes: { agent_id: "claude", user_id: "u1", user_agent: "ua/1", roles: ["user"] },
      },
      resource: {
        uri: "mcp:tools:add",
        attributes: {
          method: "tools/call",
          component_type: "tools",
          name: "add",
          uri: "mcp:tools:add",
          arguments: { a: 1 },
        },
      },
      action: "execute",
    });
  });

  it("views a 1 MB argument shortened and marked arguments_truncated", () => {
    const view = eunomiaView(tool(subject, "write", { text: "x".repeat(1024 * 1024), n: 1 }));
    expect(JSON.stringify(view).length).toBeLessThan(16 * 1024);
    expect(view.resource.attributes).toMatchObject({
      arguments: { n: 1 },
      arguments_truncated: true,
    });
    expect(eunomiaView(tool(subject, "add", { a: 1 })).resource.attributes).not.toHaveProperty(
      "arguments_truncated",
    );
  });

  it("lets a policy refuse arguments it cannot see whole", () => {
    const pdp = localPdp({
      policies: [
        policy([
          {
            name: "not-truncated",
            effect: "deny",
            resource_conditions: [
              { path: "attributes.arguments_truncated", operator: "equals", value: true },
            ],
            actions: ["execute"],
          },
          { name: "everyone", effect: "allow", actions: ["execute"] },
        ]),
      ],
    });
    expect(pdp.decide(tool(subject, "write", { text: "short" })).allow).toBe(true);
    expect(pdp.decide(tool(subject, "write", { text: "x".repeat(1024 * 1024) })).allow).toBe(false);
  });

  it("views a tool list item as list on its list method, without arguments", () => {
    expect(eunomiaView(item(subject, "tools/list", { name: "add" })).resource).toEqual({
      uri: "mcp:tools:add",
      attributes: {
        method: "tools/list",
        component_type: "tools",
        name: "add",
        uri: "mcp:tools:add",
      },
    });
    expect(eunomiaView(item(subject, "tools/list", { name: "add" })).action).toBe("list");
  });

  const table: [string, ReturnType<typeof call>, string, string, string][] = [
    [
      "resources/read",
      call(subject, "resources/read", { uri: "notes://note/1" }),
      "execute",
      "mcp:resources:notes://note/1",
      "resources/read",
    ],
    [
      "prompts/get",
      call(subject, "prompts/get", { name: "summarize_note", arguments: { id: "1" } }),
      "execute",
      "mcp:prompts:summarize_note",
      "prompts/get",
    ],
    ["tools/list", call(subject, "tools/list"), "list", "mcp:tools", "tools/list"],
    ["prompts/list", call(subject, "prompts/list"), "list", "mcp:prompts", "prompts/list"],
    [
      "resource item",
      item(subject, "resources/list", { uri: "notes://index", name: "index" }),
      "list",
      "mcp:resources:notes://index",
      "resources/list",
    ],
    [
      "template item",
      item(subject, "resources/templates/list", { uriTemplate: "notes://note/{id}", name: "note" }),
      "list",
      "mcp:resources:notes://note/{id}",
      "resources/templates/list",
    ],
    [
      "prompt item",
      item(subject, "prompts/list", { name: "summarize_note" }),
      "list",
      "mcp:prompts:summarize_note",
      "prompts/list",
    ],
    [
      "resources/subscribe",
      call(subject, "resources/subscribe", { uri: "notes://index" }),
      "subscribe",
      "mcp:resources:notes://index",
      "resources/subscribe",
    ],
    [
      "completion/complete",
      call(subject, "completion/complete", { ref: { type: "ref/prompt", name: "p" } }),
      "complete",
      "mcp:completion:p", // names the prompt whose arguments are completed
      "completion/complete",
    ],
  ];

  it.each(table)("views %s", (_, request, action, uri, method) => {
    const view = eunomiaView(request);
    expect(view.action).toBe(action);
    expect(view.resource.uri).toBe(uri);
    expect(view.resource.attributes.uri).toBe(uri);
    expect(view.resource.attributes.method).toBe(method);
  });

  it("keeps prompt arguments on a prompts/get", () => {
    const view = eunomiaView(call(subject, "prompts/get", { name: "p", arguments: { id: "1" } }));
    expect(view.resource.attributes.arguments).toEqual({ id: "1" });
  });

  it("makes agent_id the subject id and keeps the subject's own roles attribute", () => {
    const view = eunomiaView(
      tool({ id: "bot", authenticated: true, roles: ["r"], attributes: { roles: "custom" } }, "x"),
    );
    expect(view.principal).toEqual({
      uri: "agent:bot",
      attributes: { agent_id: "bot", user_id: "unknown", user_agent: "undefined", roles: "custom" },
    });
  });

  it("fills in eunomia-mcp's user_id and user_agent defaults, so rules on them decide alike", () => {
    const anonymousUser = policy([
      {
        name: "no-user",
        effect: "allow",
        actions: ["execute"],
        principal_conditions: [
          { path: "attributes.user_id", operator: "equals", value: "unknown" },
          { path: "attributes.user_agent", operator: "equals", value: "undefined" },
        ],
      },
    ]);
    const pdp = localPdp({ policies: [anonymousUser] });
    const bare: Subject = { id: "bot", authenticated: false, attributes: { agent_id: "bot" } };
    expect(pdp.decide(tool(bare, "add")).allow).toBe(true);
    const named: Subject = { ...bare, attributes: { agent_id: "bot", user_id: "u1" } };
    expect(pdp.decide(tool(named, "add")).allow).toBe(false);
  });
});

describe("Eunomia policy documents", () => {
  it("are recognised in JSON files and validated with unknown fields rejected", () => {
    const json = JSON.stringify({
      version: "1.0",
      name: "default",
      rules: [
        {
          name: "r",
          effect: "allow",
          actions: ["list"],
          principal_conditions: [
            { path: "uri", operator: "startswith", value: "agent:", extra: 1 },
          ],
        },
      ],
      default_effect: "deny",
    });
    expect(() => parsePolicy(json, { filename: "p.json" })).toThrow(
      'p.json (Eunomia policy): rule "r" (rules[0]): principal_conditions[0]: unknown field "extra"; expected path, operator, value',
    );
  });

  it("name an unknown operator", () => {
    const doc = policy([
      {
        name: "r",
        effect: "allow",
        actions: ["list"],
        principal_conditions: [
          { path: "uri", operator: "starts_with" as EunomiaOperator, value: "a" },
        ],
      },
    ]);
    expect(() => localPdp({ policies: [doc] })).toThrow(
      'policies[0] (Eunomia policy): rule "r" (rules[0]): principal_conditions[0].operator: unknown operator "starts_with"; expected one of equals, not_equals, contains, not_contains, startswith, endswith, gt, gte, lt, lte, in, not_in',
    );
  });

  it("require a condition value and a policy name", () => {
    const noValue = {
      name: "p",
      rules: [
        {
          name: "r",
          effect: "allow",
          actions: ["list"],
          resource_conditions: [{ path: "uri", operator: "equals" }],
        },
      ],
    };
    expect(() => parsePolicy(JSON.stringify(noValue), { filename: "p.json" })).toThrow(
      "resource_conditions[0].value: required",
    );
    expect(() =>
      parsePolicy(JSON.stringify({ rules: [] }), { filename: "p.json", format: "eunomia" }),
    ).toThrow("p.json (Eunomia policy): name: required (a string)");
  });

  it("reject duplicate policy names", () => {
    expect(() => localPdp({ policies: [policy([]), policy([])] })).toThrow(PolicyError);
    expect(() => localPdp({ policies: [policy([]), policy([])] })).toThrow(
      'policies[1]: name: duplicate policy name "p"; also in policies[0]',
    );
  });
});
