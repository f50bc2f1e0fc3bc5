import { Authorizer, ConfigError, type RequestContext } from "@mcp-pdp/core";
import { memoryAuditSink } from "@mcp-pdp/core/testing";
import { SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type PermitFake, startPermitFake } from "../../../test/fakes/permit.js";
import {
  type PermitAuthorizeOptions,
  permitFromEnv,
  permitMappingFromEnv,
  permitOptionsFromEnv,
  readPermitEnv,
} from "../src/index.js";

const KEY = "permit_env_key_42424242";
let fake: PermitFake;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  fake = await startPermitFake({ apiKey: KEY, policy: () => true });
});
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
  fake.reset();
});
afterAll(() => fake.close());

function options(env: Record<string, string>): PermitAuthorizeOptions {
  const o = permitOptionsFromEnv(
    {},
    {
      PERMIT_PDP_URL: fake.url,
      PERMIT_API_KEY: KEY,
      PERMIT_MCP_ENABLE_AUDIT_LOGGING: "false",
      ...env,
    },
  );
  closers.push(() => o.pdp.close());
  return o;
}

async function decide(o: PermitAuthorizeOptions, context: RequestContext, tool = "greet") {
  const authorizer = new Authorizer({ ...o, audit: false });
  return authorizer.authorize("tools/call", { name: tool, arguments: { who: "x" } }, context);
}

describe("permitFromEnv", () => {
  it("reads the PDP URL, key and timeout; constructor options win", async () => {
    const pdp = permitFromEnv({}, { PERMIT_PDP_URL: fake.url, PERMIT_API_KEY: KEY });
    closers.push(() => pdp.close());
    expect(await pdp.healthy()).toBe(true);
    const overridden = permitFromEnv(
      { url: fake.url, name: "mine" },
      { PERMIT_PDP_URL: "http://127.0.0.1:1", PERMIT_API_KEY: KEY },
    );
    closers.push(() => overridden.close());
    expect(overridden.name).toBe("mine");
    expect((await overridden.check(request())).allow).toBe(true);
    expect(fake.requests.at(-1)?.headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it("accepts permit-fastmcp's spellings of the URL and key", async () => {
    const pdp = permitFromEnv(
      {},
      { PERMIT_MCP_PERMIT_PDP_URL: fake.url, PERMIT_MCP_PERMIT_API_KEY: KEY },
    );
    closers.push(() => pdp.close());
    expect((await pdp.check(request())).allow).toBe(true);
  });

  it("fails at start-up naming the variable", () => {
    expect(() => permitFromEnv({}, {})).toThrow(/PERMIT_API_KEY/);
    expect(() => permitFromEnv({}, { PERMIT_API_KEY: "" })).toThrow(/PERMIT_API_KEY/);
    expect(() => permitFromEnv({}, { PERMIT_API_KEY: "k", PERMIT_PDP_URL: "nope" })).toThrow(
      /PERMIT_PDP_URL/,
    );
    expect(() => permitFromEnv({}, { PERMIT_API_KEY: "k", PERMIT_PDP_TIMEOUT_MS: "soon" })).toThrow(
      /PERMIT_PDP_TIMEOUT_MS/,
    );
  });

  it("never puts the key in a configuration error", () => {
    try {
      permitFromEnv(
        {},
        { PERMIT_API_KEY: KEY, PERMIT_PDP_URL: "ftp://x", PERMIT_PDP_TIMEOUT_MS: "-1" },
      );
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect(String(error)).not.toContain(KEY);
    }
  });
});

function request() {
  return {
    subject: { id: "alice", authenticated: true },
    operation: { method: "tools/call", phase: "call" as const, server: "s", name: "x" },
    resource: { type: "s", attributes: {} },
    action: "x",
  };
}

describe("permitOptionsFromEnv: mapping", () => {
  it("defaults to permit-fastmcp's mapping", async () => {
    const o = options({});
    expect(o.mapping).toEqual({ toolNames: "raw" });
    await decide(o, {});
    const q = fake.queries()[0]!;
    expect(q.resource.type).toBe("mcp_server");
    expect(q.action).toBe("greet");
    expect(q.resource.attributes).toMatchObject({ arg_who: "x", tool_name: "greet" });
  });

  it("applies every mapping variable", async () => {
    const o = options({
      PERMIT_MCP_MCP_SERVER_NAME: "notes",
      PERMIT_MCP_ACTION_PREFIX: "do_",
      PERMIT_MCP_RESOURCE_PREFIX: "",
      PERMIT_MCP_PREFIX_RESOURCE_WITH_SERVER_NAME: "false",
      PERMIT_MCP_FLATTEN_TOOL_ARGUMENTS: "true",
      PERMIT_MCP_TOOL_ARGUMENT_PREFIX: "in_",
      PERMIT_MCP_BYPASSED_METHODS: '["initialize","ping","tools/call"]',
    });
    expect(o.mapping).toEqual({
      toolNames: "raw",
      serverName: "notes",
      actionPrefix: "do_",
      resourcePrefix: "",
      prefixResourceWithServerName: false,
      flattenArguments: true,
      argumentPrefix: "in_",
      bypass: ["initialize", "ping", "tools/call"],
    });
    const authorizer = new Authorizer({ ...o, audit: false });
    expect(await authorizer.authorize("tools/call", { name: "x" }, {})).toEqual({ kind: "bypass" });
    await authorizer.authorize("resources/read", { uri: "notes://1" }, {});
    expect(fake.queries()[0]).toMatchObject({
      action: "do_read",
      resource: { type: "resources", key: "notes://1" },
    });
  });

  it("sends tool names as they are unless MCP_PDP_TOOL_NAMES says otherwise", () => {
    expect(permitMappingFromEnv({}).toolNames).toBe("raw");
    expect(permitMappingFromEnv({ MCP_PDP_TOOL_NAMES: "normalize" }).toolNames).toBe("normalize");
    expect(() => permitMappingFromEnv({ MCP_PDP_TOOL_NAMES: "lower" })).toThrow(
      /MCP_PDP_TOOL_NAMES/,
    );
  });

  it("turns flattening off and falls back to MCP_SERVER_NAME", () => {
    expect(
      permitMappingFromEnv({ MCP_SERVER_NAME: "srv", PERMIT_MCP_FLATTEN_TOOL_ARGUMENTS: "0" }),
    ).toEqual({ toolNames: "raw", serverName: "srv", flattenArguments: false });
  });

  it("names the variable of a bad value", () => {
    expect(() => permitMappingFromEnv({ PERMIT_MCP_BYPASSED_METHODS: "[not json" })).toThrow(
      /PERMIT_MCP_BYPASSED_METHODS/,
    );
    expect(() => permitMappingFromEnv({ PERMIT_MCP_FLATTEN_TOOL_ARGUMENTS: "maybe" })).toThrow(
      /PERMIT_MCP_FLATTEN_TOOL_ARGUMENTS/,
    );
    expect(() => permitMappingFromEnv({ PERMIT_MCP_KNOWN_METHODS: "[1,2]" })).toThrow(
      /PERMIT_MCP_KNOWN_METHODS/,
    );
    expect(() => permitMappingFromEnv({ PERMIT_MCP_TOOL_ARGUMENT_PREFIX: "" })).toThrow(
      /PERMIT_MCP_TOOL_ARGUMENT_PREFIX/,
    );
    expect(
      readPermitEnv({ PERMIT_MCP_KNOWN_METHODS: '["tools/call"]' }).PERMIT_MCP_KNOWN_METHODS,
    ).toEqual(["tools/call"]);
  });
});

describe("permitOptionsFromEnv: identity", () => {
  it("is the fixed identity `client` by default", async () => {
    await decide(options({}), {});
    expect(fake.queries()[0]?.user.key).toBe("client");
    await decide(options({ PERMIT_MCP_IDENTITY_FIXED_VALUE: "ops" }), {});
    expect(fake.queries()[1]?.user.key).toBe("ops");
  });

  it("sends the whole Authorization value as the user key in header mode but never audits it", async () => {
    const token = "tok_permit_user_0123456789";
    const o = options({ PERMIT_MCP_IDENTITY_MODE: "header" });
    const audit = memoryAuditSink();
    const authorizer = new Authorizer({ ...o, audit });
    const context = { headers: { authorization: `Bearer ${token}` } };
    await authorizer.authorize("tools/call", { name: "greet" }, context);
    const subject = await authorizer.resolveSubject(context);
    await authorizer.filterList("tools/list", { tools: [{ name: "greet" }] }, context, subject);
    expect(fake.queries().map((q) => q.user.key)).toEqual([`Bearer ${token}`, `Bearer ${token}`]);
    expect(audit.events).toHaveLength(3);
    expect(JSON.stringify(audit.events)).not.toContain(token);
    expect(audit.events[0]?.subject.id).toMatch(/^sha256:[0-9a-f]{32}$/);
  });

  it("denies a caller without the header without asking Permit", async () => {
    const result = await decide(options({ PERMIT_MCP_IDENTITY_MODE: "header" }), {});
    expect(result).toMatchObject({ kind: "decided", decision: { allow: false } });
    expect(fake.requests).toHaveLength(0);
  });

  it("verifies an HS256 JWT and denies a bad one instead of guessing a user", async () => {
    const secret = "a-long-enough-hmac-secret-for-tests";
    const o = options({
      PERMIT_MCP_IDENTITY_MODE: "jwt",
      PERMIT_MCP_IDENTITY_JWT_SECRET: secret,
      PERMIT_MCP_IDENTITY_JWT_FIELD: "email",
      PERMIT_MCP_JWT_ALGORITHMS: '["HS256"]',
    });
    const token = await new SignJWT({ email: "dave@example.com" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(secret));
    await decide(o, { headers: { authorization: `Bearer ${token}` } });
    expect(fake.queries()[0]?.user.key).toBe("dave@example.com");
    const forged = await new SignJWT({ email: "eve@example.com" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode("another-secret-entirely-0000"));
    const denied = await decide(o, { headers: { authorization: `Bearer ${forged}` } });
    expect(denied).toMatchObject({ kind: "decided", decision: { allow: false } });
    expect(fake.queries()).toHaveLength(1);
  });

  it("defaults to HS256 for a secret when JWT_ALGORITHMS is unset", async () => {
    const secret = "another-long-enough-hmac-secret-32";
    const o = options({ PERMIT_MCP_IDENTITY_MODE: "jwt", PERMIT_MCP_IDENTITY_JWT_SECRET: secret });
    const token = await new SignJWT({ sub: "frank" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(secret));
    await decide(o, { headers: { authorization: `Bearer ${token}` } });
    expect(fake.queries()[0]?.user.key).toBe("frank");
  });

  it("refuses an empty JWT secret and mixed HMAC/RSA algorithms, naming the variable", () => {
    const jwt = { PERMIT_PDP_URL: fake.url, PERMIT_API_KEY: KEY, PERMIT_MCP_IDENTITY_MODE: "jwt" };
    expect(() => permitOptionsFromEnv({}, jwt)).toThrow(/PERMIT_MCP_IDENTITY_JWT_SECRET/);
    expect(() => permitOptionsFromEnv({}, { ...jwt, PERMIT_MCP_IDENTITY_JWT_SECRET: "" })).toThrow(
      /PERMIT_MCP_IDENTITY_JWT_SECRET/,
    );
    expect(() =>
      permitOptionsFromEnv(
        {},
        {
          ...jwt,
          PERMIT_MCP_IDENTITY_JWT_SECRET: "s3cret-value",
          PERMIT_MCP_JWT_ALGORITHMS: '["HS256","RS256"]',
        },
      ),
    ).toThrow(/PERMIT_MCP_JWT_ALGORITHMS.*algorithm confusion/);
    expect(() =>
      permitOptionsFromEnv(
        {},
        {
          ...jwt,
          PERMIT_MCP_IDENTITY_JWT_SECRET: "s3cret-value",
          PERMIT_MCP_JWT_ALGORITHMS: '["RS256"]',
        },
      ),
    ).toThrow(/PERMIT_MCP_JWT_ALGORITHMS/);
    expect(() =>
      permitOptionsFromEnv(
        {},
        {
          ...jwt,
          PERMIT_MCP_IDENTITY_JWT_SECRET: "s3cret-value",
          PERMIT_MCP_JWT_ALGORITHMS: "HS999",
        },
      ),
    ).toThrow(/PERMIT_MCP_JWT_ALGORITHMS: unknown algorithm HS999/);
    try {
      permitOptionsFromEnv(
        {},
        {
          ...jwt,
          PERMIT_MCP_IDENTITY_JWT_SECRET: "s3cret-value",
          PERMIT_MCP_JWT_ALGORITHMS: '["HS256","RS256"]',
        },
      );
    } catch (error) {
      expect(String(error)).not.toContain("s3cret-value");
    }
  });

  it("matches PERMIT_MCP_IDENTITY_HEADER_REGEX at the start of the header, and ignores the transport's auth info", async () => {
    const secret = "a-long-enough-hmac-secret-for-tests";
    const o = options({
      PERMIT_MCP_IDENTITY_MODE: "jwt",
      PERMIT_MCP_IDENTITY_JWT_SECRET: secret,
      PERMIT_MCP_IDENTITY_HEADER: "X-Auth",
      PERMIT_MCP_IDENTITY_HEADER_REGEX: "Token (\\S+)",
    });
    const token = await new SignJWT({ sub: "frank" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(secret));
    const refused = [
      { headers: { "x-auth": `Basic x Token ${token}` } },
      // permit-fastmcp reads only the configured header: a verified bearer token elsewhere is not it.
      { headers: { authorization: `Bearer ${token}` } },
      { authInfo: { token, clientId: "c", scopes: [] } },
    ];
    for (const context of refused) {
      const outcome = await decide(o, context);
      expect(outcome).toMatchObject({ kind: "decided", decision: { allow: false } });
    }
    expect(fake.requests).toHaveLength(0);
    await decide(o, { headers: { "x-auth": `Token ${token}` } });
    expect(fake.queries().map((q) => q.user.key)).toEqual(["frank"]);
  });

  it("refuses a header pattern without a capture group, naming the variable", () => {
    expect(() =>
      permitOptionsFromEnv(
        {},
        {
          PERMIT_PDP_URL: fake.url,
          PERMIT_API_KEY: KEY,
          PERMIT_MCP_IDENTITY_MODE: "jwt",
          PERMIT_MCP_IDENTITY_JWT_SECRET: "a-long-enough-hmac-secret-for-tests",
          PERMIT_MCP_IDENTITY_HEADER_REGEX: "Bearer \\S+",
        },
      ),
    ).toThrow(/^PERMIT_MCP_IDENTITY_HEADER_REGEX: .*no capture group/);
  });

  it("refuses an invalid header pattern and an unknown mode, naming the variable", () => {
    const base = { PERMIT_PDP_URL: fake.url, PERMIT_API_KEY: KEY };
    expect(() =>
      permitOptionsFromEnv(
        {},
        {
          ...base,
          PERMIT_MCP_IDENTITY_MODE: "jwt",
          PERMIT_MCP_IDENTITY_JWT_SECRET: "a-long-enough-hmac-secret-for-tests",
          PERMIT_MCP_IDENTITY_HEADER_REGEX: "([",
        },
      ),
    ).toThrow(/PERMIT_MCP_IDENTITY_HEADER_REGEX/);
    expect(() => permitOptionsFromEnv({}, { ...base, PERMIT_MCP_IDENTITY_MODE: "oauth" })).toThrow(
      /PERMIT_MCP_IDENTITY_MODE/,
    );
  });

  it("takes the transport's auth info in source mode", async () => {
    const o = options({ PERMIT_MCP_IDENTITY_MODE: "source" });
    await decide(o, { authInfo: { token: "t", clientId: "client-7", scopes: ["notes:read"] } });
    expect(fake.queries()[0]?.user).toMatchObject({
      key: "client-7",
      attributes: { client_id: "client-7", scopes: ["notes:read"] },
    });
    await decide(o, {});
    expect(fake.queries()).toHaveLength(1);
  });
});

describe("permitOptionsFromEnv: audit", () => {
  it("logs by default and turns off with ENABLE_AUDIT_LOGGING=false", () => {
    expect(options({ PERMIT_MCP_ENABLE_AUDIT_LOGGING: "true" }).audit).not.toBe(false);
    const byDefault = permitOptionsFromEnv({}, { PERMIT_PDP_URL: fake.url, PERMIT_API_KEY: KEY });
    closers.push(() => byDefault.pdp.close());
    expect(byDefault.audit).not.toBe(false);
    expect(options({ PERMIT_MCP_ENABLE_AUDIT_LOGGING: "false" }).audit).toBe(false);
    expect(() => options({ PERMIT_MCP_ENABLE_AUDIT_LOGGING: "sometimes" })).toThrow(
      /PERMIT_MCP_ENABLE_AUDIT_LOGGING/,
    );
  });
});
