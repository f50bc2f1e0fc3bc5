import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type AuditEvent,
  type AuditSink,
  type AuthInfoLike,
  ConfigError,
  type IdentityResolver,
  type RequestContext,
  type Subject,
  auditText,
  getHeader,
} from "@mcp-pdp/core";

/** A Node `(req, res, next)` middleware, usable with Express, Connect and plain `node:http`. */
export type NodeMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/** Options of {@link identityChallenge}. */
export interface IdentityChallengeOptions {
  /** The header carrying the credential: the one the resolver reads. @defaultValue `"authorization"` */
  readonly header?: string;
  /**
   * Refuse a request without any credential too (`401` with a challenge but no `error`, as RFC 6750
   * §3.1 asks). Off, such a request goes on as an unauthenticated caller and the policy decides
   * what it may do (public tools keep working). @defaultValue false
   */
  readonly required?: boolean;
  /** The `realm` of the challenge. @defaultValue `"mcp"` */
  readonly realm?: string;
  /**
   * The URL of this server's OAuth protected resource metadata (RFC 9728), sent as the challenge's
   * `resource_metadata` so an MCP client can find the authorization server. @defaultValue none
   */
  readonly resourceMetadata?: string | URL;
  /**
   * Receives one event per refused request: the guard never sees those requests, so without it a
   * refused token leaves no audit trace. @defaultValue none
   */
  readonly audit?: AuditSink;
}

/** JSON-RPC "server error": the HTTP status and challenge say what failed, not this code. */
const CHALLENGE_CODE = -32000;

/** Characters allowed in a quoted challenge parameter (RFC 6750 §3: no `"` or `\`, printable). */
const QUOTABLE = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/;

function quotable(where: string, value: string): string {
  if (!QUOTABLE.test(value)) {
    throw new ConfigError(
      `identityChallenge: ${where} must be printable ASCII without quotes or backslashes`,
    );
  }
  return value;
}

/** The resolver's reason, reduced to what a quoted parameter may carry, and kept short. */
function description(subject: Subject | undefined): string {
  const reason = subject?.attributes?.identity_error;
  const text =
    typeof reason === "string" ? reason.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, "") : "";
  return text.slice(0, 200) || "the credential could not be verified";
}

function isSubject(value: unknown): value is Subject {
  return typeof value === "object" && value !== null && typeof (value as Subject).id === "string";
}

/** The JSON-RPC method and id, when a body parser (Express's `json()`) already read the body. */
function parsedBody(req: IncomingMessage): { method?: string; id?: string | number } {
  const body = (req as { body?: unknown }).body;
  if (typeof body !== "object" || body === null || Array.isArray(body)) return {};
  const { method, id } = body as { method?: unknown; id?: unknown };
  return {
    ...(typeof method === "string" ? { method } : {}),
    ...(typeof id === "string" || typeof id === "number" ? { id } : {}),
  };
}

/**
 * Answers `401` with a `WWW-Authenticate: Bearer` challenge (RFC 6750) before the MCP transport
 * handles a request whose credential the identity resolver refuses: a bad signature, an expired or
 * malformed token, a wrong issuer or audience. The guard works on MCP messages and cannot set an
 * HTTP status, so without this a client with an expired token would only see policy denials
 * (JSON-RPC `-32010`) and never learn to refresh it.
 *
 * Give it the resolver the guard uses (`jwtIdentity(...)`). A request without a credential goes on
 * unless `required` is set: the policy may grant unauthenticated callers something (public tools),
 * and a client that sent no token has nothing to refresh. A credential that was sent but fails is
 * never treated as a deliberate anonymous call. A resolver that throws is a failure too.
 */
export function identityChallenge(
  resolver: IdentityResolver,
  options: IdentityChallengeOptions = {},
): NodeMiddleware {
  const header = options.header ?? "authorization";
  const required = options.required ?? false;
  const realm = quotable("realm", options.realm ?? "mcp");
  let metadata: string | undefined;
  if (options.resourceMetadata !== undefined) {
    try {
      metadata = quotable("resourceMetadata", new URL(options.resourceMetadata).href);
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError("identityChallenge: resourceMetadata must be an absolute URL", {
        cause: error,
      });
    }
  }
  const audit = options.audit;

  const refuse = (
    req: IncomingMessage,
    res: ServerResponse,
    presented: boolean,
    subject: Subject | undefined,
    started: number,
  ): void => {
    const reason = description(subject);
    const params = [`realm="${realm}"`];
    // RFC 6750 §3.1: a request without credentials gets no error code.
    if (presented) params.push(`error="invalid_token"`, `error_description="${reason}"`);
    if (metadata !== undefined) params.push(`resource_metadata="${metadata}"`);
    const { method, id } = parsedBody(req);
    if (audit)
      writeAudit(audit, req, { method, id, reason, latencyMs: performance.now() - started });
    if (res.headersSent) return;
    res.writeHead(401, {
      "content-type": "application/json",
      "www-authenticate": `Bearer ${params.join(", ")}`,
    });
    res.end(
      JSON.stringify({
        jsonrpc: "2.0",
        error: {
          code: CHALLENGE_CODE,
          message: presented
            ? `Unauthorized: ${reason}`
            : "Unauthorized: a bearer token is required",
        },
        id: id ?? null,
      }),
    );
  };

  const check = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    // A CORS preflight never carries credentials (Fetch standard): refusing it would block the
    // browser's real request, which is checked in its turn.
    if (req.method === "OPTIONS") return true;
    const value = getHeader(req.headers, header);
    const presented = value !== undefined && value.trim() !== "";
    if (!presented && !required) return true;
    const started = performance.now();
    const auth = (req as { auth?: AuthInfoLike }).auth;
    const session = getHeader(req.headers, "mcp-session-id");
    const context: RequestContext = {
      transport: "http",
      headers: req.headers,
      ...(auth !== undefined ? { authInfo: auth } : {}),
      ...(session !== undefined ? { sessionId: session } : {}),
    };
    let subject: Subject | undefined;
    try {
      const resolved: unknown = await resolver(context);
      subject = isSubject(resolved) ? resolved : undefined;
    } catch {
      // Fail closed, and say nothing of the resolver's internals to the client.
      subject = undefined;
    }
    if (subject?.authenticated === true) return true;
    refuse(req, res, presented, subject, started);
    return false;
  };

  return function identityChallenge(req, res, next) {
    check(req, res).then(
      (pass) => {
        if (pass) next();
      },
      (error: unknown) => {
        next(error);
      },
    );
  };
}

/** One event per refused request, shaped like a decision so the same pipeline reads it. */
function writeAudit(
  audit: AuditSink,
  req: IncomingMessage,
  refusal: {
    method: string | undefined;
    id: string | number | undefined;
    reason: string;
    latencyMs: number;
  },
): void {
  const session = getHeader(req.headers, "mcp-session-id");
  const event: AuditEvent = {
    time: new Date().toISOString(),
    type: "decision",
    pdp: "identity-challenge",
    subject: { id: "anonymous", authenticated: false },
    identity_error: auditText(refusal.reason),
    method: auditText(refusal.method ?? `HTTP ${req.method ?? "?"}`),
    phase: "call",
    resource: { type: "http" },
    action: "authenticate",
    allow: false,
    reason: "401 Unauthorized",
    source: "error",
    errorCode: "IDENTITY_INVALID",
    latencyMs: Math.round(refusal.latencyMs * 1000) / 1000,
    // Sent by the client: bounded like every audit text.
    ...(refusal.id !== undefined ? { requestId: auditText(refusal.id) } : {}),
    ...(session !== undefined ? { sessionId: auditText(session) } : {}),
  };
  try {
    audit.write(event);
  } catch (error) {
    // The 401 still goes out; the loss is reported, never thrown into the request.
    process.emitWarning(
      `mcp-pdp audit sink failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
