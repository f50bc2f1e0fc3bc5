// This file is the complete public surface of @mcp-pdp/mcp/fastmcp.
import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingMessage } from "node:http";
import { type Authorizer, ConfigError, type IdentityResolver, type Subject } from "@mcp-pdp/core";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";
import { FastMCP, FastMCPSession, ServerState } from "fastmcp";
import { type AuthorizeOptions, authorize } from "./authorize.js";
import { TransportDecorator } from "./decorator.js";

/** What a FastMCP `authenticate` callback returns: the session auth its tools see as `session`. */
export type FastMCPAuth = Record<string, unknown> | undefined;

/** Turns a FastMCP session auth into the {@link Subject} the PDP decides for. */
export type SubjectMapper<T extends FastMCPAuth = FastMCPAuth> = (auth: T) => Subject;

/** Options of {@link authorizeFastMCP}. */
export interface FastMCPAuthorizeOptions<
  T extends FastMCPAuth = FastMCPAuth,
> extends AuthorizeOptions {
  /**
   * Maps the auth object your `authenticate` returned (wrapped in {@link forwardAuth}) to the
   * subject. Used by the default identity; ignored when `identity` is given.
   * @defaultValue {@link defaultSubject}
   */
  readonly subject?: SubjectMapper<T>;
}

/** What {@link authorizeFastMCP} returns. */
export interface FastMCPAuthorization {
  /**
   * Shared by every session of the server: call its `close()` on shutdown to flush the audit sink
   * (the PDP stays yours to close).
   */
  readonly authorizer: Authorizer;
}

/** The FastMCP authenticate callback's shape. */
type Authenticate<T> = (request: IncomingMessage) => Promise<T>;

/**
 * The server whose `start()` or `connect()` is running, and the auth of a session it makes without
 * an HTTP request (stdio, or `connect(transport, auth)`). FastMCP builds a session and connects it
 * inside these calls (an HTTP request's handler runs in the context `start()` opened its listener
 * in), so a session's connect can tell which authorized server it belongs to.
 */
interface Scope {
  readonly owner: Owner;
  auth: FastMCPAuth;
}

interface Owner {
  guard(transport: Transport): Transport;
}

const scopes = new AsyncLocalStorage<Scope>();

/** The auth infos {@link forwardAuth} made, with the FastMCP auth each stands for. */
const forwarded = new WeakMap<object, FastMCPAuth>();
/** Authenticate callbacks made by {@link forwardAuth}. */
const forwarders = new WeakSet();

function authInfoOf(auth: FastMCPAuth): AuthInfo {
  // A placeholder: the subject is read from the FastMCP auth it maps to, never from these fields.
  const info: AuthInfo = Object.freeze({ token: "", clientId: "", scopes: [] });
  forwarded.set(info, auth);
  return info;
}

/**
 * Wraps the `authenticate` callback you give `new FastMCP({ authenticate })` so that what it
 * returns reaches the policy checks as the caller's identity: on each HTTP request it is set as
 * `req.auth`, which the SDK's Streamable HTTP and SSE transports hand to the guard with every
 * message of that request; over stdio it becomes the session's identity. The result is returned
 * unchanged, so FastMCP and your tools see the same auth.
 *
 * An HTTP request that reaches it on a server {@link authorizeFastMCP} did not secure is refused
 * (FastMCP answers 401): a forgotten `authorizeFastMCP()` fails closed.
 */
export function forwardAuth<T extends FastMCPAuth>(authenticate: Authenticate<T>): Authenticate<T> {
  const forward = async function forwardAuth(request: IncomingMessage): Promise<T> {
    const scope = scopes.getStore();
    // FastMCP's stdio start() authenticates once, without a request: the session's auth.
    if ((request as IncomingMessage | undefined) === undefined) {
      const auth = await authenticate(request);
      if (scope) scope.auth = auth;
      return auth;
    }
    if (!scope) {
      throw new Error("mcp-pdp: this FastMCP server is not authorized; call authorizeFastMCP()");
    }
    const auth = await authenticate(request);
    if (typeof auth === "object") {
      (request as IncomingMessage & { auth?: AuthInfo }).auth = authInfoOf(auth);
    }
    return auth;
  };
  forwarders.add(forward);
  return forward;
}

function present(value: unknown): string | undefined {
  if (typeof value === "string" && value !== "") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

function strings(value: unknown): string[] | undefined {
  if (typeof value === "string") return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value) || value instanceof Set) {
    return [...(value as Iterable<unknown>)].filter((v): v is string => typeof v === "string");
  }
  return undefined;
}

/** Auth fields that hold credentials: never copied into attributes, which audit events carry. */
const SECRET = /token|secret|password|passwd|credential|api[-_]?key|cookie|authorization/i;
/** Fields the default mapping reads into the subject itself. */
const MAPPED = new Set(["id", "sub", "userId", "clientId", "roles", "role", "scopes", "tenant"]);

/**
 * The default {@link SubjectMapper}. The id is the first of `id`, `sub`, `userId`, `clientId`;
 * roles come from `roles` (array or space/comma-separated string) or a single `role` (what
 * FastMCP's `requireRole` reads); scopes from `scopes` (array, `Set` or string, as `requireScopes`
 * accepts); `tenant` from `tenant`. Every other field holding a primitive or a list of strings
 * becomes an attribute, except those whose name looks like a credential (`token`, `apiKey`,
 * `password`, ...). No auth, no id, or `authenticated: false` gives an unauthenticated subject.
 */
export function defaultSubject(auth: FastMCPAuth): Subject {
  if (typeof auth !== "object") {
    return { id: "anonymous", authenticated: false, attributes: { identity_error: "no auth" } };
  }
  const id =
    present(auth.id) ?? present(auth.sub) ?? present(auth.userId) ?? present(auth.clientId);
  if (id === undefined || auth.authenticated === false) {
    const reason = id === undefined ? "session auth has no id" : "not authenticated";
    return { id: "anonymous", authenticated: false, attributes: { identity_error: reason } };
  }
  const roles = strings(auth.roles) ?? (typeof auth.role === "string" ? [auth.role] : undefined);
  const scopes = strings(auth.scopes);
  const attributes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(auth)) {
    if (MAPPED.has(key) || SECRET.test(key)) continue;
    if (value === null || ["string", "number", "boolean"].includes(typeof value)) {
      attributes[key] = value;
    } else if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
      attributes[key] = [...value];
    }
  }
  return {
    id,
    authenticated: true,
    attributes,
    ...(roles ? { roles } : {}),
    ...(scopes ? { scopes } : {}),
    ...(typeof auth.tenant === "string" ? { tenant: auth.tenant } : {}),
  };
}

/** The identity of a FastMCP caller: the auth {@link forwardAuth} passed along with the request. */
function fastMCPIdentity<T extends FastMCPAuth>(subject: SubjectMapper<T>): IdentityResolver {
  return function fastmcpAuth(context) {
    const info = context.authInfo;
    // Auth info set by something else than forwardAuth is not trusted as a FastMCP session's.
    if (info === undefined || !forwarded.has(info)) return subject(undefined as T);
    return subject(forwarded.get(info) as T);
  };
}

/**
 * Hands the auth of a session made without an HTTP request (stdio, `connect(transport, auth)`) to
 * the guard with each message, as `req.auth` does for HTTP.
 */
class SessionAuthTransport extends TransportDecorator {
  readonly #info: AuthInfo;

  constructor(inner: Transport, info: AuthInfo) {
    super(inner);
    this.#info = info;
  }

  protected override receive(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void {
    this.deliver(message, extra?.authInfo ? extra : { ...extra, authInfo: this.#info });
  }
}

const PATCHED = Symbol.for("mcp-pdp.fastmcp.session");
const AUTHORIZED = Symbol.for("mcp-pdp.fastmcp.authorized");

/**
 * Routes every FastMCP session's connect through the guard of the server it belongs to. FastMCP
 * makes a session per stdio start, per HTTP session (per request when stateless) and per SSE
 * stream, and connects its SDK `Server` in `FastMCPSession.connect()`: the one place all of them
 * pass, before any message is read. A session connected outside an authorized server's scope is
 * left alone.
 */
function patchSessions(): void {
  const proto = FastMCPSession.prototype as unknown as Record<PropertyKey, unknown> & {
    connect: (this: unknown, transport: Transport) => Promise<void>;
  };
  if (proto[PATCHED]) return;
  const connect = proto.connect;
  Object.defineProperty(proto, PATCHED, { value: true });
  proto.connect = function connectGuarded(this: unknown, transport: Transport) {
    const scope = scopes.getStore();
    if (!scope) return connect.call(this, transport);
    const inner =
      scope.auth === undefined
        ? transport
        : new SessionAuthTransport(transport, authInfoOf(scope.auth));
    return connect.call(this, scope.owner.guard(inner));
  };
}

/**
 * Secures a FastMCP server (`fastmcp` 4.x) with a Policy Decision Point: every session it makes —
 * stdio, HTTP Stream (stateful or stateless) and SSE — talks through a `GuardedTransport`, so a
 * denied request is answered before FastMCP sees it (a tool's `execute` never runs) and list
 * results are filtered per caller. Deny answers and options are those of `authorize()`.
 *
 * Call it after `new FastMCP(...)` and before `start()` or `connect()`. When the server has an
 * `authenticate` callback, wrap it in {@link forwardAuth}: the auth it returns becomes the subject
 * through `options.subject` (default {@link defaultSubject}). Throws a `ConfigError` for a server
 * already running or authorized, or an `authenticate` not wrapped.
 */
export function authorizeFastMCP<T extends FastMCPAuth>(
  fastmcp: FastMCP<NonNullable<T>>,
  options: FastMCPAuthorizeOptions<T>,
): FastMCPAuthorization {
  const server = fastmcp as unknown as FastMCP;
  if (!(server instanceof FastMCP)) {
    throw new ConfigError(
      "authorizeFastMCP(): expected a FastMCP server from the same `fastmcp` package as @mcp-pdp/mcp",
    );
  }
  const target = server as FastMCP & { [AUTHORIZED]?: true };
  if (target[AUTHORIZED])
    throw new ConfigError("authorizeFastMCP(): this server is already authorized");
  if (server.serverState !== ServerState.Stopped || server.sessions.length > 0) {
    throw new ConfigError(
      "authorizeFastMCP(): the server is already running; call it before start() or connect()",
    );
  }
  const given = server.options as { authenticate?: unknown; auth?: unknown };
  if (given.authenticate !== undefined && !forwarders.has(given.authenticate as object)) {
    throw new ConfigError(
      "authorizeFastMCP(): wrap the server's authenticate in forwardAuth() so the policy sees who calls",
    );
  }
  if (given.authenticate === undefined && given.auth !== undefined) {
    throw new ConfigError(
      "authorizeFastMCP(): with an auth provider, pass authenticate: forwardAuth((req) => provider.authenticate(req))",
    );
  }
  const { subject = defaultSubject, ...rest } = options;
  const env = rest.env ?? process.env;
  // An identity named in the environment wins over the FastMCP auth, as it does for authorize().
  const identity = rest.identity ?? (env.MCP_PDP_IDENTITY ? undefined : fastMCPIdentity(subject));
  // authorize() on a stand-in server: every transport handed to its connect() comes back guarded
  // with the same options, environment and deny answers as an SDK server's.
  let handed: Transport | undefined;
  const gate = {
    connect(transport: Transport): Promise<void> {
      handed = transport;
      return Promise.resolve();
    },
  };
  const take = (): Transport | undefined => {
    const transport = handed;
    handed = undefined;
    return transport;
  };
  const authorizer = authorize(gate, identity ? { ...rest, identity } : rest);
  const owner: Owner = {
    guard(transport) {
      void gate.connect(transport);
      const result = take();
      if (result === undefined) throw new Error("mcp-pdp: the transport could not be guarded");
      return result;
    },
  };
  patchSessions();
  Object.defineProperty(target, AUTHORIZED, { value: true });
  const start = server.start.bind(server);
  const connect = server.connect.bind(server);
  target.start = (startOptions) =>
    scopes.run({ owner, auth: undefined }, () => start(startOptions));
  target.connect = (transport, auth) => scopes.run({ owner, auth }, () => connect(transport, auth));
  return { authorizer };
}
