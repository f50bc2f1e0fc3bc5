import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuditEvent, noopAuditSink } from "../src/audit.js";
import {
  auditFromEnv,
  envValue,
  identityFromEnv,
  mappingFromEnv,
  readEnv,
  readMcpPdpEnv,
} from "../src/env.js";
import { ConfigError } from "../src/errors.js";
import { mapRequest, resolveMapping } from "../src/mapping.js";

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe("CONFIG_INVALID");
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("readEnv", () => {
  it("reads the boolean forms true/1/yes/on and false/0/no/off, case-insensitively", () => {
    const shape = { B: envValue.boolean() };
    for (const v of ["true", "1", "yes", "on", "TRUE", " On "]) {
      expect(readEnv(shape, { B: v }).B, v).toBe(true);
    }
    for (const v of ["false", "0", "no", "off", "False", " OFF"]) {
      expect(readEnv(shape, { B: v }).B, v).toBe(false);
    }
  });

  it("rejects a boolean that is neither, naming the variable", () => {
    const error = configError(() => readEnv({ MY_FLAG: envValue.boolean() }, { MY_FLAG: "maybe" }));
    expect(error.message).toContain("MY_FLAG");
    expect(error.message).toContain("maybe");
  });

  it("reads integers within bounds", () => {
    const shape = { N: envValue.integer(1, 10) };
    expect(readEnv(shape, { N: "1" }).N).toBe(1);
    expect(readEnv(shape, { N: " 10 " }).N).toBe(10);
    expect(readEnv({ N: envValue.integer() }, { N: "0" }).N).toBe(0);
  });

  it.each(["0", "11", "-1", "1.5", "abc", "12abc", "1e1", "0x5", "Infinity", "NaN"])(
    "rejects the integer %j, naming the variable and the bounds",
    (value) => {
      const error = configError(() =>
        readEnv({ TIMEOUT_MS: envValue.integer(1, 10) }, { TIMEOUT_MS: value }),
      );
      expect(error.message).toContain("TIMEOUT_MS");
      expect(error.message).toContain("from 1 to 10");
    },
  );

  it("reads a list as a JSON array or as comma-separated values", () => {
    const shape = { L: envValue.list() };
    expect(readEnv(shape, { L: '["initialize", "ping"]' }).L).toEqual(["initialize", "ping"]);
    expect(readEnv(shape, { L: " [] " }).L).toEqual([]);
    expect(readEnv(shape, { L: "a, b ,c" }).L).toEqual(["a", "b", "c"]);
    expect(readEnv(shape, { L: "single" }).L).toEqual(["single"]);
  });

  it("rejects a JSON list that is invalid or holds non-strings", () => {
    for (const value of ['["a", 1]', "[not json", '[{"a":1}]']) {
      const error = configError(() => readEnv({ MY_LIST: envValue.list() }, { MY_LIST: value }));
      expect(error.message).toContain("MY_LIST");
    }
  });

  it("reads an http(s) URL without its trailing slash", () => {
    const shape = { U: envValue.url() };
    expect(readEnv(shape, { U: "http://localhost:7766/" }).U).toBe("http://localhost:7766");
    expect(readEnv(shape, { U: " https://pdp.example.com/v1 " }).U).toBe(
      "https://pdp.example.com/v1",
    );
  });

  it("rejects a URL that is not http(s) or not a URL", () => {
    for (const value of ["ftp://host", "localhost:7766", "not a url", "file:///etc/passwd"]) {
      const error = configError(() => readEnv({ PDP_URL: envValue.url() }, { PDP_URL: value }));
      expect(error.message).toContain("PDP_URL");
      expect(error.message).toContain("http(s) URL");
    }
  });

  it("never repeats a bad URL, which may carry a token", () => {
    for (const value of ["htps://pdp:tok_4f9a@host", "localhost:8181/?token=tok_4f9a"]) {
      const error = configError(() => readEnv({ PDP_URL: envValue.url() }, { PDP_URL: value }));
      expect(error.message).toBe(
        "Invalid environment variable: PDP_URL: expected an http(s) URL such as http://localhost:8181",
      );
    }
  });

  it.each(["OPA_TOKEN", "PERMIT_API_KEY", "JWT_SECRET", "DB_PASSWORD", "my_api_key"])(
    "never repeats the bad value of %s, whose name says it is a secret",
    (name) => {
      const shape = { [name]: envValue.oneOf(["a", "b"]) };
      const error = configError(() => readEnv(shape, { [name]: "sk_live_4f9a" }));
      expect(error.message).toBe(`Invalid environment variable: ${name}: expected one of a, b`);
    },
  );

  it("repeats the bad value of other variables", () => {
    const error = configError(() =>
      readEnv({ MCP_PDP_RETRIES: envValue.integer(0, 10) }, { MCP_PDP_RETRIES: "lots" }),
    );
    expect(error.message).toBe(
      'Invalid environment variable: MCP_PDP_RETRIES: expected an integer from 0 to 10, got "lots"',
    );
  });

  it("reads one of the allowed values and rejects the others, listing them", () => {
    const shape = { MODE: envValue.oneOf(["a", "b"]) };
    expect(readEnv(shape, { MODE: " b " }).MODE).toBe("b");
    const error = configError(() => readEnv(shape, { MODE: "c" }));
    expect(error.message).toContain("MODE");
    expect(error.message).toContain("one of a, b");
  });

  it("reads strings as they are", () => {
    expect(readEnv({ S: envValue.string() }, { S: "value with spaces" }).S).toBe(
      "value with spaces",
    );
  });

  it("names every bad variable in one error", () => {
    const error = configError(() =>
      readEnv(
        { A: envValue.boolean(), B: envValue.integer(), C: envValue.url(), D: envValue.string() },
        { A: "nope", B: "x", C: "y", D: "fine" },
      ),
    );
    expect(error.message).toMatch(/^Invalid environment variables/);
    for (const name of ["A:", "B:", "C:"]) expect(error.message).toContain(name);
    expect(error.message).not.toContain("D:");
  });

  it("treats an empty or blank value as unset", () => {
    const out = readEnv(
      { A: envValue.boolean(), B: envValue.integer(), C: envValue.string() },
      { A: "", B: "   " },
    );
    expect(out).toEqual({});
    expect(Object.hasOwn(out, "A")).toBe(false);
  });

  it("ignores variables outside the shape", () => {
    expect(readEnv({ A: envValue.string() }, { A: "x", OTHER: "y" })).toEqual({ A: "x" });
  });
});

describe("readMcpPdpEnv", () => {
  it("validates every generic variable", () => {
    const error = configError(() =>
      readMcpPdpEnv({ MCP_PDP_IDENTITY: "magic", MCP_PDP_FLATTEN_ARGUMENTS: "sometimes" }),
    );
    expect(error.message).toContain("MCP_PDP_IDENTITY");
    expect(error.message).toContain("MCP_PDP_FLATTEN_ARGUMENTS");
  });
});

describe("mappingFromEnv", () => {
  it("gives no options for an empty environment", () => {
    expect(mappingFromEnv({})).toEqual({});
  });

  it("reads the server name, bypass list, tool names, flattening and argument prefix", () => {
    const options = mappingFromEnv({
      MCP_SERVER_NAME: "weather",
      MCP_PDP_BYPASSED_METHODS: '["initialize", "ping", "tools/list"]',
      MCP_PDP_TOOL_NAMES: "raw",
      MCP_PDP_FLATTEN_ARGUMENTS: "false",
      MCP_PDP_ARGUMENT_PREFIX: "input_",
    });
    expect(options).toEqual({
      serverName: "weather",
      bypass: ["initialize", "ping", "tools/list"],
      toolNames: "raw",
      flattenArguments: false,
      argumentPrefix: "input_",
    });
    const mapping = resolveMapping(options);
    expect(mapping.isBypassed("tools/list")).toBe(true);
    expect(mapping.isBypassed("notifications/initialized")).toBe(false);
  });

  it("fails at start-up on a bad value, naming the variable", () => {
    const error = configError(() => mappingFromEnv({ MCP_PDP_TOOL_NAMES: "lowercase" }));
    expect(error.message).toContain("MCP_PDP_TOOL_NAMES");
  });

  it("reads MCP_PDP_MAX_NAME_LENGTH and MCP_PDP_MAX_URI_LENGTH into the mapping's bounds", () => {
    const options = mappingFromEnv({
      MCP_PDP_MAX_NAME_LENGTH: " 64 ",
      MCP_PDP_MAX_URI_LENGTH: "65536",
    });
    expect(options).toEqual({ maxNameLength: 64, maxUriLength: 65_536 });
    const mapping = resolveMapping(options);
    expect(mapping.maxNameLength).toBe(64);
    expect(mapping.maxUriLength).toBe(65_536);
    expect(mapRequest("tools/call", { name: "t".repeat(65) }, mapping).problem).toMatch(
      /longer than 64/,
    );
    expect(mappingFromEnv({ MCP_PDP_MAX_NAME_LENGTH: "1" })).toEqual({ maxNameLength: 1 });
  });

  it.each([
    ["MCP_PDP_MAX_NAME_LENGTH", "0"],
    ["MCP_PDP_MAX_NAME_LENGTH", "-5"],
    ["MCP_PDP_MAX_NAME_LENGTH", "1.5"],
    ["MCP_PDP_MAX_NAME_LENGTH", "1e3"],
    ["MCP_PDP_MAX_NAME_LENGTH", "0x100"],
    ["MCP_PDP_MAX_NAME_LENGTH", "long"],
    ["MCP_PDP_MAX_URI_LENGTH", "65537"],
    ["MCP_PDP_MAX_URI_LENGTH", "0"],
    ["MCP_PDP_MAX_URI_LENGTH", "4 KiB"],
  ])("refuses %s=%s, naming the variable and the accepted range", (name, value) => {
    const error = configError(() => mappingFromEnv({ [name]: value }));
    expect(error.message).toBe(
      `Invalid environment variable: ${name}: expected an integer from 1 to 65536, got ${JSON.stringify(value)}`,
    );
  });
});

describe("identityFromEnv", () => {
  it("uses the SDK's auth info by default", async () => {
    const resolve = identityFromEnv({});
    expect(await resolve({ authInfo: { token: "t", clientId: "c1", scopes: [] } })).toMatchObject({
      id: "c1",
      authenticated: true,
    });
    expect((await resolve({})).authenticated).toBe(false);
    expect((await identityFromEnv({ MCP_PDP_IDENTITY: "auth-info" })({})).authenticated).toBe(
      false,
    );
  });

  it("builds a fixed identity with roles and tenant", async () => {
    const resolve = identityFromEnv({
      MCP_PDP_IDENTITY: "fixed",
      MCP_PDP_IDENTITY_FIXED_VALUE: "operator",
      MCP_PDP_IDENTITY_ROLES: "admin,dev",
      MCP_PDP_IDENTITY_TENANT: "acme",
    });
    expect(await resolve({})).toEqual({
      id: "operator",
      authenticated: true,
      roles: ["admin", "dev"],
      tenant: "acme",
    });
  });

  it("defaults the fixed identity to client", async () => {
    expect((await identityFromEnv({ MCP_PDP_IDENTITY: "fixed" })({})).id).toBe("client");
  });

  it("builds a header identity with a regex and a roles header", async () => {
    const resolve = identityFromEnv({
      MCP_PDP_IDENTITY: "header",
      MCP_PDP_IDENTITY_HEADER: "X-Forwarded-User",
      MCP_PDP_IDENTITY_HEADER_REGEX: "^user:(.+)$",
      MCP_PDP_IDENTITY_ROLES_HEADER: "x-roles",
    });
    expect(
      await resolve({ headers: { "x-forwarded-user": "user:ada", "x-roles": "a b" } }),
    ).toEqual({ id: "ada", authenticated: true, roles: ["a", "b"] });
    expect((await resolve({ headers: { "x-forwarded-user": "ada" } })).authenticated).toBe(false);
  });

  it("reads x-user-id in header mode by default, never the Authorization header", async () => {
    const resolve = identityFromEnv({ MCP_PDP_IDENTITY: "header" });
    const subject = await resolve({
      headers: { authorization: "Bearer secret-token", "x-user-id": "ada" },
    });
    expect(subject).toEqual({ id: "ada", authenticated: true });
    expect((await resolve({ headers: { authorization: "Bearer secret-token" } })).id).toBe(
      "anonymous",
    );
  });

  it("refuses Authorization as the identity header, naming the variable", () => {
    const error = configError(() =>
      identityFromEnv({ MCP_PDP_IDENTITY: "header", MCP_PDP_IDENTITY_HEADER: "Authorization" }),
    );
    expect(error.message).toMatch(/^MCP_PDP_IDENTITY_HEADER\*: .*carries credentials/);
  });

  it("builds a JWT identity with a secret, issuer and audience", async () => {
    const secret = "env-secret-env-secret-env-secret-32";
    const resolve = identityFromEnv({
      MCP_PDP_IDENTITY: "jwt",
      MCP_PDP_JWT_ALGORITHMS: '["HS256"]',
      MCP_PDP_JWT_SECRET: secret,
      MCP_PDP_JWT_ISSUER: "https://idp",
      MCP_PDP_JWT_AUDIENCE: "mcp",
      MCP_PDP_JWT_SUBJECT_CLAIM: "email",
      MCP_PDP_JWT_ROLES_CLAIM: "groups",
    });
    const sign = (iss: string) =>
      new SignJWT({ email: "ada@x", groups: ["g"] })
        .setProtectedHeader({ alg: "HS256" })
        .setIssuer(iss)
        .setAudience("mcp")
        .setExpirationTime("5m")
        .sign(new TextEncoder().encode(secret));
    const good = await resolve({
      headers: { authorization: `Bearer ${await sign("https://idp")}` },
    });
    expect(good).toMatchObject({ id: "ada@x", authenticated: true, roles: ["g"] });
    const bad = await resolve({
      headers: { authorization: `Bearer ${await sign("https://evil")}` },
    });
    expect(bad.authenticated).toBe(false);
  });

  it("reads MCP_PDP_JWT_VERIFIED_CACHE_MS: a verified token is remembered unless it is 0", async () => {
    const secret = "an-hmac-secret-long-enough-for-hs256!";
    const token = await new SignJWT({ sub: "ada" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(secret));
    const context = { headers: { authorization: `Bearer ${token}` } };
    const env = {
      MCP_PDP_IDENTITY: "jwt",
      MCP_PDP_JWT_ALGORITHMS: "HS256",
      MCP_PDP_JWT_SECRET: secret,
    };
    const remembering = identityFromEnv(env);
    const first = await remembering(context);
    expect(remembering(context)).toBe(first); // answered from the memo, at once
    const verifying = identityFromEnv({ ...env, MCP_PDP_JWT_VERIFIED_CACHE_MS: "0" });
    const again = await verifying(context);
    expect(verifying(context)).toBeInstanceOf(Promise);
    expect(await verifying(context)).not.toBe(again);
    for (const bad of ["-1", "3600001", "30s"]) {
      const error = configError(() =>
        identityFromEnv({ ...env, MCP_PDP_JWT_VERIFIED_CACHE_MS: bad }),
      );
      expect(error.message).toBe(
        `Invalid environment variable: MCP_PDP_JWT_VERIFIED_CACHE_MS: expected an integer from 0 to 3600000, got ${JSON.stringify(bad)}`,
      );
    }
  });

  it("refuses an MCP_PDP_JWT_SECRET shorter than the algorithm's minimum, naming the variable", () => {
    const short = "0123456789abcdef0123456789abcde"; // 31 bytes
    const error = configError(() =>
      identityFromEnv({
        MCP_PDP_IDENTITY: "jwt",
        MCP_PDP_JWT_ALGORITHMS: "HS256",
        MCP_PDP_JWT_SECRET: short,
      }),
    );
    expect(error.message).toMatch(
      /^MCP_PDP_JWT_SECRET is 31 bytes; HS256 needs .* at least 32 bytes/,
    );
    expect(error.message).not.toContain(short);
    const hs512 = configError(() =>
      identityFromEnv({
        MCP_PDP_IDENTITY: "jwt",
        MCP_PDP_JWT_ALGORITHMS: "HS512",
        MCP_PDP_JWT_SECRET: `${short}-and-then-some`,
      }),
    );
    expect(hs512.message).toMatch(/^MCP_PDP_JWT_SECRET .* HS512 needs .* at least 64 bytes/);
  });

  it("requires MCP_PDP_JWT_ALGORITHMS in jwt mode", () => {
    const error = configError(() =>
      identityFromEnv({ MCP_PDP_IDENTITY: "jwt", MCP_PDP_JWT_SECRET: "some-secret" }),
    );
    expect(error.message).toContain("MCP_PDP_JWT_ALGORITHMS");
  });

  it("rejects an unknown JWT algorithm, naming it", () => {
    const error = configError(() =>
      identityFromEnv({
        MCP_PDP_IDENTITY: "jwt",
        MCP_PDP_JWT_ALGORITHMS: "HS256,none",
        MCP_PDP_JWT_SECRET: "some-secret",
      }),
    );
    expect(error.message).toContain("MCP_PDP_JWT_ALGORITHMS");
    expect(error.message).toContain("none");
  });

  it("refuses a secret with RS256, without showing the secret", () => {
    const error = configError(() =>
      identityFromEnv({
        MCP_PDP_IDENTITY: "jwt",
        MCP_PDP_JWT_ALGORITHMS: "RS256",
        MCP_PDP_JWT_SECRET: "super-secret-value",
      }),
    );
    expect(error.message).toContain("MCP_PDP_JWT_");
    expect(error.message).not.toContain("super-secret-value");
    expect(error.cause).toBeInstanceOf(ConfigError);
  });

  it("refuses jwt mode without any key", () => {
    const error = configError(() =>
      identityFromEnv({ MCP_PDP_IDENTITY: "jwt", MCP_PDP_JWT_ALGORITHMS: "RS256" }),
    );
    expect(error.message).toContain("exactly one of secret, publicKey or jwksUrl");
  });

  it("accepts a JWKS URL for asymmetric algorithms and rejects a bad one", () => {
    expect(
      typeof identityFromEnv({
        MCP_PDP_IDENTITY: "jwt",
        MCP_PDP_JWT_ALGORITHMS: "ES256,RS256",
        MCP_PDP_JWT_JWKS_URL: "http://127.0.0.1:1/jwks.json",
      }),
    ).toBe("function");
    const error = configError(() =>
      identityFromEnv({
        MCP_PDP_IDENTITY: "jwt",
        MCP_PDP_JWT_ALGORITHMS: "RS256",
        MCP_PDP_JWT_JWKS_URL: "jwks.json",
      }),
    );
    expect(error.message).toContain("MCP_PDP_JWT_JWKS_URL");
  });

  it("rejects an unknown identity mode, naming the variable", () => {
    const error = configError(() => identityFromEnv({ MCP_PDP_IDENTITY: "oauth" }));
    expect(error.message).toContain("MCP_PDP_IDENTITY");
    expect(error.message).toContain("auth-info, fixed, header, jwt");
  });
});

describe("auditFromEnv", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mcp-pdp-env-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const event: AuditEvent = {
    time: "2026-01-01T00:00:00.000Z",
    type: "decision",
    pdp: "p",
    subject: { id: "ada", authenticated: true },
    method: "tools/call",
    phase: "call",
    resource: { type: "mcp_server" },
    action: "t",
    allow: false,
    source: "pdp",
    latencyMs: 0,
  };

  it("appends JSON lines to a file path", async () => {
    const path = join(dir, "audit.jsonl");
    for (let i = 0; i < 2; i++) {
      const sink = auditFromEnv({ MCP_PDP_AUDIT: path });
      sink.write({ ...event, action: `call-${i}` });
      await sink.close?.();
    }
    const rows = (await readFile(path, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as AuditEvent);
    expect(rows.map((r) => r.action)).toEqual(["call-0", "call-1"]);
    expect(rows[0]).toEqual({ ...event, action: "call-0" });
  });

  it("turns auditing off with off", () => {
    expect(auditFromEnv({ MCP_PDP_AUDIT: "off" })).toBe(noopAuditSink);
  });

  it("writes to stderr by default, sharing one sink per process", () => {
    const a = auditFromEnv({});
    expect(auditFromEnv({ MCP_PDP_AUDIT: "stderr" })).toBe(a);
    expect(typeof a.write).toBe("function");
  });

  it("can write to stdout", () => {
    const sink = auditFromEnv({ MCP_PDP_AUDIT: "stdout" });
    expect(sink).not.toBe(auditFromEnv({}));
    expect(typeof sink.write).toBe("function");
  });
});
