import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import type { Subject } from "./model.js";
import { ConfigError, integerOption } from "./errors.js";
import { checkHmacSecret } from "./hmac.js";
import { seal } from "./sealed.js";

/** HTTP headers as the MCP SDK and Node present them. Names are matched case-insensitively. */
export type HeaderMap = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Auth info set by the MCP SDK's `requireBearerAuth` middleware (a token it already validated). */
export interface AuthInfoLike {
  readonly token: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly expiresAt?: number;
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** What an identity resolver can see of the request. */
export interface RequestContext {
  /** Transport kind, when known: `stdio`, `http`, `memory`, ... */
  readonly transport?: string;
  readonly headers?: HeaderMap;
  readonly authInfo?: AuthInfoLike;
  readonly sessionId?: string;
  readonly requestId?: string | number;
}

/** Turns a request context into a {@link Subject}. Must not throw for bad credentials: it returns an unauthenticated subject. */
export type IdentityResolver = (context: RequestContext) => Subject | Promise<Subject>;

/** The subject of a caller whose identity could not be established. */
export const ANONYMOUS: Subject = Object.freeze({ id: "anonymous", authenticated: false });

function anonymous(reason: string): Subject {
  return { id: "anonymous", authenticated: false, attributes: { identity_error: reason } };
}

/** Reads a header case-insensitively; a repeated header gives its first value. */
export function getHeader(headers: HeaderMap | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() !== wanted) continue;
    const value = headers[key];
    if (typeof value === "string") return value;
    if (Array.isArray(value) && typeof value[0] === "string") return value[0];
  }
  return undefined;
}

function stringList(value: unknown): string[] | undefined {
  if (typeof value === "string") return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return undefined;
}

/** Options of {@link fixedIdentity}. */
export type FixedIdentityOptions = Partial<Omit<Subject, "id">>;

/**
 * Everyone is the same configured subject: for stdio servers, where the operator who starts the
 * process decides who the caller is.
 */
export function fixedIdentity(id: string, options: FixedIdentityOptions = {}): IdentityResolver {
  if (id.trim() === "") throw new ConfigError("fixedIdentity: the identity must not be empty");
  // Frozen through and through (copies, so the caller's arrays stay theirs): the same subject
  // answers every request, and a cache may encode it once.
  const subject: Subject = seal(structuredClone({ authenticated: true, ...options, id }));
  return function fixed() {
    return subject;
  };
}

/** Options of {@link headerIdentity}. */
export interface HeaderIdentityOptions {
  /** The header carrying the identity. @defaultValue `"x-user-id"` */
  readonly header?: string;
  /** A pattern whose first capture group is the identity. @defaultValue none (the whole value) */
  readonly regex?: RegExp | string;
  /** A header with comma- or space-separated roles. @defaultValue none */
  readonly rolesHeader?: string;
  /** A header with the tenant. @defaultValue none */
  readonly tenantHeader?: string;
  /**
   * Accept `Authorization` (or `Proxy-Authorization`) as the identity header, for setups where
   * the bearer token itself is the user key (permit-fastmcp's `header` mode). The subject is then
   * marked {@link Subject.idIsCredential}, so audit events carry a digest instead of the token.
   * For real bearer tokens use {@link jwtIdentity} or {@link authInfoIdentity}. @defaultValue false
   */
  readonly allowCredentialAsIdentity?: boolean;
}

/** Headers that carry credentials: their value as an identity would spread a secret. */
const CREDENTIAL_HEADERS = new Set(["authorization", "proxy-authorization"]);

/**
 * The identity is read from a header set by a trusted gateway in front of the server. Without the
 * header, or when the pattern does not match, the subject is unauthenticated.
 *
 * The subject is authenticated on the header's word alone, so the gateway must remove any copy of
 * the header a client sent before setting its own, and the same for `rolesHeader` and
 * `tenantHeader`: otherwise a client picks its own identity, roles or tenant. Never expose the
 * server without that gateway.
 */
export function headerIdentity(options: HeaderIdentityOptions = {}): IdentityResolver {
  const header = options.header ?? "x-user-id";
  const credential = CREDENTIAL_HEADERS.has(header.toLowerCase());
  if (credential && options.allowCredentialAsIdentity !== true) {
    throw new ConfigError(
      `headerIdentity: the ${header} header carries credentials, and as the identity the token would reach audit events, cache keys and PDP requests; use jwtIdentity (a verified JWT) or authInfoIdentity (behind requireBearerAuth) for bearer tokens, or pass allowCredentialAsIdentity: true when the token itself is the user key`,
    );
  }
  let regex: RegExp | undefined;
  try {
    // Without the g and y flags: a stateful lastIndex would fail every other request.
    regex =
      typeof options.regex === "string"
        ? new RegExp(options.regex)
        : options.regex &&
          new RegExp(options.regex.source, options.regex.flags.replace(/[gy]/g, ""));
  } catch (error) {
    throw new ConfigError(`headerIdentity: invalid regex ${JSON.stringify(options.regex)}`, {
      cause: error,
    });
  }
  return function header_(context) {
    const raw = getHeader(context.headers, header);
    if (raw === undefined || raw.trim() === "") return anonymous(`missing header ${header}`);
    let id = raw.trim();
    if (regex) {
      const match = regex.exec(raw);
      if (!match) return anonymous(`header ${header} does not match the identity pattern`);
      id = (match[1] ?? match[0]).trim();
      if (id === "") return anonymous(`header ${header} gave an empty identity`);
    }
    const roles = options.rolesHeader
      ? stringList(getHeader(context.headers, options.rolesHeader))
      : undefined;
    const tenant = options.tenantHeader
      ? getHeader(context.headers, options.tenantHeader)
      : undefined;
    return {
      id,
      authenticated: true,
      ...(roles ? { roles } : {}),
      ...(tenant ? { tenant } : {}),
      ...(credential ? { idIsCredential: true } : {}),
    };
  };
}

/** Every JWT signature algorithm {@link jwtIdentity} accepts (HMAC first, then public-key ones). */
export const JWT_ALGORITHMS = Object.freeze([
  "HS256",
  "HS384",
  "HS512",
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const);

/** A JWT signature algorithm accepted by {@link jwtIdentity}. */
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** Whether a name (from configuration) is one of {@link JWT_ALGORITHMS}. */
export function isJwtAlgorithm(name: string): name is JwtAlgorithm {
  return (JWT_ALGORITHMS as readonly string[]).includes(name);
}

/** Options of {@link jwtIdentity}. Exactly one of `secret`, `publicKey`, `jwksUrl`. */
export interface JwtIdentityOptions {
  /** Accepted algorithms, named explicitly. HMAC and asymmetric algorithms never share a key. */
  readonly algorithms: readonly JwtAlgorithm[];
  /**
   * Shared secret for HS* algorithms: at least as long as the hash (RFC 7518 §3.2), so 32 bytes
   * for HS256, 48 for HS384 and 64 for HS512 (the longest of the accepted ones); a shorter one is
   * refused with a {@link ConfigError}.
   */
  readonly secret?: string | Uint8Array;
  /** PEM (SPKI) public key for RS/PS/ES/EdDSA. */
  readonly publicKey?: string;
  /** JWKS URL for RS/PS/ES/EdDSA. */
  readonly jwksUrl?: string | URL;
  /** Accepted `iss` values; a token from another issuer is refused. @defaultValue none (not checked) */
  readonly issuer?: string | readonly string[];
  /**
   * Accepted `aud` values. Set it: without it, a token your issuer minted for another service
   * (same issuer, same key) is accepted here too. @defaultValue none (not checked)
   */
  readonly audience?: string | readonly string[];
  /** Seconds of clock skew tolerated for `exp`/`nbf`. @defaultValue 30 */
  readonly clockToleranceSeconds?: number;
  /**
   * Refuse tokens without an `exp` claim, which would otherwise be accepted forever (a leaked one
   * could never be retired). @defaultValue true
   */
  readonly requireExpiry?: boolean;
  /** Header carrying the token. @defaultValue `"authorization"` */
  readonly header?: string;
  /**
   * Where the token is in the header's value: the first capture group of this pattern, matched at
   * the start of the value as Python's `re.match` does (what follows the match is ignored unless
   * the pattern ends with `$`), blanks around it trimmed. For example `/Token (\S+)/` for
   * `X-Auth: Token <jwt>`. A value it does not match gives an unauthenticated subject; when the
   * header is absent, the token of the SDK's auth info is taken as it is. A pattern without a
   * capture group, or with the `g` or `y` flag (its `lastIndex` would carry over from one request
   * to the next), is refused with a {@link ConfigError}.
   * @defaultValue none: `Bearer <token>` (the scheme in any case) in `authorization`, the whole
   * trimmed value of another header
   */
  readonly tokenPattern?: RegExp;
  /** Claim holding the subject id. @defaultValue `"sub"` */
  readonly subjectClaim?: string;
  /** Claim holding roles (array or space-separated string). @defaultValue `"roles"` */
  readonly rolesClaim?: string;
  /** Claim holding the tenant. @defaultValue `"tenant"` */
  readonly tenantClaim?: string;
  /**
   * Milliseconds a successful verification is remembered, keyed by the exact token, so the same
   * token is not verified again (on HTTP, `identityChallenge` and the guard resolve every request
   * twice, and a session presents one token on every request). At most 1024 tokens are remembered
   * per resolver (the least recently used is forgotten first; tokens over 8 KiB are never kept),
   * and failures never are. A remembered token is still refused from the moment verifying it
   * would fail on time: its `exp` (and `nbf`) are checked on every use with `clockToleranceSeconds`,
   * exactly as jose checks them. The trade-off: within the window, what verification would learn
   * anew is not seen; a key removed from the JWKS keeps accepting the tokens verified with it
   * up to this long. `0` verifies every time. At most 3600000 (an hour).
   * @defaultValue 30000
   */
  readonly verifiedCacheMs?: number;
}

/** The default {@link JwtIdentityOptions.verifiedCacheMs}. */
const DEFAULT_VERIFIED_CACHE_MS = 30_000;
/** Tokens one {@link jwtIdentity} remembers as verified. */
const VERIFIED_MAX_ENTRIES = 1024;
/** Longer tokens are verified every time, so the memo stays small (1024 × 8 KiB at most). */
const VERIFIED_MAX_TOKEN_LENGTH = 8192;

/** A verification remembered by {@link verifiedMemo}. */
interface Verified {
  readonly subject: Subject;
  /** `Date.now()` from which the entry is no longer used. */
  readonly until: number;
  readonly exp: number | undefined;
  readonly nbf: number | undefined;
}

/**
 * Successful verifications, by token, least recently used first (a Map keeps insertion order; a
 * hit is moved to the end). An entry is used only within its window and while the token's `exp`
 * and `nbf` still pass jose's own checks (whole seconds, `clockTolerance` either way), so time
 * refuses a remembered token exactly when it would refuse a verified one.
 */
function verifiedMemo(windowMs: number, toleranceSeconds: number) {
  const entries = new Map<string, Verified>();
  return {
    get(token: string): Subject | undefined {
      const entry = entries.get(token);
      if (entry === undefined) return undefined;
      const nowMs = Date.now();
      const now = Math.floor(nowMs / 1000);
      if (
        nowMs >= entry.until ||
        (entry.exp !== undefined && entry.exp <= now - toleranceSeconds) ||
        (entry.nbf !== undefined && entry.nbf > now + toleranceSeconds)
      ) {
        entries.delete(token);
        return undefined;
      }
      entries.delete(token);
      entries.set(token, entry);
      return entry.subject;
    },
    set(token: string, subject: Subject, payload: JWTPayload): void {
      if (token.length > VERIFIED_MAX_TOKEN_LENGTH) return;
      entries.delete(token);
      if (entries.size >= VERIFIED_MAX_ENTRIES) {
        const oldest = entries.keys().next();
        if (oldest.done !== true) entries.delete(oldest.value);
      }
      entries.set(token, {
        subject,
        until: Date.now() + windowMs,
        exp: typeof payload.exp === "number" ? payload.exp : undefined,
        nbf: typeof payload.nbf === "number" ? payload.nbf : undefined,
      });
    },
  };
}

const VOLATILE_CLAIMS = new Set(["iat", "exp", "nbf", "jti"]);

/** The token's extractor for {@link JwtIdentityOptions.tokenPattern}, validated. */
function tokenExtractor(pattern: RegExp): (value: string) => string | undefined {
  if (!(pattern instanceof RegExp)) {
    throw new ConfigError("jwtIdentity: tokenPattern must be a RegExp");
  }
  if (pattern.global || pattern.sticky) {
    throw new ConfigError(
      `jwtIdentity: tokenPattern ${String(pattern)} must not have the g or y flag: it is used for every request, and its lastIndex would carry over from one to the next`,
    );
  }
  // An empty alternative matches "", so the match holds one slot per capture group.
  const groups = (new RegExp(`(?:${pattern.source})|`, pattern.flags).exec("")?.length ?? 1) - 1;
  if (groups === 0) {
    throw new ConfigError(
      `jwtIdentity: tokenPattern ${String(pattern)} has no capture group; its first group is the token`,
    );
  }
  // Sticky from index 0: anchored at the start of the value, whatever the m flag says. Our own
  // copy, reset before each use (exec is synchronous, so no other request can see its lastIndex).
  const anchored = new RegExp(pattern.source, `${pattern.flags}y`);
  return (value) => {
    anchored.lastIndex = 0;
    const token = anchored.exec(value)?.[1]?.trim();
    return token === "" ? undefined : token;
  };
}

/** Validates JWT options and builds the key, refusing configurations open to algorithm confusion. */
function jwtKey(options: JwtIdentityOptions): KeyObject | JWTVerifyGetKey {
  const algs = options.algorithms;
  if (algs.length === 0)
    throw new ConfigError("jwtIdentity: name the accepted algorithms explicitly");
  const hmac = algs.filter((a) => a.startsWith("HS"));
  const sources = [options.secret, options.publicKey, options.jwksUrl].filter(
    (v) => v !== undefined,
  );
  if (sources.length !== 1) {
    throw new ConfigError("jwtIdentity: give exactly one of secret, publicKey or jwksUrl");
  }
  if (options.secret !== undefined) {
    if (options.secret.length === 0)
      throw new ConfigError("jwtIdentity: the secret must not be empty");
    if (typeof options.secret === "string" && options.secret.trimStart().startsWith("-----BEGIN")) {
      // A PEM key used as an HMAC secret lets anyone holding the public key sign tokens.
      throw new ConfigError(
        "jwtIdentity: the secret is a PEM key; pass a public key as publicKey with RS/PS/ES/EdDSA algorithms (a public key used as an HMAC secret allows algorithm confusion)",
      );
    }
    if (hmac.length !== algs.length) {
      throw new ConfigError(
        `jwtIdentity: a shared secret serves HMAC algorithms only, got ${algs.join(", ")} (one key for HMAC and RSA allows algorithm confusion)`,
      );
    }
    checkHmacSecret("jwtIdentity: secret", options.secret, hmac);
    const bytes =
      typeof options.secret === "string"
        ? new TextEncoder().encode(options.secret)
        : options.secret;
    return createSecretKey(bytes);
  }
  if (hmac.length > 0) {
    throw new ConfigError(
      `jwtIdentity: HMAC algorithms (${hmac.join(", ")}) need a secret, not a public key`,
    );
  }
  if (options.jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(options.jwksUrl);
    } catch (error) {
      throw new ConfigError(
        "jwtIdentity: invalid jwksUrl; expected an http(s) URL such as https://idp.example.com/.well-known/jwks.json",
        { cause: error },
      );
    }
    return createRemoteJWKSet(url);
  }
  try {
    return createPublicKey(options.publicKey ?? "");
  } catch (error) {
    throw new ConfigError("jwtIdentity: publicKey is not a valid PEM public key", { cause: error });
  }
}

/**
 * The identity is a JWT bearer token verified with jose. A missing, malformed, expired or badly
 * signed token, or one without `exp` (unless `requireExpiry: false`), gives an unauthenticated
 * subject, never a guessed one. Set `audience` (and `issuer`) so that only tokens meant for this
 * server are accepted. Configuration errors throw at construction. A verified token is remembered
 * for `verifiedCacheMs` (see there for the trade-off), and answered at once from then on.
 */
export function jwtIdentity(options: JwtIdentityOptions): IdentityResolver {
  const key = jwtKey(options);
  const header = options.header ?? "authorization";
  const subjectClaim = options.subjectClaim ?? "sub";
  const rolesClaim = options.rolesClaim ?? "roles";
  const tenantClaim = options.tenantClaim ?? "tenant";
  const extract =
    options.tokenPattern !== undefined ? tokenExtractor(options.tokenPattern) : undefined;
  const clockTolerance = options.clockToleranceSeconds ?? 30;
  const memoMs = integerOption(
    "jwtIdentity",
    "verifiedCacheMs",
    options.verifiedCacheMs,
    DEFAULT_VERIFIED_CACHE_MS,
    0,
    3_600_000,
  );
  const memo = memoMs > 0 ? verifiedMemo(memoMs, clockTolerance) : undefined;
  const verifyOptions = {
    algorithms: [...options.algorithms],
    clockTolerance,
    ...((options.requireExpiry ?? true) ? { requiredClaims: ["exp"] } : {}),
    ...(options.issuer !== undefined
      ? { issuer: typeof options.issuer === "string" ? options.issuer : [...options.issuer] }
      : {}),
    ...(options.audience !== undefined
      ? {
          audience: typeof options.audience === "string" ? options.audience : [...options.audience],
        }
      : {}),
  };
  const verify = async (token: string): Promise<Subject> => {
    let payload: JWTPayload;
    try {
      payload = (
        typeof key === "function"
          ? await jwtVerify(token, key, verifyOptions)
          : await jwtVerify(token, key, verifyOptions)
      ).payload;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      return anonymous(`invalid token${typeof code === "string" ? ` (${code})` : ""}`);
    }
    const id = payload[subjectClaim];
    if (typeof id !== "string" || id === "") return anonymous(`token has no ${subjectClaim} claim`);
    // fromEntries defines own properties: a `__proto__` claim stays a plain key.
    const attributes = Object.fromEntries(
      Object.entries(payload).filter(([k]) => !VOLATILE_CLAIMS.has(k)),
    );
    const roles = stringList(payload[rolesClaim]);
    const tenant = payload[tenantClaim];
    const scopes = stringList(payload.scope ?? payload.scp);
    const subject: Subject = {
      id,
      authenticated: true,
      attributes,
      ...(roles ? { roles } : {}),
      ...(typeof tenant === "string" ? { tenant } : {}),
      ...(scopes ? { scopes } : {}),
    };
    if (memo === undefined) return subject;
    // Sealed: the same subject answers every request presenting this token.
    memo.set(token, seal(subject), payload);
    return subject;
  };
  // Not async: a remembered token is answered at once, so the Authorizer can decide in the same
  // tick (with a synchronous PDP answer).
  return function jwt(context) {
    const value = getHeader(context.headers, header);
    let token: string | undefined;
    if (extract !== undefined && value !== undefined) {
      token = extract(value);
      if (token === undefined) return anonymous(`header ${header} does not match tokenPattern`);
    } else {
      const raw = value ?? (context.authInfo ? `Bearer ${context.authInfo.token}` : undefined);
      if (raw === undefined) {
        return anonymous(extract ? `missing header ${header}` : "missing bearer token");
      }
      const match = /^\s*bearer\s+(\S+)\s*$/i.exec(raw);
      token = match?.[1] ?? (header.toLowerCase() === "authorization" ? undefined : raw.trim());
      if (!token) return anonymous("malformed authorization header");
    }
    return memo?.get(token) ?? verify(token);
  };
}

/** Options of {@link authInfoIdentity}. */
export interface AuthInfoIdentityOptions {
  /** Where roles come from: a key of `extra`, or a function. @defaultValue `"roles"` (`extra.roles`) */
  readonly roles?: string | ((info: AuthInfoLike) => readonly string[] | undefined);
  /** Key of `extra` holding the subject id; the client id otherwise. @defaultValue `"sub"` when present */
  readonly subjectKey?: string;
}

/**
 * The identity comes from auth info the SDK's `requireBearerAuth` already validated: client id,
 * scopes, and `extra`. Without auth info (or past `expiresAt`) the subject is unauthenticated.
 */
export function authInfoIdentity(options: AuthInfoIdentityOptions = {}): IdentityResolver {
  const subjectKey = options.subjectKey ?? "sub";
  return function authInfo(context) {
    const info = context.authInfo;
    if (!info) return anonymous("no auth info");
    if (info.expiresAt !== undefined && info.expiresAt * 1000 < Date.now())
      return anonymous("token expired");
    const extra = info.extra ?? {};
    const fromExtra = extra[subjectKey];
    const id = typeof fromExtra === "string" && fromExtra !== "" ? fromExtra : info.clientId;
    if (!id) return anonymous("auth info has no client id");
    const roles =
      typeof options.roles === "function"
        ? options.roles(info)
        : stringList(extra[options.roles ?? "roles"]);
    const tenant = extra.tenant;
    return {
      id,
      authenticated: true,
      scopes: [...info.scopes],
      attributes: { client_id: info.clientId, ...extra },
      ...(roles ? { roles: [...roles] } : {}),
      ...(typeof tenant === "string" ? { tenant } : {}),
    };
  };
}

/** Options of {@link eunomiaIdentity}. */
export interface EunomiaIdentityOptions {
  /**
   * Whether a gateway in front of the server sets `X-Agent-ID` (and strips any copy a client
   * sent): only then is the agent authenticated. @defaultValue false
   */
  readonly trusted?: boolean;
  /**
   * Add the attribute `api_key` as eunomia-mcp 0.3.10 sends it: the `Authorization` header with
   * every `"Bearer "` (that case only) removed, left out when the header is absent or empty. It
   * reaches the PDP as it is, so a rule keyed on it (a deny for a revoked key) still matches; audit
   * events never carry subject attributes, so it does not reach them. @defaultValue false
   */
  readonly apiKey?: boolean;
}

/**
 * Eunomia's identity headers: `X-Agent-ID` is the subject, `X-User-ID` and `User-Agent` become
 * attributes (`agent_id`, `user_id`, `user_agent`), and with `apiKey` the `Authorization` header
 * becomes `api_key`. Any client can send these headers, so the
 * subject is unauthenticated unless `trusted` says a gateway sets them. Eunomia policies match
 * on the attributes, not on `authenticated`; it matters to `requireAuth()` checks, to `firstIdentity`
 * and to adapters that refuse unauthenticated callers.
 */
export function eunomiaIdentity(options: EunomiaIdentityOptions = {}): IdentityResolver {
  const trusted = options.trusted ?? false;
  const apiKey = options.apiKey ?? false;
  return function eunomia(context) {
    const agent = getHeader(context.headers, "x-agent-id");
    const user = getHeader(context.headers, "x-user-id");
    const userAgent = getHeader(context.headers, "user-agent");
    const attributes: Record<string, unknown> = { agent_id: agent ?? "unknown" };
    if (user !== undefined) attributes.user_id = user;
    if (userAgent !== undefined) attributes.user_agent = userAgent;
    if (apiKey) {
      const authorization = getHeader(context.headers, "authorization");
      // eunomia-mcp skips an empty header (Python's `if api_key:`) and removes the scheme with
      // Python's str.replace: every occurrence, case-sensitively.
      if (authorization) attributes.api_key = authorization.replaceAll("Bearer ", "");
    }
    return { id: agent ?? "unknown", authenticated: trusted && agent !== undefined, attributes };
  };
}

/** Tries resolvers in order and returns the first authenticated subject (else the last answer). */
export function firstIdentity(...resolvers: readonly IdentityResolver[]): IdentityResolver {
  if (resolvers.length === 0) throw new ConfigError("firstIdentity: give at least one resolver");
  return async function first(context) {
    let last: Subject = ANONYMOUS;
    for (const resolve of resolvers) {
      last = await resolve(context);
      if (last.authenticated) return last;
    }
    return last;
  };
}

/** The default: the SDK's auth info when present, else an unauthenticated subject. */
export function defaultIdentity(): IdentityResolver {
  return authInfoIdentity();
}
