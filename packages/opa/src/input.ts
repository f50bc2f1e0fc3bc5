import type { AuthorizationRequest, ComponentMetadata, Operation, Subject } from "@mcp-pdp/core";

/** The `input` document sent to OPA for one request. */
export interface OpaInput {
  readonly subject: Subject;
  readonly action: string;
  readonly resource: AuthorizationRequest["resource"];
  readonly operation: {
    readonly method: string;
    readonly phase: Operation["phase"];
    readonly component?: Operation["component"];
    readonly name?: string;
    readonly uri?: string;
    readonly arguments?: Readonly<Record<string, unknown>>;
    readonly server: string;
    /** What the server declared about the component (annotations, tags), when known. */
    readonly metadata?: ComponentMetadata;
  };
  readonly context?: Readonly<Record<string, unknown>>;
}

/** Builds the input document from a neutral request; replace it to shape the input yourself. */
export type OpaInputBuilder = (request: AuthorizationRequest) => unknown;

/**
 * The default input: `{subject, action, resource, operation: {method, phase, component, name, uri,
 * arguments, server, metadata}}`, plus `context` when the request has one. Fields a request lacks
 * are left out rather than sent as null, so Rego's `not input.operation.arguments` works.
 */
export function toOpaInput(request: AuthorizationRequest): OpaInput {
  const op = request.operation;
  return {
    subject: request.subject,
    action: request.action,
    resource: request.resource,
    operation: {
      method: op.method,
      phase: op.phase,
      ...(op.component !== undefined ? { component: op.component } : {}),
      ...(op.name !== undefined ? { name: op.name } : {}),
      ...(op.uri !== undefined ? { uri: op.uri } : {}),
      ...(op.arguments !== undefined ? { arguments: op.arguments } : {}),
      server: op.server,
      ...(op.metadata !== undefined ? { metadata: op.metadata } : {}),
    },
    ...(request.context !== undefined ? { context: request.context } : {}),
  };
}
