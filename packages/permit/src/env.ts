import {
  type AuditSink,
  ConfigError,
  type Env,
  type IdentityResolver,
  type MappingOptions,
  type RequestContext,
  authInfoIdentity,
  envValue,
  JWT_ALGORITHMS,
  fixedIdentity,
  headerIdentity,
  isJwtAlgorithm,
  jsonLinesAuditSink,
  jwtIdentity,
  readEnv,
} from "@mcp-pdp/core";
import { type PermitPdp, type PermitPdpOptions, permitPdp } from "./pdp.js";

/**
 * The environment variables read by this package, with their validators: `PERMIT_PDP_URL`,
 * `PERMIT_API_KEY`, `PERMIT_PDP_TIMEOUT_MS` and permit-fastmcp's `PERMIT_MCP_*` names.
 */
export const PERMIT_ENV = {
  PERMIT_PDP_URL: envValue.url(),
  PERMIT_API_KEY: envValue.string(),
  PERMIT_PDP_TIMEOUT_MS: envValue.integer(1, 600_000),
  PERMIT_MCP_PERMIT_PDP_URL: envValue.url(),
  PERMIT_MCP_PERMIT_API_KEY: envValue.string(),
  PERMIT_MCP_KNOWN_METHODS: envValue.list(),
  PERMIT_MCP_BYPASSED_METHODS: envValue.list(),
  PERMIT_MCP_MCP_SERVER_NAME: envValue.string(),
  PERMIT_MCP_ENABLE_AUDIT_LOGGING: envValue.boolean(),
  PERMIT_MCP_IDENTITY_MODE: envValue.oneOf(["fixed", "header", "jwt", "source"]),
  PERMIT_MCP_IDENTITY_HEADER: envValue.string(),
  PERMIT_MCP_IDENTITY_HEADER_REGEX: envValue.string(),
  PERMIT_MCP_IDENTITY_JWT_SECRET: envValue.string(),
  PERMIT_MCP_IDENTITY_JWT_FIELD: envValue.string(),
  PERMIT_MCP_IDENTITY_FIXED_VALUE: envValue.string(),
  PERMIT_MCP_JWT_ALGORITHMS: envValue.list(),
  PERMIT_MCP_PREFIX_RESOURCE_WITH_SERVER_NAME: envValue.boolean(),
  PERMIT_MCP_FLATTEN_TOOL_ARGUMENTS: envValue.boolean(),
  MCP_SERVER_NAME: envValue.string(),
  MCP_PDP_TOOL_NAMES: envValue.oneOf(["normalize", "raw"]),
};

/**
 * Prefix variables where an empty value is meaningful ("no prefix"), so they are read as they are
 * rather than through {@link readEnv}, which treats empty values as unset.
 */
const PREFIX_VARIABLES = {
  actionPrefix: "PERMIT_MCP_ACTION_PREFIX",
  resourcePrefix: "PERMIT_MCP_RESOURCE_PREFIX",
  argumentPrefix: "PERMIT_MCP_TOOL_ARGUMENT_PREFIX",
} as const;

/** permit-fastmcp's default `KNOWN_METHODS`. */
export const DEFAULT_KNOWN_METHODS: readonly string[] = [
  "tools/list",
  "prompts/list",
  "resources/list",
  "tools/call",
  "resources/read",
  "prompts/get",
];

/** Everything read from the environment, validated. */
export type PermitEnv = ReturnType<typeof readPermitEnv>;

/** Reads and validates every variable of this package. A bad value throws a ConfigError naming it. */
export function readPermitEnv(env: Env = process.env) {
  const values = readEnv(PERMIT_ENV, env);
  const prefixes: Partial<Record<keyof typeof PREFIX_VARIABLES, string>> = {};
  for (const [key, variable] of Object.entries(PREFIX_VARIABLES)) {
    const raw = env[variable];
    if (raw !== undefined) prefixes[key as keyof typeof PREFIX_VARIABLES] = raw.trim();
  }
  return { ...values, prefixes };
}

/**
 * The Permit PDP adapter configured from the environment: `PERMIT_PDP_URL` (or
 * `PERMIT_MCP_PERMIT_PDP_URL`, default `http://localhost:7766`), `PERMIT_API_KEY` (or
 * `PERMIT_MCP_PERMIT_API_KEY`, required) and `PERMIT_PDP_TIMEOUT_MS`. Options given here win.
 */
export function permitFromEnv(
  overrides: Partial<PermitPdpOptions> = {},
  env: Env = process.env,
): PermitPdp {
  return permitPdp(pdpOptions(readPermitEnv(env), overrides));
}

function pdpOptions(e: PermitEnv, overrides: Partial<PermitPdpOptions>): PermitPdpOptions {
  const apiKey = overrides.apiKey ?? e.PERMIT_API_KEY ?? e.PERMIT_MCP_PERMIT_API_KEY;
  if (apiKey === undefined || apiKey.trim() === "") {
    throw new ConfigError(
      "PERMIT_API_KEY is required: set it to the API key of the Permit environment (or pass apiKey)",
    );
  }
  const url = e.PERMIT_PDP_URL ?? e.PERMIT_MCP_PERMIT_PDP_URL;
  return {
    ...(url !== undefined ? { url } : {}),
    ...(e.PERMIT_PDP_TIMEOUT_MS !== undefined ? { timeoutMs: e.PERMIT_PDP_TIMEOUT_MS } : {}),
    ...overrides,
    apiKey,
  };
}

/**
 * Mapping options from permit-fastmcp's variables (`PERMIT_MCP_*`, and `MCP_SERVER_NAME`). Tool
 * names are actions as they are (`toolNames: "raw"`), as in permit-fastmcp, unless
 * `MCP_PDP_TOOL_NAMES` says otherwise.
 */
export function permitMappingFromEnv(env: Env = process.env): MappingOptions {
  return mappingOptions(readPermitEnv(env));
}

function mappingOptions(e: PermitEnv): MappingOptions {
  const serverName = e.PERMIT_MCP_MCP_SERVER_NAME ?? e.MCP_SERVER_NAME;
  const { actionPrefix, resourcePrefix, argumentPrefix } = e.prefixes;
  if (argumentPrefix === "") {
    // An empty argument prefix would let an argument named `tool_name` shadow the mapping's own.
    throw new ConfigError("PERMIT_MCP_TOOL_ARGUMENT_PREFIX must not be empty");
  }
  return {
    // permit-fastmcp sends a tool's name as the action as it is (`read_file`, not `read-file`);
    // core's MCP_PDP_TOOL_NAMES still chooses, when set.
    toolNames: e.MCP_PDP_TOOL_NAMES ?? "raw",
    ...(serverName !== undefined ? { serverName } : {}),
    ...(e.PERMIT_MCP_BYPASSED_METHODS !== undefined
      ? { bypass: e.PERMIT_MCP_BYPASSED_METHODS }
      : {}),
    ...(actionPrefix !== undefined ? { actionPrefix } : {}),
    ...(resourcePrefix !== undefined ? { resourcePrefix } : {}),
    ...(e.PERMIT_MCP_PREFIX_RESOURCE_WITH_SERVER_NAME !== undefined
      ? { prefixResourceWithServerName: e.PERMIT_MCP_PREFIX_RESOURCE_WITH_SERVER_NAME }
      : {}),
    ...(e.PERMIT_MCP_FLATTEN_TOOL_ARGUMENTS !== undefined
      ? { flattenArguments: e.PERMIT_MCP_FLATTEN_TOOL_ARGUMENTS }
      : {}),
    ...(argumentPrefix !== undefined ? { argumentPrefix } : {}),
  };
}

/**
 * The identity resolver chosen by `PERMIT_MCP_IDENTITY_MODE`:
 * - `fixed` (default): everyone is `PERMIT_MCP_IDENTITY_FIXED_VALUE` (default `client`);
 * - `header`: the whole value of `PERMIT_MCP_IDENTITY_HEADER` (default `Authorization`), as
 *   permit-fastmcp sends it (`PERMIT_MCP_IDENTITY_HEADER_REGEX` applies to `jwt` mode only);
 * - `jwt`: the token taken from that header by `PERMIT_MCP_IDENTITY_HEADER_REGEX` (default
 *   `[Bb]earer (.+)`, first group, matched at the start of the value), verified with
 *   `PERMIT_MCP_IDENTITY_JWT_SECRET` (an HMAC secret, or a PEM public key) for
 *   `PERMIT_MCP_JWT_ALGORITHMS`, subject from `PERMIT_MCP_IDENTITY_JWT_FIELD`;
 * - `source`: the transport's auth info (client id) set by the SDK's bearer middleware.
 */
export function permitIdentityFromEnv(env: Env = process.env): IdentityResolver {
  return identity(readPermitEnv(env));
}

function identity(e: PermitEnv): IdentityResolver {
  const mode = e.PERMIT_MCP_IDENTITY_MODE ?? "fixed";
  const header = e.PERMIT_MCP_IDENTITY_HEADER ?? "Authorization";
  switch (mode) {
    case "fixed":
      return fixedIdentity(e.PERMIT_MCP_IDENTITY_FIXED_VALUE ?? "client");
    case "header":
      // permit-fastmcp's header mode: the header's whole value is the Permit user key (`X-Client-ID:
      // client-42` is user `client-42`; with `Authorization`, `Bearer <token>` as it stands). A
      // credential header's value is marked as such, so audit events carry its digest instead.
      return headerIdentity({ header, allowCredentialAsIdentity: true });
    case "jwt":
      return jwt(e, header);
    case "source":
      return authInfoIdentity();
  }
}

function jwt(e: PermitEnv, header: string): IdentityResolver {
  const secret = e.PERMIT_MCP_IDENTITY_JWT_SECRET;
  if (secret === undefined) {
    throw new ConfigError(
      "PERMIT_MCP_IDENTITY_JWT_SECRET must be set to a non-empty secret (or PEM public key) when PERMIT_MCP_IDENTITY_MODE=jwt",
    );
  }
  const isPublicKey = secret.includes("-----BEGIN");
  const names = e.PERMIT_MCP_JWT_ALGORITHMS ?? [isPublicKey ? "RS256" : "HS256"];
  const unknown = names.filter((n) => !isJwtAlgorithm(n));
  if (unknown.length > 0 || names.length === 0) {
    throw new ConfigError(
      `PERMIT_MCP_JWT_ALGORITHMS: unknown algorithm ${unknown.join(", ") || "(empty list)"}; expected some of ${JWT_ALGORITHMS.join(", ")}`,
    );
  }
  const algorithms = names.filter(isJwtAlgorithm);
  const hmac = algorithms.filter((a) => a.startsWith("HS"));
  if (hmac.length > 0 && hmac.length < algorithms.length) {
    throw new ConfigError(
      `PERMIT_MCP_JWT_ALGORITHMS mixes HMAC and public-key algorithms (${algorithms.join(", ")}) for one key, which allows algorithm confusion: name only HS* (with a secret) or only RS/PS/ES/EdDSA (with a PEM public key)`,
    );
  }
  if (isPublicKey === hmac.length > 0) {
    throw new ConfigError(
      isPublicKey
        ? "PERMIT_MCP_JWT_ALGORITHMS: a PEM public key in PERMIT_MCP_IDENTITY_JWT_SECRET needs RS/PS/ES/EdDSA algorithms"
        : "PERMIT_MCP_JWT_ALGORITHMS: a shared secret in PERMIT_MCP_IDENTITY_JWT_SECRET needs HS256/HS384/HS512",
    );
  }
  let verify: IdentityResolver;
  try {
    // Core matches the pattern at the start of the header's value, as Python's re.match does.
    verify = jwtIdentity({
      algorithms,
      ...(isPublicKey ? { publicKey: secret } : { secret }),
      header,
      tokenPattern: headerPattern(e.PERMIT_MCP_IDENTITY_HEADER_REGEX ?? "[Bb]earer (.+)"),
      subjectClaim: e.PERMIT_MCP_IDENTITY_JWT_FIELD ?? "sub",
    });
  } catch (error) {
    if (error instanceof ConfigError && error.message.startsWith("PERMIT_MCP_")) throw error;
    // The core message never holds the secret; prefix it with the variable to fix.
    const detail = error instanceof Error ? error.message : String(error);
    const variable = detail.startsWith("jwtIdentity: tokenPattern")
      ? "PERMIT_MCP_IDENTITY_HEADER_REGEX"
      : "PERMIT_MCP_IDENTITY_JWT_SECRET / PERMIT_MCP_JWT_ALGORITHMS";
    throw new ConfigError(`${variable}: ${detail}`, { cause: error });
  }
  return function permitJwt(context) {
    // Only the token in the configured header is verified, never the transport's auth info.
    return verify(withoutAuthInfo(context));
  };
}

/** The context without the transport's auth info, which core would fall back to. */
function withoutAuthInfo(context: RequestContext): RequestContext {
  if (context.authInfo === undefined) return context;
  const { authInfo: _authInfo, ...rest } = context;
  return rest;
}

/** `PERMIT_MCP_IDENTITY_HEADER_REGEX` compiled, with an error naming the variable. */
function headerPattern(source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (error) {
    throw new ConfigError("PERMIT_MCP_IDENTITY_HEADER_REGEX: not a valid regular expression", {
      cause: error,
    });
  }
}

/** The audit sink chosen by `PERMIT_MCP_ENABLE_AUDIT_LOGGING` (default true: JSON lines on stderr). */
export function permitAuditFromEnv(env: Env = process.env): AuditSink | false {
  return audit(readPermitEnv(env));
}

function audit(e: PermitEnv): AuditSink | false {
  return (e.PERMIT_MCP_ENABLE_AUDIT_LOGGING ?? true) ? jsonLinesAuditSink() : false;
}

/** What {@link permitOptionsFromEnv} returns: spread it into `authorize(server, ...)`. */
export interface PermitAuthorizeOptions {
  readonly pdp: PermitPdp;
  readonly identity: IdentityResolver;
  readonly mapping: MappingOptions;
  readonly audit: AuditSink | false;
}

/**
 * The whole authorization setup from permit-fastmcp's environment: the PDP, the identity resolver,
 * the mapping and the audit sink. Every variable is validated first, so a bad value fails at
 * start-up with the variable's name. The PDP denies unauthenticated callers without asking Permit
 * (a missing header or a bad token is never sent on as a guessed user).
 */
export function permitOptionsFromEnv(
  overrides: Partial<PermitPdpOptions> = {},
  env: Env = process.env,
): PermitAuthorizeOptions {
  const e = readPermitEnv(env);
  const mapping = mappingOptions(e);
  const resolver = identity(e);
  const sink = audit(e);
  const pdp = permitPdp(pdpOptions(e, overrides));
  return { pdp, identity: resolver, mapping, audit: sink };
}
