import { ConfigError } from "@mcp-pdp/core";
import { describe, expect, it } from "vitest";
import { cerbosFromEnv, cerbosOptionsFromEnv, cerbosPdp } from "../src/index.js";

const SECRET = "s3cr3t-token-value";

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a throw");
}

describe("cerbosOptionsFromEnv", () => {
  it("reads every CERBOS_* variable", () => {
    expect(
      cerbosOptionsFromEnv({
        CERBOS_URL: "http://cerbos.internal:3592/",
        CERBOS_HEADERS: '{"X-Api-Key":"k1"}',
        CERBOS_TIMEOUT_MS: "250",
        CERBOS_MAX_RESOURCES_PER_REQUEST: "20",
        CERBOS_SCHEME: "neutral",
        CERBOS_KIND_PREFIX: "notes_",
        CERBOS_PREFIX_KIND_WITH_SERVER: "true",
        CERBOS_DEFAULT_ROLES: "guest,visitor",
        CERBOS_POLICY_VERSION: "v2",
        CERBOS_SCOPE: "acme",
      }),
    ).toEqual({
      url: "http://cerbos.internal:3592",
      headers: { "x-api-key": "k1" },
      timeoutMs: 250,
      maxResourcesPerRequest: 20,
      scheme: "neutral",
      kindPrefix: "notes_",
      prefixKindWithServer: true,
      defaultRoles: ["guest", "visitor"],
      policyVersion: "v2",
      scope: "acme",
    });
  });

  it("reads nothing from an empty environment", () => {
    expect(cerbosOptionsFromEnv({})).toEqual({});
    expect(cerbosOptionsFromEnv({ CERBOS_URL: "  " })).toEqual({});
  });

  it("reads CERBOS_HEADERS as name=value pairs", () => {
    expect(
      cerbosOptionsFromEnv({ CERBOS_HEADERS: "x-api-key=abc=def, X-Tenant = acme" }).headers,
    ).toEqual({ "x-api-key": "abc=def", "x-tenant": "acme" });
  });

  it("names the variable of a bad value", () => {
    expect(() => cerbosOptionsFromEnv({ CERBOS_URL: "ftp://x" })).toThrow(/CERBOS_URL/);
    expect(() => cerbosOptionsFromEnv({ CERBOS_TIMEOUT_MS: "soon" })).toThrow(/CERBOS_TIMEOUT_MS/);
    expect(() => cerbosOptionsFromEnv({ CERBOS_MAX_RESOURCES_PER_REQUEST: "0" })).toThrow(
      /CERBOS_MAX_RESOURCES_PER_REQUEST/,
    );
    expect(() => cerbosOptionsFromEnv({ CERBOS_SCHEME: "permit" })).toThrow(/CERBOS_SCHEME/);
    expect(() => cerbosOptionsFromEnv({ CERBOS_PREFIX_KIND_WITH_SERVER: "maybe" })).toThrow(
      /CERBOS_PREFIX_KIND_WITH_SERVER/,
    );
    expect(() => cerbosOptionsFromEnv({ CERBOS_DEFAULT_ROLES: "[]" })).toThrow(
      /CERBOS_DEFAULT_ROLES/,
    );
  });

  it("rejects bad CERBOS_HEADERS without repeating the value", () => {
    const cases = [
      `{"x-api-key": ${SECRET}}`,
      `{"x-api-key": ["${SECRET}"]}`,
      SECRET,
      `bad name=${SECRET}`,
    ];
    for (const value of cases) {
      const error = thrown(() => cerbosOptionsFromEnv({ CERBOS_HEADERS: value }));
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toMatch(/CERBOS_HEADERS/);
      expect(error.message).not.toContain(SECRET);
    }
  });
});

describe("option validation", () => {
  it("rejects bad options with the option's name", () => {
    expect(() => cerbosPdp({ url: "not a url" })).toThrow(/cerbos\.url/);
    expect(() => cerbosPdp({ url: "//cerbos?token=tok_4f9a" })).toThrow(
      /^cerbos\.url must be an http\(s\) URL such as http:\/\/localhost:3592$/,
    );
    expect(() => cerbosPdp({ url: "ftp://cerbos" })).toThrow(/cerbos\.url/);
    expect(() => cerbosPdp({ maxResourcesPerRequest: 0 })).toThrow(
      /cerbos: maxResourcesPerRequest must be an integer of at least 1/,
    );
    expect(() => cerbosPdp({ timeoutMs: 1.5 })).toThrow(
      /cerbos: timeoutMs must be an integer of at least 1/,
    );
    expect(() => cerbosPdp({ connections: -1 })).toThrow(
      /cerbos: connections must be an integer of at least 1/,
    );
  });

  it("refuses credentials in the URL without repeating them", () => {
    const error = thrown(() => cerbosPdp({ url: `http://user:${SECRET}@cerbos:3592` }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).not.toContain(SECRET);
  });

  it("refuses a multi-line header value without repeating it", () => {
    const error = thrown(() => cerbosPdp({ headers: { "x-api-key": `${SECRET}\r\nx: y` } }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/x-api-key/);
    expect(error.message).not.toContain(SECRET);
  });

  it("builds a PDP named cerbos from the environment, options winning", async () => {
    const pdp = cerbosFromEnv({ name: "policy" }, { CERBOS_URL: "http://127.0.0.1:1" });
    expect(pdp.name).toBe("policy");
    expect(typeof pdp.checkMany).toBe("function");
    await pdp.close?.();
    const fromEnv = cerbosFromEnv({}, {});
    expect(fromEnv.name).toBe("cerbos");
    await fromEnv.close?.();
  });
});
