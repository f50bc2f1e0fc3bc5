import { describe, expect, it } from "vitest";
import { ComponentRegistry, MAX_REMEMBERED_COMPONENTS, metadataOf } from "../src/components.js";

describe("metadataOf", () => {
  it("reads title, description, annotations, _meta and _meta.tags", () => {
    expect(
      metadataOf({
        name: "delete_all",
        title: "Delete all",
        description: "Deletes everything",
        annotations: { destructiveHint: true },
        _meta: { tags: ["admin", "danger"], other: 1 },
        inputSchema: { type: "object" },
      }),
    ).toEqual({
      title: "Delete all",
      description: "Deletes everything",
      annotations: { destructiveHint: true },
      meta: { tags: ["admin", "danger"], other: 1 },
      tags: ["admin", "danger"],
    });
  });

  it('reads tags from _meta["mcp-pdp/tags"]', () => {
    expect(metadataOf({ name: "t", _meta: { "mcp-pdp/tags": ["a", "b"] } })?.tags).toEqual([
      "a",
      "b",
    ]);
  });

  it("reads tags from FastMCP's _meta._fastmcp.tags and from a top-level tags field", () => {
    expect(metadataOf({ _meta: { _fastmcp: { tags: ["fm"] } } })?.tags).toEqual(["fm"]);
    expect(metadataOf({ tags: ["top"] })?.tags).toEqual(["top"]);
  });

  it("keeps only string tags", () => {
    expect(metadataOf({ _meta: { tags: ["a", 1, null, { x: 1 }, "b"] } })?.tags).toEqual([
      "a",
      "b",
    ]);
  });

  it("ignores fields of the wrong type", () => {
    expect(
      metadataOf({ title: 1, description: null, annotations: "x", _meta: ["array"], tags: "a" }),
    ).toEqual({});
  });

  it("gives undefined for an item that is not an object", () => {
    expect(metadataOf(null)).toBeUndefined();
    expect(metadataOf("tool")).toBeUndefined();
    expect(metadataOf([{ name: "x" }])).toBeUndefined();
  });
});

describe("ComponentRegistry", () => {
  it("keeps metadata per kind and id", () => {
    const registry = new ComponentRegistry();
    registry.set("tool", "x", { title: "tool x" });
    registry.set("prompt", "x", { title: "prompt x" });
    expect(registry.get("tool", "x")?.title).toBe("tool x");
    expect(registry.get("prompt", "x")?.title).toBe("prompt x");
    expect(registry.get("resource", "x")).toBeUndefined();
  });

  it("remembers tools and prompts by name, resources by uri and templates by uri template", () => {
    const registry = new ComponentRegistry();
    registry.remember("tool", [{ name: "t", title: "T" }, { title: "no name" }, null]);
    registry.remember("prompt", [{ name: "p", description: "P" }]);
    registry.remember("resource", [{ uri: "file:///a", name: "a", title: "A" }]);
    registry.remember("resource_template", [{ uriTemplate: "file:///{x}", name: "x", title: "X" }]);
    expect(registry.get("tool", "t")?.title).toBe("T");
    expect(registry.get("prompt", "p")?.description).toBe("P");
    expect(registry.get("resource", "file:///a")?.title).toBe("A");
    expect(registry.get("resource", "a")).toBeUndefined();
    expect(registry.get("resource_template", "file:///{x}")?.title).toBe("X");
  });

  it("replaces what it knew when a later list says otherwise", () => {
    const registry = new ComponentRegistry();
    registry.remember("tool", [{ name: "t", _meta: { tags: ["old"] } }]);
    registry.remember("tool", [{ name: "t", _meta: { tags: ["new"] } }]);
    expect(registry.get("tool", "t")?.tags).toEqual(["new"]);
  });

  it("does not confuse ids that share a prefix with a kind", () => {
    const registry = new ComponentRegistry();
    registry.set("tool", "a", { title: "1" });
    expect(registry.get("tool", "a\0")).toBeUndefined();
    expect(registry.get("tool", "")).toBeUndefined();
  });

  it("prefers the live registration to what an earlier list said", () => {
    const registry = new ComponentRegistry();
    let tags = ["old"];
    registry.setFallback((kind, id) => (id === "t" ? { tags } : undefined));
    registry.remember("tool", [{ name: "t", _meta: { tags: ["old"] } }]);
    tags = ["admin"]; // tool.update({ _meta: { tags: ["admin"] } })
    expect(registry.get("tool", "t")?.tags).toEqual(["admin"]);
  });

  it("uses what a list said when the registrations do not know the component", () => {
    const registry = new ComponentRegistry();
    const asked: string[] = [];
    registry.setFallback((kind, id) => {
      asked.push(`${kind}:${id}`);
      return id === "registered" ? { title: "from registration" } : undefined;
    });
    registry.set("tool", "listed", { title: "from list" });
    expect(registry.get("tool", "listed")?.title).toBe("from list");
    expect(registry.get("tool", "registered")?.title).toBe("from registration");
    expect(registry.get("tool", "unknown")).toBeUndefined();
    expect(asked).toEqual(["tool:listed", "tool:registered", "tool:unknown"]);
  });

  it("remembers at most MAX_REMEMBERED_COMPONENTS, forgetting the least recently used", () => {
    const registry = new ComponentRegistry();
    const items = Array.from({ length: MAX_REMEMBERED_COMPONENTS + 500 }, (_, i) => ({
      uri: `file:///r${i}`,
      title: `r${i}`,
    }));
    registry.remember("resource", items.slice(0, 1));
    registry.remember("resource", items.slice(1, 1000));
    expect(registry.get("resource", "file:///r0")?.title).toBe("r0"); // recently used: kept
    registry.remember("resource", items.slice(1000));
    expect(registry.get("resource", "file:///r0")?.title).toBe("r0");
    expect(registry.get("resource", "file:///r1")).toBeUndefined();
    expect(registry.get("resource", `file:///r${items.length - 1}`)?.title).toBe(
      `r${items.length - 1}`,
    );
  });

  it("forgets everything on clear", () => {
    const registry = new ComponentRegistry();
    registry.remember("tool", [{ name: "t", title: "T" }]);
    registry.clear();
    expect(registry.get("tool", "t")).toBeUndefined();
  });
});
