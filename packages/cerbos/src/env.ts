import { ConfigError, type Env, type PolicyDecisionPoint, envValue, readEnv } from "@mcp-pdp/core";
import { z } from "zod";
import { type CerbosPdpOptions, cerbosPdp, checkHeaders } from "./pdp.js";

/**
 * Parses `CERBOS_HEADERS`: a JSON object of strings, or `name=value` pairs joined by commas.
 * Messages never repeat the text: header values are often credentials.
 */
function headersValue() {
  return z.string().transform((raw, ctx) => {
    const text = raw.trim();
    let headers: Record<string, string> = {};
    if (text.startsWith("{")) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({
          code: "custom",
          message: "expected a JSON object, and the JSON is invalid",
        });
        return z.NEVER;
      }
      if (
        typeof parsed !== "object" ||
        parsed === null ||
        Array.isArray(parsed) ||
        !Object.values(parsed).every((v) => typeof v === "string")
      ) {
        ctx.addIssue({ code: "custom", message: "expected a JSON object of string values" });
        return z.NEVER;
      }
      headers = parsed as Record<string, string>;
    } else {
      for (const pair of text.split(",")) {
        if (pair.trim() === "") continue;
        const eq = pair.indexOf("=");
        if (eq <= 0) {
          ctx.addIssue({
            code: "custom",
            message: "expected name=value pairs separated by commas, or a JSON object",
          });
          return z.NEVER;
        }
        headers[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
      }
    }
    try {
      return checkHeaders(headers, "header");
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  });
}

/** The environment variables {@link cerbosFromEnv} reads. */
export const CERBOS_ENV = {
  /** Base URL of the Cerbos HTTP API. */
  CERBOS_URL: envValue.url(),
  /** Extra headers: `{"x-api-key":"..."}` or `x-api-key=...,x-other=...`. */
  CERBOS_HEADERS: headersValue(),
  CERBOS_TIMEOUT_MS: envValue.integer(1, 600_000),
  CERBOS_MAX_RESOURCES_PER_REQUEST: envValue.integer(1, 100_000),
  CERBOS_SCHEME: envValue.oneOf(["component", "neutral"]),
  CERBOS_KIND_PREFIX: envValue.string(),
  CERBOS_PREFIX_KIND_WITH_SERVER: envValue.boolean(),
  CERBOS_DEFAULT_ROLES: envValue.list(),
  CERBOS_POLICY_VERSION: envValue.string(),
  CERBOS_SCOPE: envValue.string(),
};

/** Options read from the `CERBOS_*` variables (unset variables are absent). */
export function cerbosOptionsFromEnv(env: Env = process.env): CerbosPdpOptions {
  const e = readEnv(CERBOS_ENV, env);
  if (e.CERBOS_DEFAULT_ROLES?.length === 0) {
    throw new ConfigError(
      "Invalid environment variable: CERBOS_DEFAULT_ROLES: give at least one role",
    );
  }
  return {
    ...(e.CERBOS_URL !== undefined ? { url: e.CERBOS_URL } : {}),
    ...(e.CERBOS_HEADERS !== undefined ? { headers: e.CERBOS_HEADERS } : {}),
    ...(e.CERBOS_TIMEOUT_MS !== undefined ? { timeoutMs: e.CERBOS_TIMEOUT_MS } : {}),
    ...(e.CERBOS_MAX_RESOURCES_PER_REQUEST !== undefined
      ? { maxResourcesPerRequest: e.CERBOS_MAX_RESOURCES_PER_REQUEST }
      : {}),
    ...(e.CERBOS_SCHEME !== undefined ? { scheme: e.CERBOS_SCHEME } : {}),
    ...(e.CERBOS_KIND_PREFIX !== undefined ? { kindPrefix: e.CERBOS_KIND_PREFIX } : {}),
    ...(e.CERBOS_PREFIX_KIND_WITH_SERVER !== undefined
      ? { prefixKindWithServer: e.CERBOS_PREFIX_KIND_WITH_SERVER }
      : {}),
    ...(e.CERBOS_DEFAULT_ROLES !== undefined ? { defaultRoles: e.CERBOS_DEFAULT_ROLES } : {}),
    ...(e.CERBOS_POLICY_VERSION !== undefined ? { policyVersion: e.CERBOS_POLICY_VERSION } : {}),
    ...(e.CERBOS_SCOPE !== undefined ? { scope: e.CERBOS_SCOPE } : {}),
  };
}

/**
 * A Cerbos PDP configured from `CERBOS_*` environment variables; `options` win over the
 * environment. A bad value throws a {@link ConfigError} naming the variable.
 */
export function cerbosFromEnv(
  options: CerbosPdpOptions = {},
  env: Env = process.env,
): PolicyDecisionPoint {
  return cerbosPdp({ ...cerbosOptionsFromEnv(env), ...options });
}
