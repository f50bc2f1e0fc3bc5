import { type EunomiaIdentityOptions, type IdentityResolver, eunomiaIdentity } from "@mcp-pdp/core";

/**
 * eunomia-mcp's principal: core's {@link eunomiaIdentity} with `apiKey` (`X-Agent-ID` as the
 * subject, `X-User-ID` and `User-Agent` as `user_id` and `user_agent`, and `api_key`, the
 * `Authorization` header with every `"Bearer "` removed, as eunomia-mcp 0.3.10 sends it). The key
 * goes to the Eunomia server as it is, like eunomia-mcp's, so a rule keyed on it (a deny for a
 * revoked key above all) still matches; audit events never carry subject attributes, so it does
 * not reach them. The defaults eunomia-mcp fills in (`user_id: "unknown"`, `user_agent:
 * "undefined"`) are added by {@link eunomiaView}, for every identity resolver.
 */
export function eunomiaMcpIdentity(options: EunomiaIdentityOptions = {}): IdentityResolver {
  return eunomiaIdentity({ apiKey: true, ...options });
}
