import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type CryptoKey,
  type JWTPayload,
  SignJWT,
  UnsecuredJWT,
  exportJWK,
  exportSPKI,
  generateKeyPair,
} from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../src/errors.js";
import {
  ANONYMOUS,
  JWT_ALGORITHMS,
  type IdentityResolver,
  type RequestContext,
  authInfoIdentity,
  defaultIdentity,
  eunomiaIdentity,
  firstIdentity,
  fixedIdentity,
  getHeader,
  headerIdentity,
  isJwtAlgorithm,
  jwtIdentity,
} from "../src/identity.js";
import type { Subject } from "../src/model.js";
import { Authorizer } from "../src/authorizer.js";
import { functionPdp, memoryAuditSink } from "../src/testing.js";

const SECRET = "a-test-secret-that-is-long-enough-for-hs256";
const secretBytes = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);

function bearer(token: string): RequestContext {
  return { headers: { authorization: `Bearer ${token}` } };
}

/** Signs an HS256 token, valid for ten minutes unless `exp` says otherwise (`null`: no `exp`). */
async function hs256(
  payload: JWTPayload,
  opts: { secret?: Uint8Array; exp?: number | null; nbf?: number; iss?: string; aud?: string } = {},
): Promise<string> {
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: "HS256" }).setIssuedAt();
  const exp = opts.exp === undefined ? now() + 600 : opts.exp;
  if (exp !== null) jwt.setExpirationTime(exp);
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  if (opts.iss !== undefined) jwt.setIssuer(opts.iss);
  if (opts.aud !== undefined) jwt.setAudience(opts.aud);
  return jwt.sign(opts.secret ?? secretBytes);
}

function expectAnonymous(subject: Subject): void {
  expect(subject.authenticated).toBe(false);
  expect(subject.id).toBe("anonymous");
  expect(subject.roles).toBeUndefined();
}

describe("getHeader", () => {
  it("matches header names case-insensitively and takes the first value of a repeated header", () => {
    expect(getHeader({ "X-User": "ada" }, "x-user")).toBe("ada");
    expect(getHeader({ "x-user": ["ada", "bob"] }, "X-USER")).toBe("ada");
    expect(getHeader({ "x-user": undefined }, "x-user")).toBeUndefined();
    expect(getHeader(undefined, "x-user")).toBeUndefined();
  });
});

describe("fixedIdentity", () => {
  it("gives every request the same authenticated subject", async () => {
    const resolve = fixedIdentity("operator", { roles: ["admin"], tenant: "acme" });
    const a = await resolve({});
    const b = await resolve({ headers: { authorization: "Bearer whatever" } });
    expect(a).toEqual({ id: "operator", authenticated: true, roles: ["admin"], tenant: "acme" });
    expect(b).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it("lets the options mark the subject unauthenticated but never replace its id", async () => {
    const resolve = fixedIdentity("client", {
      authenticated: false,
      ...({ id: "admin" } as object),
    });
    expect(await resolve({})).toEqual({ id: "client", authenticated: false });
  });

  it("rejects an empty identity with a ConfigError", () => {
    expect(() => fixedIdentity("")).toThrow(ConfigError);
    expect(() => fixedIdentity("   ")).toThrow(/must not be empty/);
  });
});

describe("headerIdentity", () => {
  it("reads the identity from a header named case-insensitively", async () => {
    const resolve = headerIdentity({ header: "X-User-Id" });
    expect(await resolve({ headers: { "x-user-id": " ada " } })).toEqual({
      id: "ada",
      authenticated: true,
    });
    expect((await resolve({ headers: { "X-USER-ID": "bob" } })).id).toBe("bob");
  });

  it("reads x-user-id by default", async () => {
    const resolve = headerIdentity();
    expect(await resolve({ headers: { "X-User-Id": "ada" } })).toEqual({
      id: "ada",
      authenticated: true,
    });
  });

  it("takes the first group of the regex as the identity", async () => {
    const resolve = headerIdentity({ header: "x-user", regex: "^user:(.+)$" });
    expect((await resolve({ headers: { "x-user": "user:ada" } })).id).toBe("ada");
  });

  it("refuses a credential header as the identity unless allowed", () => {
    expect(() => headerIdentity({ header: "Authorization" })).toThrow(ConfigError);
    expect(() => headerIdentity({ header: "proxy-authorization" })).toThrow(
      /carries credentials.*use jwtIdentity .* or authInfoIdentity/,
    );
  });

  it("marks a token taken from Authorization as a credential id when allowed", async () => {
    const resolve = headerIdentity({
      header: "authorization",
      regex: "^[Bb]earer (.+)$",
      allowCredentialAsIdentity: true,
    });
    expect(await resolve({ headers: { Authorization: "Bearer tok_123" } })).toEqual({
      id: "tok_123",
      authenticated: true,
      idIsCredential: true,
    });
    expect(
      await headerIdentity({ header: "x-user", allowCredentialAsIdentity: true })({
        headers: { "x-user": "ada" },
      }),
    ).toEqual({ id: "ada", authenticated: true });
  });

  it("takes the whole match when the regex has no group", async () => {
    const resolve = headerIdentity({ header: "x-user", regex: /[a-z]+/ });
    expect((await resolve({ headers: { "x-user": "123ada456" } })).id).toBe("ada");
  });

  it("gives the same identity on every call with a global regex", async () => {
    const resolve = headerIdentity({ header: "x-user", regex: /user=(\w+)/g });
    const context = { headers: { "x-user": "user=ada" } };
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await resolve(context));
    for (const s of ids) expect(s).toMatchObject({ id: "ada", authenticated: true });
  });

  it("gives an unauthenticated subject without the header", async () => {
    const resolve = headerIdentity({ header: "x-user" });
    expectAnonymous(await resolve({}));
    expectAnonymous(await resolve({ headers: { "x-other": "ada" } }));
    expectAnonymous(await resolve({ headers: { "x-user": "   " } }));
  });

  it("gives an unauthenticated subject when the regex does not match", async () => {
    const resolve = headerIdentity({ header: "x-user", regex: "^user:(.+)$" });
    expectAnonymous(await resolve({ headers: { "x-user": "Basic YWRhOnB3" } }));
  });

  it("gives an unauthenticated subject when the group captured only blanks", async () => {
    const resolve = headerIdentity({ header: "x-user", regex: "^id:(\\s*)$" });
    expectAnonymous(await resolve({ headers: { "x-user": "id:   " } }));
  });

  it("reads comma- or space-separated roles from rolesHeader and the tenant from tenantHeader", async () => {
    const resolve = headerIdentity({
      header: "x-user",
      rolesHeader: "X-Roles",
      tenantHeader: "x-tenant",
    });
    const subject = await resolve({
      headers: { "x-user": "ada", "x-roles": "admin, editor viewer", "X-Tenant": "acme" },
    });
    expect(subject).toEqual({
      id: "ada",
      authenticated: true,
      roles: ["admin", "editor", "viewer"],
      tenant: "acme",
    });
  });

  it("has no roles when the roles header is absent", async () => {
    const resolve = headerIdentity({ header: "x-user", rolesHeader: "x-roles" });
    expect((await resolve({ headers: { "x-user": "ada" } })).roles).toBeUndefined();
  });

  it("rejects an invalid regex with a ConfigError", () => {
    expect(() => headerIdentity({ header: "x-user", regex: "(unclosed" })).toThrow(/invalid regex/);
  });
});

describe("jwtIdentity with HS256", () => {
  const resolve = jwtIdentity({ algorithms: ["HS256"], secret: SECRET });

  it("accepts a token signed with the secret", async () => {
    const token = await hs256({
      sub: "ada",
      roles: ["admin", "dev"],
      tenant: "acme",
      email: "a@x",
    });
    const subject = await resolve(bearer(token));
    expect(subject.id).toBe("ada");
    expect(subject.authenticated).toBe(true);
    expect(subject.roles).toEqual(["admin", "dev"]);
    expect(subject.tenant).toBe("acme");
    expect(subject.attributes).toMatchObject({ sub: "ada", email: "a@x" });
  });

  it("accepts a secret given as bytes", async () => {
    const bytesResolve = jwtIdentity({ algorithms: ["HS256"], secret: secretBytes });
    expect((await bytesResolve(bearer(await hs256({ sub: "ada" })))).id).toBe("ada");
  });

  it("accepts the scheme case-insensitively", async () => {
    const token = await hs256({ sub: "ada" });
    expect((await resolve({ headers: { Authorization: `bearer ${token}` } })).id).toBe("ada");
  });

  it("reads roles from a space-separated string", async () => {
    const subject = await resolve(bearer(await hs256({ sub: "ada", roles: "admin dev" })));
    expect(subject.roles).toEqual(["admin", "dev"]);
  });

  it("reads scopes from scope or scp", async () => {
    const a = await resolve(bearer(await hs256({ sub: "ada", scope: "read write" })));
    expect(a.scopes).toEqual(["read", "write"]);
    const b = await resolve(bearer(await hs256({ sub: "ada", scp: ["read", "admin"] })));
    expect(b.scopes).toEqual(["read", "admin"]);
    const c = await resolve(bearer(await hs256({ sub: "ada" })));
    expect(c.scopes).toBeUndefined();
  });

  it("leaves volatile claims (iat, exp, nbf, jti) out of the attributes", async () => {
    const token = await new SignJWT({ sub: "ada", team: "core" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt()
      .setExpirationTime("1h")
      .setNotBefore(now() - 10)
      .setJti("unique-id")
      .sign(secretBytes);
    const subject = await resolve(bearer(token));
    expect(subject.authenticated).toBe(true);
    expect(Object.keys(subject.attributes ?? {}).sort()).toEqual(["sub", "team"]);
  });

  it("never turns a __proto__ claim into the attributes' prototype", async () => {
    const payload = JSON.parse('{"sub": "ada", "__proto__": {"isAdmin": true}}') as JWTPayload;
    const subject = await resolve(bearer(await hs256(payload)));
    expect(subject.authenticated).toBe(true);
    const attributes = subject.attributes ?? {};
    expect([null, Object.prototype]).toContain(Object.getPrototypeOf(attributes));
    expect((attributes as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it("reads the subject from a custom claim and roles from a custom roles claim", async () => {
    const custom = jwtIdentity({
      algorithms: ["HS256"],
      secret: SECRET,
      subjectClaim: "email",
      rolesClaim: "groups",
      tenantClaim: "org",
    });
    const subject = await custom(
      bearer(await hs256({ sub: "x", email: "ada@x", groups: ["g1"], org: "acme" })),
    );
    expect(subject).toMatchObject({ id: "ada@x", roles: ["g1"], tenant: "acme" });
  });

  it("reads a raw token from a custom header", async () => {
    const custom = jwtIdentity({ algorithms: ["HS256"], secret: SECRET, header: "X-Token" });
    const token = await hs256({ sub: "ada" });
    expect((await custom({ headers: { "x-token": token } })).id).toBe("ada");
  });

  it("falls back to the token of the SDK's auth info when there is no header", async () => {
    const token = await hs256({ sub: "ada" });
    const subject = await resolve({ authInfo: { token, clientId: "c", scopes: [] } });
    expect(subject.id).toBe("ada");
  });

  it("gives an unauthenticated subject for a token signed with another secret, never its claimed sub", async () => {
    const token = await hs256(
      { sub: "admin", roles: ["admin"] },
      { secret: new TextEncoder().encode("another-secret-another-secret-another") },
    );
    const subject = await resolve(bearer(token));
    expectAnonymous(subject);
    expect(JSON.stringify(subject)).not.toContain("admin");
  });

  it("gives an unauthenticated subject for a token expired beyond the clock tolerance", async () => {
    expectAnonymous(await resolve(bearer(await hs256({ sub: "ada" }, { exp: now() - 120 }))));
  });

  it("refuses a token without exp, which would be valid forever", async () => {
    const subject = await resolve(bearer(await hs256({ sub: "ada" }, { exp: null })));
    expectAnonymous(subject);
    expect(subject.attributes?.identity_error).toMatch(/ERR_JWT_CLAIM_VALIDATION_FAILED/);
  });

  it("accepts a token without exp when requireExpiry is false", async () => {
    const lenient = jwtIdentity({ algorithms: ["HS256"], secret: SECRET, requireExpiry: false });
    expect((await lenient(bearer(await hs256({ sub: "ada" }, { exp: null })))).id).toBe("ada");
  });

  it("accepts a token expired within the clock tolerance", async () => {
    const subject = await resolve(bearer(await hs256({ sub: "ada" }, { exp: now() - 5 })));
    expect(subject.authenticated).toBe(true);
  });

  it("honours a zero clock tolerance", async () => {
    const strict = jwtIdentity({ algorithms: ["HS256"], secret: SECRET, clockToleranceSeconds: 0 });
    expectAnonymous(await strict(bearer(await hs256({ sub: "ada" }, { exp: now() - 5 }))));
  });

  it("gives an unauthenticated subject for a token not yet valid", async () => {
    expectAnonymous(await resolve(bearer(await hs256({ sub: "ada" }, { nbf: now() + 600 }))));
  });

  it("checks the issuer", async () => {
    const withIssuer = jwtIdentity({
      algorithms: ["HS256"],
      secret: SECRET,
      issuer: "https://idp",
    });
    expect((await withIssuer(bearer(await hs256({ sub: "a" }, { iss: "https://idp" })))).id).toBe(
      "a",
    );
    expectAnonymous(await withIssuer(bearer(await hs256({ sub: "a" }, { iss: "https://evil" }))));
    expectAnonymous(await withIssuer(bearer(await hs256({ sub: "a" }))));
  });

  it("checks the audience, accepting any of several", async () => {
    const withAudience = jwtIdentity({
      algorithms: ["HS256"],
      secret: SECRET,
      audience: ["mcp", "api"],
    });
    expect((await withAudience(bearer(await hs256({ sub: "a" }, { aud: "api" })))).id).toBe("a");
    expectAnonymous(await withAudience(bearer(await hs256({ sub: "a" }, { aud: "other" }))));
  });

  it("refuses an unsigned token (alg none)", async () => {
    const token = new UnsecuredJWT({ sub: "admin" }).setIssuedAt().encode();
    expectAnonymous(await resolve(bearer(token)));
  });

  it("refuses a token whose header was rewritten to alg none", async () => {
    const token = await hs256({ sub: "admin" });
    const [, payload] = token.split(".");
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    expectAnonymous(await resolve(bearer(`${header}.${payload}.`)));
  });

  it.each([
    ["a malformed token", "Bearer not.a.jwt"],
    ["garbage", "Bearer %%%"],
    ["a missing token", "Bearer"],
    ["another scheme", "Basic YWRhOnB3"],
    ["two tokens", "Bearer a b"],
  ])("gives an unauthenticated subject for %s", async (_, header) => {
    expectAnonymous(await resolve({ headers: { authorization: header } }));
  });

  it("gives an unauthenticated subject without a token", async () => {
    expectAnonymous(await resolve({}));
    expectAnonymous(await resolve({ headers: {} }));
  });

  it("gives an unauthenticated subject for a valid token without sub", async () => {
    const subject = await resolve(bearer(await hs256({ name: "ada", roles: ["admin"] })));
    expectAnonymous(subject);
  });

  it("gives an unauthenticated subject for a valid token whose sub is not a string", async () => {
    expectAnonymous(await resolve(bearer(await hs256({ sub: 42 } as unknown as JWTPayload))));
    expectAnonymous(await resolve(bearer(await hs256({ sub: "" }))));
  });
});

describe("jwtIdentity with a tokenPattern", () => {
  const withPattern = (tokenPattern: RegExp, header = "X-Auth") =>
    jwtIdentity({ algorithms: ["HS256"], secret: SECRET, header, tokenPattern });

  it("takes the first capture group as the token", async () => {
    const resolve = withPattern(/Token (\S+)/);
    const token = await hs256({ sub: "ada" });
    expect(await resolve({ headers: { "x-auth": `Token ${token}` } })).toMatchObject({
      id: "ada",
      authenticated: true,
    });
    // What follows the match is ignored, as with Python's re.match; blanks around the group go.
    const loose = withPattern(/[Bb]earer (.+)/, "authorization");
    expect((await loose({ headers: { authorization: `bearer ${token}  ` } })).id).toBe("ada");
    expect((await resolve({ headers: { "x-auth": `Token ${token} v=1` } })).id).toBe("ada");
  });

  it("matches at the start of the value only, whatever the m flag says", async () => {
    const token = await hs256({ sub: "ada" });
    for (const pattern of [/Token (\S+)/, /Token (\S+)/m, /(?:x|Token) (\S+)/]) {
      const resolve = withPattern(pattern);
      const subject = await resolve({ headers: { "x-auth": `Basic x Token ${token}` } });
      expectAnonymous(subject);
      expect(subject.attributes?.identity_error).toBe("header X-Auth does not match tokenPattern");
      expect(await resolve({ headers: { "x-auth": `Token ${token}` } })).toMatchObject({
        id: "ada",
      });
    }
    const multiline = withPattern(/Token (\S+)/m);
    expectAnonymous(await multiline({ headers: { "x-auth": `junk\nToken ${token}` } }));
  });

  it("gives the same answer on every call (its own pattern keeps no lastIndex between calls)", async () => {
    const pattern = /Token (\S+)/i;
    const resolve = withPattern(pattern);
    const context = { headers: { "x-auth": `Token ${await hs256({ sub: "ada" })}` } };
    for (let i = 0; i < 3; i++) expect((await resolve(context)).id).toBe("ada");
    expect(pattern.lastIndex).toBe(0);
  });

  it("gives an unauthenticated subject for an empty group or a bad token, never a guessed one", async () => {
    const resolve = withPattern(/Token ?(\S*)/);
    expectAnonymous(await resolve({ headers: { "x-auth": "Token " } }));
    const forged = await hs256(
      { sub: "admin" },
      { secret: new TextEncoder().encode("another-secret-another-secret-another") },
    );
    expectAnonymous(await resolve({ headers: { "x-auth": `Token ${forged}` } }));
  });

  it("uses the auth info's token as it is when the header is absent", async () => {
    const resolve = withPattern(/Token (\S+)/);
    const token = await hs256({ sub: "ada" });
    expect((await resolve({ authInfo: { token, clientId: "c", scopes: [] } })).id).toBe("ada");
    const missing = await resolve({});
    expectAnonymous(missing);
    expect(missing.attributes?.identity_error).toBe("missing header X-Auth");
  });

  it.each([
    [/Token (\S+)/g, /g or y flag.*lastIndex/],
    [/Token (\S+)/y, /g or y flag.*lastIndex/],
    [/Token \S+/, /no capture group/],
    [/Token (?:\S+)/, /no capture group/],
    ["Token (.+)" as unknown as RegExp, /must be a RegExp/],
  ])("refuses %s with a ConfigError", (tokenPattern, message) => {
    expect(() => withPattern(tokenPattern)).toThrow(ConfigError);
    expect(() => withPattern(tokenPattern)).toThrow(message);
  });
});

describe("jwtIdentity with RS256", () => {
  let privateKey: CryptoKey;
  let publicPem: string;

  beforeAll(async () => {
    const pair = await generateKeyPair("RS256");
    privateKey = pair.privateKey;
    publicPem = await exportSPKI(pair.publicKey);
  });

  it("accepts a token signed with the private key matching the PEM public key", async () => {
    const resolve = jwtIdentity({ algorithms: ["RS256"], publicKey: publicPem });
    const token = await new SignJWT({ sub: "ada" })
      .setProtectedHeader({ alg: "RS256" })
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(privateKey);
    expect(await resolve(bearer(token))).toMatchObject({ id: "ada", authenticated: true });
  });

  it("refuses an HS256 token signed with the public key as the secret (algorithm confusion)", async () => {
    const resolve = jwtIdentity({ algorithms: ["RS256"], publicKey: publicPem });
    const forged = await hs256({ sub: "admin" }, { secret: new TextEncoder().encode(publicPem) });
    expectAnonymous(await resolve(bearer(forged)));
  });

  it("refuses a token signed by another key pair", async () => {
    const resolve = jwtIdentity({ algorithms: ["RS256"], publicKey: publicPem });
    const other = await generateKeyPair("RS256");
    const token = await new SignJWT({ sub: "ada" })
      .setProtectedHeader({ alg: "RS256" })
      .setExpirationTime("5m")
      .sign(other.privateKey);
    expectAnonymous(await resolve(bearer(token)));
  });
});

describe("jwtIdentity with a JWKS URL", () => {
  let server: Server;
  let url: string;
  let privateKey: CryptoKey;
  let requests = 0;

  beforeAll(async () => {
    const pair = await generateKeyPair("ES256");
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    server = createServer((req, res) => {
      requests++;
      if (req.url !== "/.well-known/jwks.json") {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  async function es256(payload: JWTPayload, kid = "k1", key = privateKey): Promise<string> {
    return new SignJWT(payload)
      .setProtectedHeader({ alg: "ES256", kid })
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(key);
  }

  it("verifies a token against a key fetched from the JWKS server", async () => {
    const resolve = jwtIdentity({ algorithms: ["ES256"], jwksUrl: url });
    const before = requests;
    expect(await resolve(bearer(await es256({ sub: "ada" })))).toMatchObject({
      id: "ada",
      authenticated: true,
    });
    expect(requests).toBeGreaterThan(before);
  });

  it("accepts the JWKS URL as a URL object", async () => {
    const resolve = jwtIdentity({ algorithms: ["ES256"], jwksUrl: new URL(url) });
    expect((await resolve(bearer(await es256({ sub: "ada" })))).id).toBe("ada");
  });

  it("refuses a token signed by a key the JWKS does not hold", async () => {
    const resolve = jwtIdentity({ algorithms: ["ES256"], jwksUrl: url });
    const other = await generateKeyPair("ES256");
    expectAnonymous(await resolve(bearer(await es256({ sub: "ada" }, "k1", other.privateKey))));
    expectAnonymous(
      await resolve(bearer(await es256({ sub: "ada" }, "unknown", other.privateKey))),
    );
  });

  it("gives an unauthenticated subject when the JWKS server cannot be reached", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const resolve = jwtIdentity({
      algorithms: ["ES256"],
      jwksUrl: `http://127.0.0.1:${port}/jwks`,
    });
    expectAnonymous(await resolve(bearer(await es256({ sub: "ada" }))));
  });

  it("gives an unauthenticated subject when the JWKS URL answers 404", async () => {
    const resolve = jwtIdentity({ algorithms: ["ES256"], jwksUrl: url.replace("jwks.json", "x") });
    expectAnonymous(await resolve(bearer(await es256({ sub: "ada" }))));
  });
});

describe("JWT_ALGORITHMS", () => {
  it("names the algorithms jwtIdentity accepts, and no unsigned or unknown one", () => {
    expect(JWT_ALGORITHMS).toContain("HS256");
    expect(JWT_ALGORITHMS).toContain("EdDSA");
    expect(JWT_ALGORITHMS.every(isJwtAlgorithm)).toBe(true);
    for (const name of ["none", "hs256", "RS1", ""]) expect(isJwtAlgorithm(name)).toBe(false);
  });
});

describe("jwtIdentity configuration errors", () => {
  let publicPem: string;

  beforeAll(async () => {
    publicPem = await exportSPKI((await generateKeyPair("RS256")).publicKey);
  });

  it("requires the algorithms to be named", () => {
    expect(() => jwtIdentity({ algorithms: [], secret: SECRET })).toThrow(ConfigError);
    expect(() => jwtIdentity({ algorithms: [], secret: SECRET })).toThrow(/algorithms/);
  });

  it("refuses an empty secret", () => {
    expect(() => jwtIdentity({ algorithms: ["HS256"], secret: "" })).toThrow(
      /secret must not be empty/,
    );
    expect(() => jwtIdentity({ algorithms: ["HS256"], secret: new Uint8Array() })).toThrow(
      ConfigError,
    );
  });

  it("refuses an HMAC secret shorter than the hash of the strongest accepted algorithm (RFC 7518 §3.2)", () => {
    const bytes = (n: number) => new Uint8Array(n).fill(7);
    for (const [algorithm, minimum] of [
      ["HS256", 32],
      ["HS384", 48],
      ["HS512", 64],
    ] as const) {
      expect(() => jwtIdentity({ algorithms: [algorithm], secret: bytes(minimum - 1) })).toThrow(
        new RegExp(
          `^jwtIdentity: secret is ${minimum - 1} bytes; ${algorithm} needs .* at least ${minimum} bytes`,
        ),
      );
      expect(typeof jwtIdentity({ algorithms: [algorithm], secret: bytes(minimum) })).toBe(
        "function",
      );
    }
    // Accepting HS512 too raises the bar for the one secret.
    expect(() => jwtIdentity({ algorithms: ["HS256", "HS512"], secret: bytes(48) })).toThrow(
      /HS512 needs a secret of at least 64 bytes/,
    );
    // A string is measured in UTF-8 bytes, not characters: 16 × "é" is 32 bytes.
    expect(typeof jwtIdentity({ algorithms: ["HS256"], secret: "é".repeat(16) })).toBe("function");
    const short = "short-but-not-empty";
    expect(() => jwtIdentity({ algorithms: ["HS256"], secret: short })).toThrow(ConfigError);
    try {
      jwtIdentity({ algorithms: ["HS256"], secret: short });
    } catch (error) {
      expect((error as Error).message).not.toContain(short);
    }
  });

  it("refuses a secret with an asymmetric algorithm (algorithm confusion)", () => {
    expect(() => jwtIdentity({ algorithms: ["RS256"], secret: SECRET })).toThrow(ConfigError);
    expect(() => jwtIdentity({ algorithms: ["HS256", "RS256"], secret: SECRET })).toThrow(
      /HMAC algorithms only/,
    );
  });

  it("refuses a PEM key given as an HMAC secret (algorithm confusion)", () => {
    expect(() => jwtIdentity({ algorithms: ["HS256"], secret: publicPem })).toThrow(ConfigError);
    expect(() => jwtIdentity({ algorithms: ["HS256"], secret: `\n${publicPem}` })).toThrow(
      /secret is a PEM key; pass a public key as publicKey/,
    );
  });

  it("refuses an HMAC algorithm with a public key or a JWKS URL", () => {
    expect(() => jwtIdentity({ algorithms: ["HS256"], publicKey: publicPem })).toThrow(ConfigError);
    expect(() =>
      jwtIdentity({ algorithms: ["RS256", "HS256"], jwksUrl: "https://idp/jwks" }),
    ).toThrow(/need a secret/);
  });

  it("refuses a bad PEM public key", () => {
    expect(() => jwtIdentity({ algorithms: ["RS256"], publicKey: "not a pem" })).toThrow(
      /not a valid PEM public key/,
    );
  });

  it("refuses a bad JWKS URL", () => {
    expect(() => jwtIdentity({ algorithms: ["RS256"], jwksUrl: "not a url" })).toThrow(
      /^jwtIdentity: invalid jwksUrl; expected an http\(s\) URL such as /,
    );
  });

  it("requires exactly one key source", () => {
    expect(() => jwtIdentity({ algorithms: ["RS256"] })).toThrow(/exactly one/);
    expect(() =>
      jwtIdentity({ algorithms: ["RS256"], publicKey: publicPem, jwksUrl: "https://idp/jwks" }),
    ).toThrow(/exactly one/);
  });

  it("never puts the secret in a configuration error", () => {
    try {
      jwtIdentity({ algorithms: ["RS256"], secret: SECRET });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain(SECRET);
    }
  });
});

describe("authInfoIdentity", () => {
  const resolve = authInfoIdentity();

  it("uses the client id, scopes, and extra.roles", async () => {
    const subject = await resolve({
      authInfo: {
        token: "secret-token",
        clientId: "client-1",
        scopes: ["read", "write"],
        extra: { roles: ["admin"], tenant: "acme" },
      },
    });
    expect(subject).toEqual({
      id: "client-1",
      authenticated: true,
      scopes: ["read", "write"],
      roles: ["admin"],
      tenant: "acme",
      attributes: { client_id: "client-1", roles: ["admin"], tenant: "acme" },
    });
    expect(JSON.stringify(subject)).not.toContain("secret-token");
  });

  it("prefers extra.sub over the client id", async () => {
    const subject = await resolve({
      authInfo: { token: "t", clientId: "client-1", scopes: [], extra: { sub: "ada" } },
    });
    expect(subject.id).toBe("ada");
    expect(subject.attributes).toMatchObject({ client_id: "client-1" });
  });

  it("reads roles given as a space-separated string", async () => {
    const subject = await resolve({
      authInfo: { token: "t", clientId: "c", scopes: [], extra: { roles: "a b" } },
    });
    expect(subject.roles).toEqual(["a", "b"]);
  });

  it("reads roles through a custom key or function and the subject through a custom key", async () => {
    const byKey = authInfoIdentity({ roles: "groups", subjectKey: "user" });
    const a = await byKey({
      authInfo: { token: "t", clientId: "c", scopes: [], extra: { groups: ["g"], user: "ada" } },
    });
    expect(a).toMatchObject({ id: "ada", roles: ["g"] });
    const byFunction = authInfoIdentity({ roles: (info) => info.scopes.map((s) => `role:${s}`) });
    const b = await byFunction({ authInfo: { token: "t", clientId: "c", scopes: ["x"] } });
    expect(b.roles).toEqual(["role:x"]);
  });

  it("accepts auth info that has not expired", async () => {
    const subject = await resolve({
      authInfo: { token: "t", clientId: "c", scopes: [], expiresAt: now() + 60 },
    });
    expect(subject.authenticated).toBe(true);
  });

  it("gives an unauthenticated subject for expired auth info", async () => {
    expectAnonymous(
      await resolve({ authInfo: { token: "t", clientId: "c", scopes: [], expiresAt: now() - 60 } }),
    );
  });

  it("gives an unauthenticated subject without auth info", async () => {
    expectAnonymous(await resolve({}));
    expectAnonymous(await resolve({ headers: { authorization: "Bearer x" } }));
  });

  it("gives an unauthenticated subject for auth info without a client id or sub", async () => {
    expectAnonymous(await resolve({ authInfo: { token: "t", clientId: "", scopes: [] } }));
  });

  it("is the default resolver", async () => {
    const subject = await defaultIdentity()({
      authInfo: { token: "t", clientId: "c", scopes: [] },
    });
    expect(subject).toMatchObject({ id: "c", authenticated: true });
  });
});

describe("eunomiaIdentity", () => {
  const resolve = eunomiaIdentity();

  it("uses X-Agent-ID as the subject and records the user and user agent", async () => {
    const subject = await resolve({
      headers: { "X-Agent-ID": "claude", "x-user-id": "u1", "User-Agent": "client/1.0" },
    });
    expect(subject).toEqual({
      id: "claude",
      authenticated: false,
      attributes: { agent_id: "claude", user_id: "u1", user_agent: "client/1.0" },
    });
  });

  it("does not count a client-supplied X-Agent-ID as authenticated", async () => {
    expect((await resolve({ headers: { "x-agent-id": "admin" } })).authenticated).toBe(false);
  });

  it("counts X-Agent-ID as authenticated when a trusted gateway sets it", async () => {
    const trusted = eunomiaIdentity({ trusted: true });
    expect(await trusted({ headers: { "x-agent-id": "claude" } })).toEqual({
      id: "claude",
      authenticated: true,
      attributes: { agent_id: "claude" },
    });
    expect((await trusted({})).authenticated).toBe(false);
  });

  it("adds api_key with apiKey, as eunomia-mcp sends it: Authorization with every `Bearer ` removed", async () => {
    const withKey = eunomiaIdentity({ apiKey: true });
    const key = async (authorization?: string) =>
      (
        await withKey({
          headers: {
            "x-agent-id": "bot",
            ...(authorization !== undefined ? { authorization } : {}),
          },
        })
      ).attributes?.api_key;
    expect(await key("Bearer key-123")).toBe("key-123");
    expect(await key("raw-key")).toBe("raw-key");
    expect(await key("bearer low")).toBe("bearer low");
    expect(await key("Bearer a Bearer b")).toBe("a b");
    expect(await key("")).toBeUndefined();
    expect(await key(undefined)).toBeUndefined();
    // Without the option the header is not read.
    expect(
      (await resolve({ headers: { "x-agent-id": "bot", authorization: "Bearer k" } })).attributes,
    ).toEqual({ agent_id: "bot" });
  });

  it("keeps the api_key out of audit events", async () => {
    const audit = memoryAuditSink();
    const secretKey = "eunomia_api_key_in_core_7777";
    const authorizer = new Authorizer({
      pdp: functionPdp((r) => r.subject.attributes?.api_key === secretKey),
      identity: eunomiaIdentity({ apiKey: true }),
      audit,
    });
    const outcome = await authorizer.authorize(
      "tools/call",
      { name: "t" },
      { headers: { "x-agent-id": "bot", authorization: `Bearer ${secretKey}` } },
    );
    expect(outcome).toMatchObject({ kind: "decided", decision: { allow: true } });
    expect(audit.events).toHaveLength(1);
    expect(JSON.stringify(audit.events)).not.toContain(secretKey);
  });

  it("gives an unauthenticated subject without X-Agent-ID", async () => {
    const subject = await resolve({ headers: { "x-user-id": "u1" } });
    expect(subject.authenticated).toBe(false);
    expect(subject.attributes).toMatchObject({ user_id: "u1" });
    expect((await resolve({})).authenticated).toBe(false);
  });
});

describe("firstIdentity", () => {
  const never: IdentityResolver = () => ({ id: "anonymous", authenticated: false });

  it("returns the first authenticated subject", async () => {
    let asked = 0;
    const counting: IdentityResolver = () => {
      asked++;
      return { id: "late", authenticated: true };
    };
    const resolve = firstIdentity(never, headerIdentity({ header: "x-user" }), counting);
    expect((await resolve({ headers: { "x-user": "ada" } })).id).toBe("ada");
    expect(asked).toBe(0);
    expect((await resolve({})).id).toBe("late");
    expect(asked).toBe(1);
  });

  it("returns the last answer when none is authenticated", async () => {
    const last: IdentityResolver = () =>
      Promise.resolve({ id: "guest", authenticated: false, attributes: { why: "x" } });
    expect(await firstIdentity(never, last)({})).toEqual({
      id: "guest",
      authenticated: false,
      attributes: { why: "x" },
    });
  });

  it("needs at least one resolver", () => {
    expect(() => firstIdentity()).toThrow(ConfigError);
  });

  it("exposes a frozen anonymous subject", () => {
    expect(ANONYMOUS).toEqual({ id: "anonymous", authenticated: false });
    expect(Object.isFrozen(ANONYMOUS)).toBe(true);
  });
});
