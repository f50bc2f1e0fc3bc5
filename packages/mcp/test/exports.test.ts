import { describe, expect, it } from "vitest";

describe("@mcp-pdp/mcp public surface", () => {
  it("exports exactly the guard and authorize entry points", async () => {
    const mod = await import("@mcp-pdp/mcp");
    expect(Object.keys(mod).sort()).toEqual([
      "GuardedTransport",
      "TaskBindings",
      "TransportDecorator",
      "UNAUTHORIZED_CODE",
      "authorize",
      "authorizeFactory",
      "guardListen",
      "guardTransport",
      "identityChallenge",
      "subjectKey",
    ]);
  });
});

describe("@mcp-pdp/mcp/fastmcp public surface", () => {
  it("exports exactly the FastMCP entry points", async () => {
    const mod = await import("@mcp-pdp/mcp/fastmcp");
    expect(Object.keys(mod).sort()).toEqual(["authorizeFastMCP", "defaultSubject", "forwardAuth"]);
  });
});
