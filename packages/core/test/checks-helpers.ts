import {
  type AuthorizationRequest,
  type CheckContext,
  type ComponentMetadata,
  type Subject,
  mapListItem,
  mapRequest,
  resolveMapping,
} from "../src/index.js";

export const mapping = resolveMapping();

export const anonymous: Subject = { id: "anonymous", authenticated: false };

export function user(id: string, extra: Partial<Omit<Subject, "id">> = {}): Subject {
  return { id, authenticated: true, ...extra };
}

/** The request the Authorizer builds for an MCP request, with the server-declared metadata. */
export function request(
  method: string,
  params: Record<string, unknown>,
  subject: Subject,
  metadata?: ComponentMetadata,
): AuthorizationRequest {
  const m = mapRequest(method, params, mapping);
  return {
    subject,
    operation: metadata ? { ...m.operation, metadata } : m.operation,
    resource: m.resource,
    action: m.action,
  };
}

/** The request deciding whether one item of a list result is visible. */
export function listItem(
  method: "tools/list" | "resources/list" | "resources/templates/list" | "prompts/list",
  item: Record<string, unknown>,
  subject: Subject,
  metadata?: ComponentMetadata,
): AuthorizationRequest {
  const m = mapListItem(method, item, mapping);
  if (!m) throw new Error("item cannot be mapped");
  return {
    subject,
    operation: metadata ? { ...m.operation, metadata } : m.operation,
    resource: m.resource,
    action: m.action,
  };
}

export function callTool(
  name: string,
  subject: Subject,
  metadata?: ComponentMetadata,
  args: Record<string, unknown> = {},
): AuthorizationRequest {
  return request("tools/call", { name, arguments: args }, subject, metadata);
}

export function contextOf(req: AuthorizationRequest): CheckContext {
  return { subject: req.subject, operation: req.operation, request: req };
}
