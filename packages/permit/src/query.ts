import type { AuthorizationRequest } from "@mcp-pdp/core";

/** A Permit user: its key and the attributes ABAC policies read. */
export interface PermitUser {
  readonly key: string;
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** A Permit resource. `tenant` is always set on the wire (`default` when the request has none). */
export interface PermitResource {
  readonly type: string;
  readonly key?: string;
  readonly tenant: string;
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** The body of `POST /allowed` (and one item of `POST /allowed/bulk`). */
export interface PermitQuery {
  readonly user: PermitUser;
  readonly action: string;
  readonly resource: PermitResource;
  readonly context: Readonly<Record<string, unknown>>;
}

/** Turns a neutral request into a Permit query; replace it to use another scheme. */
export type PermitQueryBuilder = (request: AuthorizationRequest) => PermitQuery;

/** The tenant used when neither the resource nor the subject names one. */
export const DEFAULT_TENANT = "default";

/**
 * The default translation. The Authorizer has already mapped the MCP method to the resource type,
 * key, attributes and action; this puts them on the wire. The subject's attributes, roles, scopes
 * and `authenticated` become user attributes (so ABAC user sets can read them); the tenant comes from the
 * resource, else the subject, else {@link DEFAULT_TENANT}. The context carries the MCP method and
 * phase, so a policy can tell listing from calling.
 */
export function toPermitQuery(
  request: AuthorizationRequest,
  defaultTenant: string = DEFAULT_TENANT,
): PermitQuery {
  const { subject, resource, operation } = request;
  // `authenticated` is always sent: an unauthenticated caller's placeholder id must never pass for
  // a real user of the same key.
  const userAttributes: Record<string, unknown> = {
    ...subject.attributes,
    authenticated: subject.authenticated,
  };
  if (subject.roles !== undefined) userAttributes.roles = [...subject.roles];
  if (subject.scopes !== undefined) userAttributes.scopes = [...subject.scopes];
  if (subject.tenant !== undefined) userAttributes.tenant = subject.tenant;
  const tenant = nonEmpty(resource.tenant) ?? nonEmpty(subject.tenant) ?? defaultTenant;
  return {
    user: { key: subject.id, attributes: userAttributes },
    action: request.action,
    resource: {
      type: resource.type,
      ...(resource.key !== undefined ? { key: resource.key } : {}),
      tenant,
      attributes: { ...resource.attributes },
    },
    context: { ...request.context, mcp_method: operation.method, mcp_phase: operation.phase },
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
