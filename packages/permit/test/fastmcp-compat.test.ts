/**
 * Every permit-fastmcp variable (`PERMIT_MCP_*`) set as a permit-fastmcp user would set it, and
 * the request that reaches the Permit PDP as a result. Each row says what permit-fastmcp does with
 * the value and what we do; where they differ the row says why (PROTOCOLS.md lists the defects of
 * the original that are not copied).
 */
import { Authorizer, type RequestContext } from "@mcp-pdp/core";
import { SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type PermitFake, startPermitFake } from "../../../test/fakes/permit.js";
import { type PermitAuthorizeOptions, permitOptionsFromEnv } from "../src/index.js";

const KEY = "permit_fastmcp_key_31337";
const SECRET = "a-long-enough-hmac-secret-for-fastmcp-and-every-hs-algorithm-64b!";
let fake: PermitFake;
const opened: PermitAuthorizeOptions[] = [];

beforeAll(async () => {
  fake = await startPermitFake({ apiKey: KEY, policy: () => true });
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.pdp.close()));
  fake.reset();
});
afterAll(() => fake.close());

function jwt(claims: Record<string, unknown>, alg = "HS256", secret = SECRET): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg })
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(secret));
}

/** A request context carrying a signed JWT as `Authorization: Bearer <jwt>`. */
async function bearer(
  claims: Record<string, unknown>,
  alg?: string,
  secret?: string,
): Promise<RequestContext> {
  return { headers: { authorization: `Bearer ${await jwt(claims, alg, secret)}` } };
}

/** jwt mode with the test secret. */
const jwtMode = { PERMIT_MCP_IDENTITY_MODE: "jwt", PERMIT_MCP_IDENTITY_JWT_SECRET: SECRET };

/** Stands for the fake's URL, known once it listens. */
const FAKE_URL = "<the fake PDP's URL>";

interface Row {
  readonly variable: string;
  /** The value set; undefined leaves the variable unset (its default). */
  readonly value: string | undefined;
  readonly fastmcp: string;
  readonly ours: string;
  /** Other variables the row needs. */
  readonly env?: Readonly<Record<string, string>>;
  /** The MCP request. @defaultValue `tools/call` of `greet` with `{who: "x"}` */
  readonly call?: { readonly method: string; readonly params: Record<string, unknown> };
  readonly context?: () => RequestContext | Promise<RequestContext>;
  /** What reaches the PDP (a subset of the `/allowed` query), or no request at all. */
  readonly wire: Readonly<Record<string, unknown>> | "no request";
  /** The `Authorization` header the PDP receives. */
  readonly pdpAuthorization?: string;
  readonly options?: (o: PermitAuthorizeOptions) => void;
}

const greet = { method: "tools/call", params: { name: "greet", arguments: { who: "x" } } };
const read = { method: "resources/read", params: { uri: "notes://1" } };
const list = { method: "tools/list", params: {} };

const rows: readonly Row[] = [
  {
    variable: "PERMIT_MCP_KNOWN_METHODS",
    value: '["tools/call"]',
    fastmcp: "maps a method outside the list to resource `method:<method>`, action `access`",
    ours: "validated (a JSON list of strings) but not applied: every MCP method has its mapping",
    call: list,
    wire: { action: "list", resource: { type: "mcp_server_tools" } },
  },
  {
    variable: "PERMIT_MCP_BYPASSED_METHODS",
    value: '["initialize","ping","tools/call"]',
    fastmcp: "methods matching a glob of the list are not checked",
    ours: "the same",
    wire: "no request",
  },
  {
    variable: "PERMIT_MCP_ACTION_PREFIX",
    value: "do_",
    fastmcp: "prefixes the action of every method but tools/call",
    ours: "the same for other methods",
    call: read,
    wire: { action: "do_read" },
  },
  {
    variable: "PERMIT_MCP_ACTION_PREFIX",
    value: "do_",
    fastmcp: "leaves a tool call's action (the tool's name) unprefixed",
    ours: "prefixes it too: core's mapping has one action prefix for every method",
    wire: { action: "do_greet" },
  },
  {
    variable: "PERMIT_MCP_RESOURCE_PREFIX",
    value: "res_",
    env: { PERMIT_MCP_PREFIX_RESOURCE_WITH_SERVER_NAME: "false" },
    fastmcp: "prefixes the resource type when not prefixed with the server name",
    ours: "the same",
    call: list,
    wire: { action: "list", resource: { type: "res_tools" } },
  },
  {
    variable: "PERMIT_MCP_MCP_SERVER_NAME",
    value: "notes",
    fastmcp: "a tool call is the tool's name as action on resource `<server name>`",
    ours: "the same",
    wire: { action: "greet", resource: { type: "notes" } },
  },
  {
    variable: "PERMIT_MCP_MCP_SERVER_NAME",
    value: undefined,
    fastmcp: "`mcp_server`; the tool's name is the action as it is",
    ours: "the same (`read_file` stays `read_file`)",
    call: { method: "tools/call", params: { name: "read_file", arguments: {} } },
    wire: { action: "read_file", resource: { type: "mcp_server" } },
  },
  {
    variable: "PERMIT_MCP_PERMIT_PDP_URL",
    value: FAKE_URL,
    fastmcp: "declared but never read (a defect)",
    ours: "the PDP's URL",
    wire: { action: "greet" },
  },
  {
    variable: "PERMIT_MCP_PERMIT_API_KEY",
    value: KEY,
    fastmcp: "declared but never read (a defect)",
    ours: "sent as `Authorization: Bearer <key>`",
    wire: { action: "greet" },
    pdpAuthorization: `Bearer ${KEY}`,
  },
  {
    variable: "PERMIT_MCP_ENABLE_AUDIT_LOGGING",
    value: "false",
    fastmcp: "declared but never read (a defect)",
    ours: "no audit sink; decisions unchanged",
    wire: { action: "greet" },
    options: (o) => {
      expect(o.audit).toBe(false);
    },
  },
  {
    variable: "PERMIT_MCP_IDENTITY_MODE",
    value: undefined,
    fastmcp: "`fixed`: every caller is `client`",
    ours: "the same",
    wire: { user: { key: "client" } },
  },
  {
    variable: "PERMIT_MCP_IDENTITY_FIXED_VALUE",
    value: "ops",
    fastmcp: "the fixed identity",
    ours: "the same",
    wire: { user: { key: "ops" } },
  },
  {
    variable: "PERMIT_MCP_IDENTITY_HEADER",
    value: "X-Client-ID",
    env: { PERMIT_MCP_IDENTITY_MODE: "header" },
    fastmcp: "header mode: the header's whole value is the user key",
    ours: "the same",
    context: () => ({ headers: { "x-client-id": "client-42" } }),
    wire: { user: { key: "client-42" } },
  },
  {
    variable: "PERMIT_MCP_IDENTITY_MODE",
    value: "header",
    fastmcp: "the whole `Authorization` value is the user key, scheme included",
    ours: "the same (audit events carry its digest)",
    context: () => ({ headers: { authorization: "Bearer tok-1" } }),
    wire: { user: { key: "Bearer tok-1" } },
  },
  {
    variable: "PERMIT_MCP_IDENTITY_HEADER_REGEX",
    value: "^user:(\\w+)$",
    env: { PERMIT_MCP_IDENTITY_MODE: "header", PERMIT_MCP_IDENTITY_HEADER: "X-User" },
    fastmcp: "ignored in header mode (it applies to jwt mode only)",
    ours: "the same",
    context: () => ({ headers: { "x-user": "user:carol" } }),
    wire: { user: { key: "user:carol" } },
  },
  {
    variable: "PERMIT_MCP_IDENTITY_HEADER",
    value: "X-Client-ID",
    env: { PERMIT_MCP_IDENTITY_MODE: "header" },
    fastmcp: "a caller without the header is sent as user `unknown`",
    ours: "denied without asking: no caller may pass for a shared `unknown` user",
    context: () => ({ headers: {} }),
    wire: "no request",
  },
  {
    variable: "PERMIT_MCP_IDENTITY_JWT_SECRET",
    value: SECRET,
    env: { PERMIT_MCP_IDENTITY_MODE: "jwt" },
    fastmcp: "verifies the bearer JWT; its `sub` is the user key",
    ours: "the same",
    context: () => bearer({ sub: "dave" }),
    wire: { user: { key: "dave" } },
  },
  {
    variable: "PERMIT_MCP_IDENTITY_JWT_SECRET",
    value: SECRET,
    env: { PERMIT_MCP_IDENTITY_MODE: "jwt" },
    fastmcp: "a token that fails verification is sent as user `unknown` (a defect)",
    ours: "denied without asking",
    context: () => bearer({ sub: "eve" }, "HS256", "another-secret-0000"),
    wire: "no request",
  },
  {
    variable: "PERMIT_MCP_IDENTITY_HEADER_REGEX",
    value: "Token (.+)",
    env: { ...jwtMode, PERMIT_MCP_IDENTITY_HEADER: "X-Auth" },
    fastmcp: "jwt mode: the first group of a match at the start of the header is the token",
    ours: "the same",
    context: async () => ({ headers: { "x-auth": `Token ${await jwt({ sub: "frank" })}` } }),
    wire: { user: { key: "frank" } },
  },
  {
    variable: "PERMIT_MCP_IDENTITY_HEADER_REGEX",
    value: "Token (.+)",
    env: jwtMode,
    fastmcp: "a header the pattern does not match is sent as user `unknown`",
    ours: "denied without asking",
    context: () => bearer({ sub: "frank" }),
    wire: "no request",
  },
  {
    variable: "PERMIT_MCP_IDENTITY_JWT_FIELD",
    value: "email",
    env: jwtMode,
    fastmcp: "the claim that is the user key",
    ours: "the same",
    context: () => bearer({ sub: "g", email: "g@example.com" }),
    wire: { user: { key: "g@example.com" } },
  },
  {
    variable: "PERMIT_MCP_JWT_ALGORITHMS",
    value: '["HS384"]',
    env: jwtMode,
    fastmcp: "the algorithms accepted",
    ours: "the same, but one key never serves both HMAC and RSA (refused at start-up)",
    context: () => bearer({ sub: "hal" }, "HS384"),
    wire: { user: { key: "hal" } },
  },
  {
    variable: "PERMIT_MCP_JWT_ALGORITHMS",
    value: '["HS384"]',
    env: jwtMode,
    fastmcp: "a token signed with another algorithm fails verification (sent as `unknown`)",
    ours: "denied without asking",
    context: () => bearer({ sub: "hal" }),
    wire: "no request",
  },
  {
    variable: "PERMIT_MCP_IDENTITY_MODE",
    value: "source",
    fastmcp: "FastMCP's `context.source`",
    ours: "the client id the SDK's bearer middleware verified (the TypeScript SDK has no `source`)",
    context: () => ({ authInfo: { token: "t", clientId: "client-7", scopes: [] } }),
    wire: { user: { key: "client-7" } },
  },
  {
    variable: "PERMIT_MCP_PREFIX_RESOURCE_WITH_SERVER_NAME",
    value: undefined,
    fastmcp: "`true`: a list or read is on resource `<server name>_<component>`",
    ours: "the same",
    call: list,
    wire: { action: "list", resource: { type: "mcp_server_tools" } },
  },
  {
    variable: "PERMIT_MCP_PREFIX_RESOURCE_WITH_SERVER_NAME",
    value: "false",
    fastmcp: "the resource prefix (`mcp_`) instead of the server name",
    ours: "the same",
    call: list,
    wire: { action: "list", resource: { type: "mcp_tools" } },
  },
  {
    variable: "PERMIT_MCP_FLATTEN_TOOL_ARGUMENTS",
    value: undefined,
    fastmcp: "`true`: each tool argument is a resource attribute `arg_<name>`",
    ours: "the same",
    wire: { resource: { attributes: { arg_who: "x" } } },
  },
  {
    variable: "PERMIT_MCP_TOOL_ARGUMENT_PREFIX",
    value: "in_",
    fastmcp: "the prefix of flattened arguments",
    ours: "the same",
    wire: { resource: { attributes: { in_who: "x" } } },
  },
];

describe("permit-fastmcp's variables, as the Permit PDP sees them", () => {
  it.each(rows)(
    "$variable=$value: permit-fastmcp $fastmcp; ours $ours",
    async ({ variable, value, env, call, context, wire, pdpAuthorization, options }) => {
      const o = permitOptionsFromEnv(
        {},
        {
          PERMIT_MCP_PERMIT_PDP_URL: fake.url,
          PERMIT_MCP_PERMIT_API_KEY: KEY,
          PERMIT_MCP_ENABLE_AUDIT_LOGGING: "false",
          ...env,
          ...(value !== undefined ? { [variable]: value === FAKE_URL ? fake.url : value } : {}),
        },
      );
      opened.push(o);
      options?.(o);
      const { method, params } = call ?? greet;
      await new Authorizer({ ...o, audit: false }).authorize(
        method,
        params,
        (await context?.()) ?? {},
      );
      if (wire === "no request") {
        expect(fake.requests).toHaveLength(0);
        return;
      }
      expect(fake.queries()).toHaveLength(1);
      expect(fake.queries()[0]).toMatchObject(wire);
      if (pdpAuthorization !== undefined) {
        expect(fake.requests[0]?.headers.authorization).toBe(pdpAuthorization);
      }
    },
  );
});

describe("a deliberate difference from permit-fastmcp: short HMAC secrets", () => {
  it("refuses a PERMIT_MCP_IDENTITY_JWT_SECRET shorter than 32 bytes at start-up, where permit-fastmcp takes any", () => {
    expect(() =>
      permitOptionsFromEnv(
        {},
        { PERMIT_MCP_IDENTITY_MODE: "jwt", PERMIT_MCP_IDENTITY_JWT_SECRET: "too-short" },
      ),
    ).toThrow(/at least 32 bytes/);
  });
});
