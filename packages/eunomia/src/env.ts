import { type Env, type IdentityResolver, envValue, readEnv } from "@mcp-pdp/core";
import { type EunomiaAdmin, type EunomiaAdminOptions, eunomiaAdmin } from "./admin.js";
import { eunomiaMcpIdentity } from "./identity.js";
import { type EunomiaPdp, type EunomiaPdpOptions, eunomiaPdp } from "./pdp.js";

/** The environment variables read by this package, with their validators. */
export const EUNOMIA_ENV = {
  /** The server's base URL. */
  EUNOMIA_ENDPOINT: envValue.url(),
  /** The admin API key (`WAY-API-KEY` header); used by the admin client only. */
  WAY_API_KEY: envValue.string(),
  /** Milliseconds one check may take. */
  EUNOMIA_TIMEOUT_MS: envValue.integer(1, 600_000),
};

/**
 * The Eunomia adapter configured from `EUNOMIA_ENDPOINT` (default `http://localhost:8421`) and
 * `EUNOMIA_TIMEOUT_MS`. Options given here win. A bad value throws a ConfigError naming it.
 */
export function eunomiaFromEnv(
  overrides: EunomiaPdpOptions = {},
  env: Env = process.env,
): EunomiaPdp {
  const e = readEnv(EUNOMIA_ENV, env);
  return eunomiaPdp({
    ...(e.EUNOMIA_ENDPOINT !== undefined ? { endpoint: e.EUNOMIA_ENDPOINT } : {}),
    ...(e.EUNOMIA_TIMEOUT_MS !== undefined ? { timeoutMs: e.EUNOMIA_TIMEOUT_MS } : {}),
    ...overrides,
  });
}

/** The admin client configured from `EUNOMIA_ENDPOINT` and `WAY_API_KEY`. Options given here win. */
export function eunomiaAdminFromEnv(
  overrides: EunomiaAdminOptions = {},
  env: Env = process.env,
): EunomiaAdmin {
  const e = readEnv(EUNOMIA_ENV, env);
  return eunomiaAdmin({
    ...(e.EUNOMIA_ENDPOINT !== undefined ? { endpoint: e.EUNOMIA_ENDPOINT } : {}),
    ...(e.WAY_API_KEY !== undefined ? { apiKey: e.WAY_API_KEY } : {}),
    ...overrides,
  });
}

/** What {@link eunomiaOptionsFromEnv} returns: spread it into `authorize(server, ...)`. */
export interface EunomiaAuthorizeOptions {
  readonly pdp: EunomiaPdp;
  /** eunomia-mcp's identity: `X-Agent-ID`, `X-User-ID`, `User-Agent`, `Authorization`. */
  readonly identity: IdentityResolver;
}

/** The PDP from the environment plus eunomia-mcp's header identity ({@link eunomiaMcpIdentity}). */
export function eunomiaOptionsFromEnv(
  overrides: EunomiaPdpOptions = {},
  env: Env = process.env,
): EunomiaAuthorizeOptions {
  return { pdp: eunomiaFromEnv(overrides, env), identity: eunomiaMcpIdentity() };
}
