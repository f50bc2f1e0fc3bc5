import { ConfigError, type Env, envValue, readEnv } from "@mcp-pdp/core";
import { type OpaPdp, type OpaPdpOptions, normalizeDecisionPath, opaPdp } from "./pdp.js";

/** The environment variables read by this package, with their validators. */
export const OPA_ENV = {
  /** OPA's base URL. */
  OPA_URL: envValue.url(),
  /** The decision document (`mcp/authz/allow` or `data.mcp.authz.allow`). */
  OPA_DECISION_PATH: envValue.string(),
  /** Bearer token for OPA's token authentication. */
  OPA_TOKEN: envValue.string(),
  /** Milliseconds one call may take. */
  OPA_TIMEOUT_MS: envValue.integer(1, 600_000),
  /** `auto` (probe the Enterprise batch endpoint once) or `off` (single calls only). */
  OPA_BATCH: envValue.oneOf(["auto", "off"]),
};

/**
 * The OPA adapter configured from `OPA_URL` (default `http://localhost:8181`), `OPA_DECISION_PATH`
 * (default `mcp/authz/allow`), `OPA_TOKEN`, `OPA_TIMEOUT_MS` and `OPA_BATCH` (default `auto`).
 * Options given here win. A bad value throws a ConfigError naming the variable.
 */
export function opaFromEnv(overrides: OpaPdpOptions = {}, env: Env = process.env): OpaPdp {
  const e = readEnv(OPA_ENV, env);
  if (e.OPA_DECISION_PATH !== undefined && overrides.decisionPath === undefined) {
    try {
      normalizeDecisionPath(e.OPA_DECISION_PATH);
    } catch (error) {
      throw new ConfigError(
        `OPA_DECISION_PATH: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }
  return opaPdp({
    ...(e.OPA_URL !== undefined ? { url: e.OPA_URL } : {}),
    ...(e.OPA_DECISION_PATH !== undefined ? { decisionPath: e.OPA_DECISION_PATH } : {}),
    ...(e.OPA_TOKEN !== undefined ? { token: e.OPA_TOKEN } : {}),
    ...(e.OPA_TIMEOUT_MS !== undefined ? { timeoutMs: e.OPA_TIMEOUT_MS } : {}),
    ...(e.OPA_BATCH !== undefined ? { batch: e.OPA_BATCH } : {}),
    ...overrides,
  });
}
