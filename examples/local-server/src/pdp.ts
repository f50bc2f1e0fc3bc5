/**
 * Chooses the PDP and the rest of the guard options from environment variables alone, so the same
 * example runs on the local engine or on any remote adapter.
 */
import { fileURLToPath } from "node:url";
import {
  type Env,
  type IdentityResolver,
  type PolicyDecisionPoint,
  auditFromEnv,
  decoratorsFromEnv,
  envValue,
  mappingFromEnv,
  readEnv,
  readMcpPdpEnv,
} from "@mcp-pdp/core";
import { ADAPTERS, remotePdpFromEnv } from "@mcp-pdp/cli";
import type { GuardOptions } from "@mcp-pdp/mcp";
import { SERVER_NAME } from "./server.js";

/** The YAML policy of this example. */
export const POLICY_FILE = fileURLToPath(new URL("../policy.yaml", import.meta.url));

/**
 * The PDP named by `MCP_PDP_ADAPTER` (default `local`), configured by that adapter's variables.
 * A remote PDP gets the decorators the `MCP_PDP_CACHE_*`, `MCP_PDP_TIMEOUT_MS`, `MCP_PDP_RETRIES`
 * and `MCP_PDP_BATCH_*` variables configure (cache, batching, resilience, telemetry).
 */
export async function pdpFromEnv(env: Env = process.env): Promise<PolicyDecisionPoint> {
  const adapter =
    readEnv({ MCP_PDP_ADAPTER: envValue.oneOf(ADAPTERS) }, env).MCP_PDP_ADAPTER ?? "local";
  switch (adapter) {
    case "local": {
      const { localFromEnv } = await import("@mcp-pdp/local");
      return localFromEnv({ MCP_PDP_POLICY_FILE: POLICY_FILE, ...env }); // in-process: nothing to cache
    }
    default:
      return decoratorsFromEnv({}, env)(await remotePdpFromEnv(adapter, env));
  }
}

/** Every guard option from the environment: PDP, mapping (server `notes`), audit, deny mode. */
export async function guardOptionsFromEnv(
  env: Env,
  identity: IdentityResolver,
): Promise<GuardOptions> {
  const generic = readMcpPdpEnv(env);
  return {
    pdp: await pdpFromEnv(env),
    identity,
    mapping: { serverName: SERVER_NAME, ...mappingFromEnv(env) },
    audit: auditFromEnv(env),
    ...(generic.MCP_PDP_DENY_MODE !== undefined ? { denyMode: generic.MCP_PDP_DENY_MODE } : {}),
    ...(generic.MCP_PDP_EXPOSE_REASONS !== undefined
      ? { exposeReasons: generic.MCP_PDP_EXPOSE_REASONS }
      : {}),
  };
}
