import {
  type AuthorizationRequest,
  type ComponentMetadata,
  type Operation,
  type Subject,
  boundArguments,
} from "@mcp-pdp/core";

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
    /** The arguments, bounded (long strings shortened, deep or long structures cut). */
    readonly arguments?: Readonly<Record<string, unknown>>;
    /** `true` when `arguments` is not the whole of what the client sent. */
    readonly arguments_truncated?: true;
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
 * arguments, arguments_truncated, server, metadata}}`, plus `context` when the request has one.
 * Fields a request lacks are left out rather than sent as null, so Rego's
 * `not input.operation.arguments` works. The arguments are bounded with the limits the mapping
 * checked them against (`operation.argumentLimits`, core's defaults when absent), so what the
 * mapping accepted whole is sent whole and a 1 MB argument still never becomes a 1 MB request;
 * `arguments_truncated: true` tells the policy it does not see them whole.
 */
export function toOpaInput(request: AuthorizationRequest): OpaInput {
  const op = request.operation;
  const args =
    op.arguments !== undefined ? boundArguments(op.arguments, op.argumentLimits) : undefined;
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
      ...(args !== undefined ? { arguments: args.value } : {}),
      ...(args?.truncated === true ? { arguments_truncated: true as const } : {}),
      server: op.server,
      ...(op.metadata !== undefined ? { metadata: op.metadata } : {}),
    },
    ...(request.context !== undefined ? { context: request.context } : {}),
  };
}
