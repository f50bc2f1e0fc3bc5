import {
  type AuthorizationRequest,
  type ListMethod,
  type Subject,
  mapListItem,
  mapRequest,
  resolveMapping,
} from "@mcp-pdp/core";

/** The mapping of the `notes` example server. */
export const notes = resolveMapping({ serverName: "notes" });

export const admin: Subject = { id: "root", authenticated: true, roles: ["admin"] };
export const alice: Subject = {
  id: "alice",
  authenticated: true,
  roles: ["user"],
  attributes: { dept: "eng", level: 3, teams: ["core", "infra"] },
};
export const guest: Subject = { id: "visitor", authenticated: true, roles: ["guest"] };
export const anonymous: Subject = { id: "anonymous", authenticated: false };

/** A request as the Authorizer builds it for an MCP request. */
export function call(subject: Subject, method: string, params: unknown = {}): AuthorizationRequest {
  return { subject, ...mapRequest(method, params, notes) };
}

/** A tools/call request. */
export function tool(
  subject: Subject,
  name: string,
  args?: Record<string, unknown>,
): AuthorizationRequest {
  return call(subject, "tools/call", { name, ...(args ? { arguments: args } : {}) });
}

/** The visibility check of one list item. */
export function item(subject: Subject, method: ListMethod, listed: unknown): AuthorizationRequest {
  const mapped = mapListItem(method, listed, notes);
  if (!mapped) throw new Error("item does not map");
  return { subject, ...mapped };
}
