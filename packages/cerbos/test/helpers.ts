import {
  type AuthorizationRequest,
  type ListMethod,
  type Subject,
  mapListItem,
  mapRequest,
  resolveMapping,
} from "@mcp-pdp/core";

export const SERVER = "demo";

/** A request as the Authorizer builds it for an MCP call to server `server`. */
export function call(
  subject: Subject,
  method: string,
  params: Record<string, unknown> = {},
  server = SERVER,
): AuthorizationRequest {
  return { subject, ...mapRequest(method, params, resolveMapping({ serverName: server })) };
}

/** A request deciding the visibility of one list item. */
export function listed(
  subject: Subject,
  method: ListMethod,
  item: Record<string, unknown>,
  server = SERVER,
): AuthorizationRequest {
  const mapped = mapListItem(method, item, resolveMapping({ serverName: server }));
  if (!mapped) throw new Error("item has no name or uri");
  return { subject, ...mapped };
}

export const user = (extra: Partial<Subject> = {}): Subject => ({
  id: "uma",
  roles: ["user"],
  authenticated: true,
  ...extra,
});

export const admin: Subject = { id: "ada", roles: ["admin"], authenticated: true };
