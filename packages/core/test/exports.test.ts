import { describe, expect, it } from "vitest";

/** Names the public surface of `@mcp-pdp/core` must keep (more may be added). */
const REQUIRED_CORE_EXPORTS = [
  // model
  "allow",
  "deny",
  // errors
  "AuthorizationError",
  "ConfigError",
  "McpPdpError",
  "PdpError",
  "PolicyError",
  "describeError",
  "isMcpPdpError",
  // mapping
  "DEFAULT_BYPASS",
  "DEFAULT_SERVER_NAME",
  "LIST_METHODS",
  "flattenArguments",
  "globToRegExp",
  "isListMethod",
  "mapListItem",
  "mapRequest",
  "resolveMapping",
  "toolAction",
  // identity
  "ANONYMOUS",
  "authInfoIdentity",
  "defaultIdentity",
  "eunomiaIdentity",
  "firstIdentity",
  "fixedIdentity",
  "getHeader",
  "headerIdentity",
  "jwtIdentity",
  // audit
  "auditSubject",
  "decisionFields",
  "defaultAuditSink",
  "jsonLinesAuditSink",
  "noopAuditSink",
  "teeAuditSink",
  // components
  "ComponentRegistry",
  "metadataOf",
  // authorizer
  "Authorizer",
  "normalizeDecision",
  "safeCheck",
  "safeCheckMany",
  // combine
  "allOf",
  "anyOf",
  "firstApplicable",
  // env
  "MCP_PDP_ENV",
  "auditFromEnv",
  "envValue",
  "identityFromEnv",
  "mappingFromEnv",
  "readEnv",
  "readMcpPdpEnv",
] as const;

const REQUIRED_TESTING_EXPORTS = [
  "allowAll",
  "denyAll",
  "functionPdp",
  "memoryAuditSink",
  "recordingPdp",
] as const;

describe("@mcp-pdp/core public surface", () => {
  it("exports every required name with a defined value", async () => {
    const core = (await import("@mcp-pdp/core")) as Record<string, unknown>;
    const keys = Object.keys(core);
    const missing = REQUIRED_CORE_EXPORTS.filter((name) => !keys.includes(name));
    expect(missing).toEqual([]);
    for (const name of REQUIRED_CORE_EXPORTS) expect(core[name], name).toBeDefined();
  });

  it("keeps the test doubles out of the main entry point", async () => {
    const core = (await import("@mcp-pdp/core")) as Record<string, unknown>;
    for (const name of REQUIRED_TESTING_EXPORTS) expect(Object.keys(core)).not.toContain(name);
  });

  it("exports the test doubles from @mcp-pdp/core/testing", async () => {
    const testing = (await import("@mcp-pdp/core/testing")) as Record<string, unknown>;
    for (const name of REQUIRED_TESTING_EXPORTS)
      expect(typeof testing[name], name).toBe("function");
  });

  it("exports the same module instances as the source files", async () => {
    const core = await import("@mcp-pdp/core");
    const errors = await import("../src/errors.js");
    expect(core.ConfigError).toBe(errors.ConfigError);
  });
});

describe("errors", () => {
  it("carry a stable code, their class name and the cause", async () => {
    const { ConfigError, PdpError, PolicyError, McpPdpError } = await import("../src/errors.js");
    const cause = new Error("root");
    const config = new ConfigError("bad option", { cause });
    expect(config).toBeInstanceOf(McpPdpError);
    expect(config).toBeInstanceOf(Error);
    expect(config.code).toBe("CONFIG_INVALID");
    expect(config.name).toBe("ConfigError");
    expect(config.message).toBe("bad option");
    expect(config.cause).toBe(cause);
    expect(new PolicyError("p").code).toBe("POLICY_INVALID");
    const pdp = new PdpError("PDP_TIMEOUT", "slow");
    expect(pdp.code).toBe("PDP_TIMEOUT");
    expect(pdp.name).toBe("PdpError");
  });

  it("AuthorizationError defaults to Unauthorized", async () => {
    const { AuthorizationError, isMcpPdpError } = await import("../src/errors.js");
    const e = new AuthorizationError();
    expect(e.message).toBe("Unauthorized");
    expect(e.name).toBe("AuthorizationError");
    expect(new AuthorizationError("admins only").message).toBe("admins only");
    expect(isMcpPdpError(e)).toBe(false);
  });

  it("isMcpPdpError recognises errors of another copy of the module", async () => {
    const a = await import("../src/errors.js");
    // A query string makes the module loader evaluate a second, independent copy of the module,
    // as happens when two versions of the package are installed side by side.
    const copy = "../src/errors.js?copy";
    const b = (await import(/* @vite-ignore */ copy)) as typeof a;
    expect(b.ConfigError).not.toBe(a.ConfigError);
    const foreign = new b.ConfigError("from the other copy");
    expect(foreign instanceof a.McpPdpError).toBe(false);
    expect(a.isMcpPdpError(foreign)).toBe(true);
    expect(a.isMcpPdpError(new a.PdpError("PDP_ERROR", "x"))).toBe(true);
  });

  it("isMcpPdpError rejects look-alikes", async () => {
    const { isMcpPdpError } = await import("../src/errors.js");
    expect(isMcpPdpError(new Error("plain"))).toBe(false);
    expect(isMcpPdpError(Object.assign(new Error("x"), { code: "CONFIG_INVALID" }))).toBe(false);
    expect(isMcpPdpError({ code: "CONFIG_INVALID", message: "x" })).toBe(false);
    expect(isMcpPdpError(null)).toBe(false);
    expect(isMcpPdpError(undefined)).toBe(false);
  });

  it("describeError describes any thrown value", async () => {
    const { describeError } = await import("../src/errors.js");
    expect(describeError(new Error("boom"))).toBe("boom");
    expect(describeError("text")).toBe("text");
    expect(describeError(undefined)).toBe("undefined");
    expect(describeError(null)).toBe("null");
    expect(describeError(42)).toBe("42");
  });
});

describe("decision helpers", () => {
  it("build allow and deny decisions from the PDP", async () => {
    const { allow, deny } = await import("../src/model.js");
    expect(allow()).toEqual({ allow: true, source: "pdp" });
    expect(allow("rule 1", { decisionId: "d" })).toEqual({
      allow: true,
      source: "pdp",
      reason: "rule 1",
      decisionId: "d",
    });
    expect(deny()).toEqual({ allow: false, source: "pdp" });
    expect(deny("no", { source: "cache" })).toEqual({
      allow: false,
      source: "cache",
      reason: "no",
    });
  });
});
