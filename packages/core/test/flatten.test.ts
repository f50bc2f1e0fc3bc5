import { afterEach, describe, expect, it } from "vitest";
import { boundArguments, flattenArguments, mapRequest, resolveMapping } from "../src/mapping.js";

function polluted(): unknown {
  return ({} as Record<string, unknown>).polluted;
}

afterEach(() => {
  // A failing pollution test must not leak into the next one.
  delete (Object.prototype as Record<string, unknown>).polluted;
});

describe("flattenArguments", () => {
  it("prefixes each top-level primitive argument", () => {
    const { attributes, truncated } = flattenArguments({ a: 1, b: "x", c: true, d: null });
    expect({ ...attributes }).toEqual({ arg_a: 1, arg_b: "x", arg_c: true, arg_d: null });
    expect(truncated).toBe(false);
  });

  it("joins nested object keys and array indexes with _", () => {
    const { attributes } = flattenArguments({
      user: { name: "Ada", address: { city: "London" } },
      tags: ["x", "y"],
      matrix: [
        [1, 2],
        [3, 4],
      ],
    });
    expect({ ...attributes }).toEqual({
      arg_user_name: "Ada",
      arg_user_address_city: "London",
      arg_tags_0: "x",
      arg_tags_1: "y",
      arg_matrix_0_0: 1,
      arg_matrix_0_1: 2,
      arg_matrix_1_0: 3,
      arg_matrix_1_1: 4,
    });
  });

  it("drops values that are not JSON (undefined, functions, symbols, bigints)", () => {
    const { attributes } = flattenArguments({
      u: undefined,
      f: () => 1,
      s: Symbol("s"),
      b: 10n,
      ok: 1,
    });
    expect({ ...attributes }).toEqual({ arg_ok: 1 });
  });

  it("returns an empty result for no arguments", () => {
    expect(flattenArguments(undefined)).toEqual({
      attributes: {},
      truncated: false,
      dropped: false,
      ambiguous: false,
    });
    expect(flattenArguments({}).truncated).toBe(false);
  });

  it("uses a custom prefix", () => {
    const { attributes } = flattenArguments({ a: { b: 1 } }, "in.");
    expect({ ...attributes }).toEqual({ "in.a_b": 1 });
  });

  it("stops at the depth limit and marks the result truncated", () => {
    const deep = { l1: { l2: { l3: { l4: { l5: "deep" } } } }, flat: 1 };
    const { attributes, truncated } = flattenArguments(deep, "arg_", { maxDepth: 2 });
    expect({ ...attributes }).toEqual({ arg_flat: 1 });
    expect(truncated).toBe(true);
    const within = flattenArguments({ l1: { l2: "ok" } }, "arg_", { maxDepth: 2 });
    expect({ ...within.attributes }).toEqual({ arg_l1_l2: "ok" });
    expect(within.truncated).toBe(false);
  });

  it("survives a very deep object with the default limits", () => {
    let value: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 10_000; i++) value = { n: value };
    const { attributes, truncated } = flattenArguments({ deep: value });
    expect(Object.keys(attributes)).toHaveLength(0);
    expect(truncated).toBe(true);
  });

  it("stops at the key count limit and marks the result truncated", () => {
    const args: Record<string, number> = {};
    for (let i = 0; i < 500; i++) args[`k${i}`] = i;
    const { attributes, truncated } = flattenArguments(args, "arg_", { maxKeys: 10 });
    expect(Object.keys(attributes)).toHaveLength(10);
    expect(attributes.arg_k0).toBe(0);
    expect(attributes.arg_k9).toBe(9);
    expect(truncated).toBe(true);
  });

  it("keeps at most 256 attributes by default", () => {
    const wide: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) wide[`k${i}`] = i;
    const { attributes, truncated } = flattenArguments({ wide });
    expect(Object.keys(attributes)).toHaveLength(256);
    expect(truncated).toBe(true);
  });

  it("cuts long strings at the length limit and marks the result truncated", () => {
    const { attributes, truncated } = flattenArguments({ s: "abcdefghij" }, "arg_", {
      maxStringLength: 4,
    });
    expect(attributes.arg_s).toBe("abcd");
    expect(truncated).toBe(true);
  });

  it("keeps a string exactly at the length limit whole", () => {
    const { attributes, truncated } = flattenArguments({ s: "abcd" }, "arg_", {
      maxStringLength: 4,
    });
    expect(attributes.arg_s).toBe("abcd");
    expect(truncated).toBe(false);
  });

  it("follows at most maxArrayItems items of an array and marks the result truncated", () => {
    const { attributes, truncated } = flattenArguments({ list: [1, 2, 3, 4, 5] }, "arg_", {
      maxArrayItems: 2,
    });
    expect({ ...attributes }).toEqual({ arg_list_0: 1, arg_list_1: 2 });
    expect(truncated).toBe(true);
  });

  it("bounds a huge array argument", () => {
    const { attributes, truncated } = flattenArguments({ list: new Array(100_000).fill("x") });
    expect(Object.keys(attributes)).toHaveLength(64);
    expect(truncated).toBe(true);
  });

  it("bounds a huge key name", () => {
    const key = "k".repeat(1_000_000);
    const { attributes, truncated } = flattenArguments({ [key]: 1, nested: { [key]: 2 } });
    const size = Object.keys(attributes).reduce((n, k) => n + k.length, 0);
    expect(size).toBeLessThan(10_000);
    expect(truncated).toBe(true);
  });

  it("drops an attribute whose name exceeds maxKeyLength and keeps the others", () => {
    const { attributes, truncated } = flattenArguments(
      { short: 1, a_rather_long_name: 2, nested: { deeper_key: 3 } },
      "arg_",
      { maxKeyLength: 12 },
    );
    expect({ ...attributes }).toEqual({ arg_short: 1 });
    expect(truncated).toBe(true);
  });

  /** The attributes inherit nothing: not Object.prototype, not anything a key could plant. */
  function expectNothingInherited(attributes: object): void {
    const proto = Object.getPrototypeOf(attributes) as object | null;
    expect(
      proto === null ||
        (Object.getPrototypeOf(proto) === null && Reflect.ownKeys(proto).length === 0),
    ).toBe(true);
    expect("toString" in attributes).toBe(false);
    expect("constructor" in attributes).toBe(false);
  }

  it("never changes a prototype through __proto__ or constructor keys", () => {
    const args = JSON.parse(
      '{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}, "a": {"__proto__": {"polluted": "yes"}}}',
    ) as Record<string, unknown>;
    expect(Object.hasOwn(args, "__proto__")).toBe(true);
    const { attributes } = flattenArguments(args);
    expect(polluted()).toBeUndefined();
    expectNothingInherited(attributes);
    expect(Object.keys(attributes).sort()).toEqual([
      "arg___proto___polluted",
      "arg_a___proto___polluted",
      "arg_constructor_prototype_polluted",
    ]);
    expect(attributes.arg___proto___polluted).toBe("yes");
  });

  it("keeps a bare __proto__ key as a plain own key with an empty prefix", () => {
    const args = JSON.parse('{"__proto__": {"polluted": "yes"}, "x": 1}') as Record<
      string,
      unknown
    >;
    const { attributes } = flattenArguments(args, "");
    expect(polluted()).toBeUndefined();
    expectNothingInherited(attributes);
    expect(attributes.__proto___polluted).toBe("yes");
    expect(attributes.x).toBe(1);
  });

  it("never pollutes a prototype through mapRequest either", () => {
    const params = JSON.parse(
      '{"name": "t", "arguments": {"__proto__": {"polluted": "yes"}, "constructor": {"polluted": "yes"}}}',
    ) as unknown;
    const mapped = mapRequest("tools/call", params, resolveMapping({ argumentPrefix: "" }));
    expect(polluted()).toBeUndefined();
    const attrs = mapped.resource.attributes;
    expectNothingInherited(attrs);
    expect((attrs as Record<string, unknown>).polluted).toBeUndefined();
    expect(attrs.__proto___polluted).toBe("yes");
    expect(attrs.constructor_polluted).toBe("yes");
  });
});

describe("flattened arguments inside mapRequest", () => {
  it("bounds a 1 MB string argument and flags arguments_truncated", () => {
    const big = "x".repeat(1024 * 1024);
    const m = mapRequest(
      "tools/call",
      { name: "upload", arguments: { data: big } },
      resolveMapping(),
    );
    const data = m.resource.attributes.arg_data;
    expect(typeof data).toBe("string");
    expect((data as string).length).toBe(1024);
    expect(m.resource.attributes.arguments_truncated).toBe(true);
    expect(JSON.stringify(m.resource).length).toBeLessThan(4096);
  });

  it("does not flag arguments_truncated when nothing was cut", () => {
    const m = mapRequest("tools/call", { name: "t", arguments: { a: "short" } }, resolveMapping());
    expect(m.resource.attributes.arguments_truncated).toBeUndefined();
  });

  it("applies the mapping's argument limits", () => {
    const m = mapRequest(
      "tools/call",
      { name: "t", arguments: { s: "abcdef" } },
      resolveMapping({ argumentLimits: { maxStringLength: 3 } }),
    );
    expect(m.resource.attributes.arg_s).toBe("abc");
    expect(m.resource.attributes.arguments_truncated).toBe(true);
  });

  it("never lets an argument named tool_name or mcp_method overwrite those attributes with an empty prefix", () => {
    const m = mapRequest(
      "tools/call",
      {
        name: "real_tool",
        arguments: { tool_name: "admin_tool", mcp_method: "tools/list", other: 1 },
      },
      resolveMapping({ argumentPrefix: "" }),
    );
    expect(m.resource.attributes.tool_name).toBe("real_tool");
    expect(m.resource.attributes.mcp_method).toBe("tools/call");
    expect(m.resource.attributes.other).toBe(1);
  });

  it("never lets a nested argument flattened to tool_name overwrite it with an empty prefix", () => {
    const m = mapRequest(
      "tools/call",
      { name: "real_tool", arguments: { tool: { name: "admin_tool" }, mcp: { method: "x" } } },
      resolveMapping({ argumentPrefix: "" }),
    );
    expect(m.resource.attributes.tool_name).toBe("real_tool");
    expect(m.resource.attributes.mcp_method).toBe("tools/call");
  });

  it("never lets a prompt argument named prompt_name overwrite it with an empty prefix", () => {
    const m = mapRequest(
      "prompts/get",
      { name: "real", arguments: { prompt_name: "other", mcp_method: "x" } },
      resolveMapping({ argumentPrefix: "" }),
    );
    expect(m.resource.attributes.prompt_name).toBe("real");
    expect(m.resource.attributes.mcp_method).toBe("prompts/get");
  });

  it("never lets an argument flattened through any prefix that starts a reserved name take it", () => {
    // Each prefix is the start of a reserved name, which an argument completes directly or
    // through a nested key: [prefix, arguments, reserved name, forged value].
    const cases: [string, Record<string, unknown>, string, string][] = [
      ["tool_", { name: "admin_tool" }, "tool_name", "admin_tool"],
      ["tool", { "": { name: "admin_tool" } }, "tool_name", "admin_tool"],
      ["mcp", { _method: "tools/list" }, "mcp_method", "tools/list"],
      ["arguments_", { truncated: "forged" }, "arguments_truncated", "forged"],
      ["resource_uri", { _raw: "file:///etc/shadow" }, "resource_uri_raw", "file:///etc/shadow"],
    ];
    for (const [prefix, args, reserved, forged] of cases) {
      const m = mapRequest(
        "tools/call",
        { name: "real_tool", arguments: args },
        resolveMapping({ argumentPrefix: prefix }),
      );
      expect(m.problem).toMatch(/ambiguous or reserved/);
      expect(m.resource.attributes[reserved]).not.toBe(forged);
      expect(m.resource.attributes.tool_name).toBe("real_tool");
      expect(m.resource.attributes.mcp_method).toBe("tools/call");
    }
    // A prefix no reserved name starts with flattens those keys as plain arguments.
    const plain = mapRequest(
      "tools/call",
      { name: "real_tool", arguments: { tool_name: "x", mcp_method: "y" } },
      resolveMapping(),
    );
    expect(plain.problem).toBeUndefined();
    expect(plain.resource.attributes).toMatchObject({ arg_tool_name: "x", arg_mcp_method: "y" });
  });

  it("never lets an argument forge the arguments_truncated flag with an empty prefix", () => {
    const m = mapRequest(
      "tools/call",
      { name: "t", arguments: { arguments_truncated: "forged" } },
      resolveMapping({ argumentPrefix: "" }),
    );
    expect(m.resource.attributes.arguments_truncated).not.toBe("forged");
  });
});

describe("ambiguous and overflowing arguments", () => {
  it("flags two arguments that flatten to the same attribute name", () => {
    const flat = flattenArguments({ filter: { owner: "bob" }, filter_owner: "alice" });
    expect(flat.ambiguous).toBe(true);
  });

  it("denies such a request without asking the PDP", () => {
    const m = resolveMapping();
    const mapped = mapRequest("tools/call", { name: "t", arguments: { a: { b: 1 }, a_b: 2 } }, m);
    expect(mapped.problem).toMatch(/ambiguous/);
  });

  it("denies by default when attributes had to be left out, and sends what fits on request", () => {
    const wide: Record<string, number> = {};
    for (let i = 0; i < 300; i++) wide[`k${i}`] = i;
    const args = { wide, path: "/etc/shadow" };
    expect(
      mapRequest("tools/call", { name: "t", arguments: args }, resolveMapping()).problem,
    ).toMatch(/limits/);
    const lenient = mapRequest(
      "tools/call",
      { name: "t", arguments: args },
      resolveMapping({ argumentOverflow: "truncate" }),
    );
    expect(lenient.problem).toBeUndefined();
    expect(lenient.resource.attributes.arguments_truncated).toBe(true);
  });

  it("denies by default a string longer than maxStringLength: a policy cannot judge what was cut", () => {
    const mapped = mapRequest(
      "tools/call",
      { name: "t", arguments: { body: "x".repeat(5000) } },
      resolveMapping(),
    );
    expect(mapped.problem).toMatch(/limits/);
    expect(mapped.resource.attributes.arguments_truncated).toBe(true);
    expect((mapped.resource.attributes.arg_body as string).length).toBe(1024);
  });

  it("only shortens a long string with argumentOverflow truncate (the old behaviour)", () => {
    const mapped = mapRequest(
      "tools/call",
      { name: "t", arguments: { body: "x".repeat(5000) } },
      resolveMapping({ argumentOverflow: "truncate" }),
    );
    expect(mapped.problem).toBeUndefined();
    expect(mapped.resource.attributes.arguments_truncated).toBe(true);
    expect((mapped.resource.attributes.arg_body as string).length).toBe(1024);
  });
});

describe("boundArguments", () => {
  it("copies arguments within the limits and says when it cut", () => {
    const big = {
      s: "y".repeat(5000),
      list: new Array(500).fill(1),
      deep: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } },
    };
    const { value, truncated } = boundArguments(big);
    expect(truncated).toBe(true);
    expect((value.s as string).length).toBe(1024);
    expect((value.list as unknown[]).length).toBe(64);
    expect(JSON.stringify(value).length).toBeLessThan(5000);
  });

  it("leaves small arguments whole", () => {
    const args = { id: "1", tags: ["a", "b"], nested: { x: 1 } };
    const { value, truncated } = boundArguments(args);
    expect(truncated).toBe(false);
    expect(JSON.parse(JSON.stringify(value))).toEqual(args);
  });
});
