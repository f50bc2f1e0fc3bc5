import { describe, expect, it } from "vitest";
import { mapRequest, resolveMapping } from "../src/index.js";

const mapping = resolveMapping({ serverName: "demo" });

describe("default mapping of the 2026-07-28 methods", () => {
  it("bypasses server/discover, the 2026-07-28 handshake", () => {
    expect(mapping.isBypassed("server/discover")).toBe(true);
  });

  it("maps subscriptions/listen to a listen of the canonical URIs it subscribes to", () => {
    const mapped = mapRequest(
      "subscriptions/listen",
      {
        notifications: {
          toolsListChanged: true,
          resourceSubscriptions: ["DOCS://a/b/../readme", "docs://secret"],
        },
      },
      mapping,
    );
    expect(mapped).toEqual({
      operation: { method: "subscriptions/listen", phase: "call", server: "demo" },
      resource: {
        type: "demo_subscriptions",
        attributes: {
          mcp_method: "subscriptions/listen",
          resource_uris: ["docs://a/readme", "docs://secret"],
          tools_list_changed: true,
        },
      },
      action: "listen",
    });
  });

  it("refuses to decide a listen naming a resource that is not a URI", () => {
    const mapped = mapRequest(
      "subscriptions/listen",
      { notifications: { resourceSubscriptions: ["not a uri"] } },
      mapping,
    );
    expect(mapped.problem).toBe("subscribed: the resource URI is not a valid URI");
  });

  it("refuses to decide a listen naming an ambiguous or oversized URI, or too many resources", () => {
    const listen = (uris: unknown[]) =>
      mapRequest(
        "subscriptions/listen",
        { notifications: { resourceSubscriptions: uris } },
        mapping,
      ).problem;
    expect(listen(["docs://host/a\\..\\secret"])).toMatch(/backslash/);
    expect(listen([`docs://${"a".repeat(5000)}`])).toMatch(/longer than 4096/);
    expect(listen([42])).toBe("a subscribed resource URI is not a string");
    expect(listen(Array.from({ length: 257 }, (_, i) => `docs://r${i}`))).toBe(
      "a listen subscribes to more than 256 resources",
    );
    expect(listen(Array.from({ length: 256 }, (_, i) => `docs://r${i}`))).toBeUndefined();
  });

  it("refuses to decide a task method naming an oversized task id", () => {
    expect(mapRequest("tasks/get", { taskId: "t".repeat(257) }, mapping).problem).toBe(
      "the task id is longer than 256 characters",
    );
  });

  it("maps each tasks method to the task it names", () => {
    for (const [method, action] of [
      ["tasks/get", "get"],
      ["tasks/result", "result"],
      ["tasks/cancel", "cancel"],
    ] as const) {
      expect(mapRequest(method, { taskId: "t-1" }, mapping)).toEqual({
        operation: { method, phase: "call", server: "demo" },
        resource: {
          type: "demo_tasks",
          key: "t-1",
          attributes: { mcp_method: method, task_id: "t-1" },
        },
        action,
      });
    }
    expect(mapRequest("tasks/list", {}, mapping)).toMatchObject({
      resource: { type: "demo_tasks", attributes: { mcp_method: "tasks/list" } },
      action: "list",
    });
  });

  it("prefixes the new actions like every other one", () => {
    const prefixed = resolveMapping({ serverName: "demo", actionPrefix: "mcp:" });
    expect(mapRequest("tasks/get", { taskId: "t" }, prefixed).action).toBe("mcp:get");
    expect(mapRequest("subscriptions/listen", { notifications: {} }, prefixed).action).toBe(
      "mcp:listen",
    );
  });
});
