import { z } from "zod";
import { type AuditSink, defaultAuditSink, jsonLinesAuditSink, noopAuditSink } from "./audit.js";
import { ConfigError } from "./errors.js";
import { checkHmacSecret } from "./hmac.js";
import {
  type IdentityResolver,
  authInfoIdentity,
  fixedIdentity,
  headerIdentity,
  isJwtAlgorithm,
  jwtIdentity,
} from "./identity.js";
import type { MappingOptions } from "./mapping.js";

/** Environment variables as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>;

function parseJsonOrList(raw: string): unknown {
  const text = raw.trim();
  if (text.startsWith("[")) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return Symbol.for("invalid-json");
    }
  }
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Adds a custom issue saying what was expected. The raw value goes in `params.got`, not in the
 * message: {@link readEnv} decides whether it may be shown (never for a URL or a secret).
 */
function expected(ctx: z.RefinementCtx<string>, what: string, got?: string): typeof z.NEVER {
  ctx.addIssue({
    code: "custom",
    message: `expected ${what}`,
    ...(got !== undefined ? { params: { got } } : {}),
  });
  return z.NEVER;
}

/** zod schemas for environment values, which arrive as strings. */
export const envValue = {
  string: () => z.string().min(1),
  boolean: () =>
    z.string().transform((v, ctx) => {
      const s = v.trim().toLowerCase();
      if (["true", "1", "yes", "on"].includes(s)) return true;
      if (["false", "0", "no", "off"].includes(s)) return false;
      return expected(ctx, "true or false", v);
    }),
  integer: (min = 0, max = Number.MAX_SAFE_INTEGER) =>
    z.string().transform((v, ctx) => {
      // Decimal digits only: Number() would also take "0x10", "1e3" and "1.0".
      const text = v.trim();
      const n = /^[+-]?\d+$/.test(text) ? Number(text) : NaN;
      if (!Number.isInteger(n) || n < min || n > max) {
        return expected(ctx, `an integer from ${min} to ${max}`, v);
      }
      return n;
    }),
  /** A JSON array of strings, or a comma-separated list. */
  list: () =>
    z.string().transform((v, ctx) => {
      const parsed = parseJsonOrList(v);
      if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) {
        return expected(ctx, "a JSON array of strings or a comma-separated list", v);
      }
      return parsed;
    }),
  /** An http(s) URL. A bad value is never repeated: a mistyped URL may carry a token. */
  url: () =>
    z.string().transform((v, ctx) => {
      try {
        const u = new URL(v.trim());
        if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http");
        return u.toString().replace(/\/$/, "");
      } catch {
        return expected(ctx, "an http(s) URL such as http://localhost:8181");
      }
    }),
  oneOf: <const T extends readonly [string, ...string[]]>(values: T) =>
    z.string().transform((v, ctx): T[number] => {
      const s = v.trim();
      const found = values.find((x) => x === s);
      if (found !== undefined) return found;
      return expected(ctx, `one of ${values.join(", ")}`, v);
    }),
};

type Shape = Record<string, z.ZodType<unknown, string>>;
type Parsed<S extends Shape> = { [K in keyof S]?: z.output<S[K]> };

/** Variables whose value is a secret, by name: their value never appears in an error. */
const SECRET_NAME = /KEY|TOKEN|SECRET|PASSWORD/i;

/** An issue's message, followed by the bad value when it may be shown. */
function describeIssue(issue: z.core.$ZodIssue, showValue: boolean): string {
  const got: unknown = issue.code === "custom" ? issue.params?.got : undefined;
  return showValue && typeof got === "string"
    ? `${issue.message}, got ${JSON.stringify(got)}`
    : issue.message;
}

/**
 * Validates the named environment variables. Empty values count as unset. A bad value throws a
 * {@link ConfigError} naming the variable and what was expected, so a server fails at start-up.
 * The bad value is repeated only when it cannot be a secret: never for a URL, nor for a variable
 * whose name contains KEY, TOKEN, SECRET or PASSWORD.
 */
export function readEnv<S extends Shape>(shape: S, env: Env = process.env): Parsed<S> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, schema] of Object.entries(shape)) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") continue;
    const result = schema.safeParse(raw);
    if (result.success) out[name] = result.data;
    else {
      const show = !SECRET_NAME.test(name);
      problems.push(
        `${name}: ${result.error.issues.map((i) => describeIssue(i, show)).join("; ")}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(
      `Invalid environment variable${problems.length > 1 ? "s" : ""}: ${problems.join(" | ")}`,
    );
  }
  return out as Parsed<S>;
}

/**
 * The largest `MCP_PDP_MAX_NAME_LENGTH` and `MCP_PDP_MAX_URI_LENGTH` accepted: past it a request
 * is no longer cached (the cache copies at most 65,536 characters of one) and the audit keeps only
 * a bounded form anyway, so a larger value only makes oversized requests cheaper to send. Code may
 * still set any positive integer.
 */
const MAX_LENGTH_FROM_ENV = 65_536;

/** The generic `MCP_PDP_*` variables (and `MCP_SERVER_NAME`). */
export const MCP_PDP_ENV = {
  MCP_SERVER_NAME: envValue.string(),
  MCP_PDP_BYPASSED_METHODS: envValue.list(),
  MCP_PDP_TOOL_NAMES: envValue.oneOf(["normalize", "raw"]),
  MCP_PDP_FLATTEN_ARGUMENTS: envValue.boolean(),
  MCP_PDP_ARGUMENT_PREFIX: envValue.string(),
  MCP_PDP_MAX_NAME_LENGTH: envValue.integer(1, MAX_LENGTH_FROM_ENV),
  MCP_PDP_MAX_URI_LENGTH: envValue.integer(1, MAX_LENGTH_FROM_ENV),
  MCP_PDP_DENY_MODE: envValue.oneOf(["error", "tool-result", "not-found"]),
  MCP_PDP_EXPOSE_REASONS: envValue.boolean(),
  MCP_PDP_AUDIT: envValue.string(),
  MCP_PDP_IDENTITY: envValue.oneOf(["auth-info", "fixed", "header", "jwt"]),
  MCP_PDP_IDENTITY_FIXED_VALUE: envValue.string(),
  MCP_PDP_IDENTITY_ROLES: envValue.list(),
  MCP_PDP_IDENTITY_TENANT: envValue.string(),
  MCP_PDP_IDENTITY_HEADER: envValue.string(),
  MCP_PDP_IDENTITY_HEADER_REGEX: envValue.string(),
  MCP_PDP_IDENTITY_ROLES_HEADER: envValue.string(),
  MCP_PDP_JWT_ALGORITHMS: envValue.list(),
  MCP_PDP_JWT_SECRET: envValue.string(),
  MCP_PDP_JWT_PUBLIC_KEY: envValue.string(),
  MCP_PDP_JWT_JWKS_URL: envValue.url(),
  MCP_PDP_JWT_ISSUER: envValue.string(),
  MCP_PDP_JWT_AUDIENCE: envValue.string(),
  MCP_PDP_JWT_SUBJECT_CLAIM: envValue.string(),
  MCP_PDP_JWT_ROLES_CLAIM: envValue.string(),
  MCP_PDP_JWT_VERIFIED_CACHE_MS: envValue.integer(0, 3_600_000),
  MCP_PDP_CACHE_ALLOW_TTL_MS: envValue.integer(0),
  MCP_PDP_CACHE_DENY_TTL_MS: envValue.integer(0),
  MCP_PDP_CACHE_MAX: envValue.integer(1),
  MCP_PDP_TIMEOUT_MS: envValue.integer(1),
  MCP_PDP_RETRIES: envValue.integer(0, 10),
  MCP_PDP_BATCH_WAIT_MS: envValue.integer(0, 60_000),
  MCP_PDP_BATCH_MAX: envValue.integer(1),
};

export type McpPdpEnv = Parsed<typeof MCP_PDP_ENV>;

/** Reads and validates every generic variable. */
export function readMcpPdpEnv(env: Env = process.env): McpPdpEnv {
  return readEnv(MCP_PDP_ENV, env);
}

/**
 * Mapping options from `MCP_SERVER_NAME`, `MCP_PDP_BYPASSED_METHODS`, `MCP_PDP_TOOL_NAMES`,
 * `MCP_PDP_FLATTEN_ARGUMENTS`, `MCP_PDP_ARGUMENT_PREFIX`, `MCP_PDP_MAX_NAME_LENGTH` and
 * `MCP_PDP_MAX_URI_LENGTH` (integers from 1 to 65,536).
 */
export function mappingFromEnv(env: Env = process.env): MappingOptions {
  const e = readMcpPdpEnv(env);
  return {
    ...(e.MCP_SERVER_NAME !== undefined ? { serverName: e.MCP_SERVER_NAME } : {}),
    ...(e.MCP_PDP_BYPASSED_METHODS !== undefined ? { bypass: e.MCP_PDP_BYPASSED_METHODS } : {}),
    ...(e.MCP_PDP_TOOL_NAMES !== undefined ? { toolNames: e.MCP_PDP_TOOL_NAMES } : {}),
    ...(e.MCP_PDP_FLATTEN_ARGUMENTS !== undefined
      ? { flattenArguments: e.MCP_PDP_FLATTEN_ARGUMENTS }
      : {}),
    ...(e.MCP_PDP_ARGUMENT_PREFIX !== undefined
      ? { argumentPrefix: e.MCP_PDP_ARGUMENT_PREFIX }
      : {}),
    ...(e.MCP_PDP_MAX_NAME_LENGTH !== undefined
      ? { maxNameLength: e.MCP_PDP_MAX_NAME_LENGTH }
      : {}),
    ...(e.MCP_PDP_MAX_URI_LENGTH !== undefined ? { maxUriLength: e.MCP_PDP_MAX_URI_LENGTH } : {}),
  };
}

/**
 * The identity resolver chosen by `MCP_PDP_IDENTITY` (`auth-info` by default, `fixed`, `header`,
 * `jwt`), configured from the matching variables. `header` reads `MCP_PDP_IDENTITY_HEADER`
 * (default `x-user-id`, set by a trusted gateway); `Authorization` is refused there, since the
 * token would become the id: use `jwt` or `auth-info` for bearer tokens.
 */
export function identityFromEnv(env: Env = process.env): IdentityResolver {
  const e = readMcpPdpEnv(env);
  const mode = e.MCP_PDP_IDENTITY ?? "auth-info";
  const roles = e.MCP_PDP_IDENTITY_ROLES;
  switch (mode) {
    case "fixed":
      return fixedIdentity(e.MCP_PDP_IDENTITY_FIXED_VALUE ?? "client", {
        ...(roles ? { roles } : {}),
        ...(e.MCP_PDP_IDENTITY_TENANT !== undefined ? { tenant: e.MCP_PDP_IDENTITY_TENANT } : {}),
      });
    case "header":
      try {
        return headerIdentity({
          header: e.MCP_PDP_IDENTITY_HEADER ?? "x-user-id",
          ...(e.MCP_PDP_IDENTITY_HEADER_REGEX !== undefined
            ? { regex: e.MCP_PDP_IDENTITY_HEADER_REGEX }
            : {}),
          ...(e.MCP_PDP_IDENTITY_ROLES_HEADER !== undefined
            ? { rolesHeader: e.MCP_PDP_IDENTITY_ROLES_HEADER }
            : {}),
        });
      } catch (error) {
        if (error instanceof ConfigError) {
          throw new ConfigError(`MCP_PDP_IDENTITY_HEADER*: ${error.message}`, { cause: error });
        }
        throw error;
      }
    case "jwt": {
      const algorithms = e.MCP_PDP_JWT_ALGORITHMS;
      if (!algorithms)
        throw new ConfigError("MCP_PDP_JWT_ALGORITHMS is required when MCP_PDP_IDENTITY=jwt");
      const bad = algorithms.filter((a) => !isJwtAlgorithm(a));
      if (bad.length > 0)
        throw new ConfigError(`MCP_PDP_JWT_ALGORITHMS: unknown algorithm ${bad.join(", ")}`);
      // Checked here too, so the message names the variable rather than the option.
      if (e.MCP_PDP_JWT_SECRET !== undefined)
        checkHmacSecret("MCP_PDP_JWT_SECRET", e.MCP_PDP_JWT_SECRET, algorithms);
      try {
        return jwtIdentity({
          algorithms: algorithms.filter(isJwtAlgorithm),
          ...(e.MCP_PDP_JWT_SECRET !== undefined ? { secret: e.MCP_PDP_JWT_SECRET } : {}),
          ...(e.MCP_PDP_JWT_PUBLIC_KEY !== undefined
            ? { publicKey: e.MCP_PDP_JWT_PUBLIC_KEY }
            : {}),
          ...(e.MCP_PDP_JWT_JWKS_URL !== undefined ? { jwksUrl: e.MCP_PDP_JWT_JWKS_URL } : {}),
          ...(e.MCP_PDP_JWT_ISSUER !== undefined ? { issuer: e.MCP_PDP_JWT_ISSUER } : {}),
          ...(e.MCP_PDP_JWT_AUDIENCE !== undefined ? { audience: e.MCP_PDP_JWT_AUDIENCE } : {}),
          ...(e.MCP_PDP_JWT_SUBJECT_CLAIM !== undefined
            ? { subjectClaim: e.MCP_PDP_JWT_SUBJECT_CLAIM }
            : {}),
          ...(e.MCP_PDP_JWT_ROLES_CLAIM !== undefined
            ? { rolesClaim: e.MCP_PDP_JWT_ROLES_CLAIM }
            : {}),
          ...(e.MCP_PDP_JWT_VERIFIED_CACHE_MS !== undefined
            ? { verifiedCacheMs: e.MCP_PDP_JWT_VERIFIED_CACHE_MS }
            : {}),
        });
      } catch (error) {
        if (error instanceof ConfigError) {
          throw new ConfigError(`MCP_PDP_JWT_*: ${error.message}`, { cause: error });
        }
        throw error;
      }
    }
    case "auth-info":
      return authInfoIdentity();
  }
}

/** The audit sink chosen by `MCP_PDP_AUDIT`: `stderr` (default), `stdout`, `off`, or a file path. */
export function auditFromEnv(env: Env = process.env): AuditSink {
  const target = readMcpPdpEnv(env).MCP_PDP_AUDIT ?? "stderr";
  if (target === "off") return noopAuditSink;
  if (target === "stderr") return defaultAuditSink();
  if (target === "stdout") return jsonLinesAuditSink({ destination: process.stdout });
  return jsonLinesAuditSink({ destination: target });
}
