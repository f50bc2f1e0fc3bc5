/**
 * jwtIdentity's memo of successful verifications: each jose `jwtVerify` call is counted, so a test
 * can tell a verification from an answer of the memo.
 */
import { type JWTPayload, SignJWT } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConfigError } from "../src/errors.js";
import { type JwtIdentityOptions, type RequestContext, jwtIdentity } from "../src/identity.js";
import type { Subject } from "../src/model.js";
import { isSealed } from "../src/sealed.js";

const verifications = vi.hoisted(() => ({ count: 0 }));

vi.mock("jose", async (importOriginal) => {
  const jose = await importOriginal<typeof import("jose")>();
  const jwtVerify = jose.jwtVerify as (...args: unknown[]) => unknown;
  return {
    ...jose,
    jwtVerify: (...args: unknown[]) => {
      verifications.count++;
      return jwtVerify(...args);
    },
  };
});

const SECRET = "a-test-secret-that-is-long-enough-for-hs256";
const key = new TextEncoder().encode(SECRET);
/** 2030-01-01T00:00:00Z, in seconds: the fake clock starts on a whole second. */
const T0 = 1_893_456_000;

async function sign(
  claims: JWTPayload,
  times: { exp?: number | null; nbf?: number } = {},
  secret = key,
): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: "HS256" });
  const exp = times.exp === undefined ? Math.floor(Date.now() / 1000) + 600 : times.exp;
  if (exp !== null) jwt.setExpirationTime(exp);
  if (times.nbf !== undefined) jwt.setNotBefore(times.nbf);
  return jwt.sign(secret);
}

const bearer = (token: string): RequestContext => ({
  headers: { authorization: `Bearer ${token}` },
});

function resolver(options: Partial<JwtIdentityOptions> = {}) {
  return jwtIdentity({ algorithms: ["HS256"], secret: SECRET, ...options });
}

beforeEach(() => {
  verifications.count = 0;
  vi.useFakeTimers({ now: T0 * 1000, toFake: ["Date"] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("jwtIdentity's memo of verified tokens", () => {
  it("does not verify the same token again, and answers it at once", async () => {
    const resolve = resolver();
    const context = bearer(await sign({ sub: "ada", roles: ["dev"] }));
    const first = await resolve(context);
    expect(verifications.count).toBe(1);
    const again = resolve(context);
    // Synchronous: the Authorizer can decide in the same tick.
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toBe(first);
    expect(first).toMatchObject({ id: "ada", authenticated: true, roles: ["dev"] });
    expect(isSealed(first)).toBe(true);
    expect(verifications.count).toBe(1);
  });

  it("verifies a different token", async () => {
    const resolve = resolver();
    await resolve(bearer(await sign({ sub: "ada" })));
    expect((await resolve(bearer(await sign({ sub: "bob" })))).id).toBe("bob");
    expect(verifications.count).toBe(2);
  });

  it("refuses a remembered token from the second it expires, as verifying it would", async () => {
    const resolve = resolver({ clockToleranceSeconds: 0 });
    const token = await sign({ sub: "ada" }, { exp: T0 + 5 });
    expect((await resolve(bearer(token))).authenticated).toBe(true);
    vi.setSystemTime((T0 + 5) * 1000 - 1);
    expect((await resolve(bearer(token))).authenticated).toBe(true);
    expect(verifications.count).toBe(1);
    vi.setSystemTime((T0 + 5) * 1000);
    const expired = await resolve(bearer(token));
    expect(expired).toMatchObject({
      authenticated: false,
      attributes: { identity_error: "invalid token (ERR_JWT_EXPIRED)" },
    });
    expect(verifications.count).toBe(2);
  });

  it("keeps the clock tolerance for expiry, no more", async () => {
    const resolve = resolver({ clockToleranceSeconds: 10 });
    const token = await sign({ sub: "ada" }, { exp: T0 + 5 });
    await resolve(bearer(token));
    vi.setSystemTime((T0 + 15) * 1000 - 1);
    expect((await resolve(bearer(token))).authenticated).toBe(true);
    expect(verifications.count).toBe(1);
    vi.setSystemTime((T0 + 15) * 1000);
    expect((await resolve(bearer(token))).authenticated).toBe(false);
  });

  it("refuses a remembered token before its nbf when the clock goes back", async () => {
    const resolve = resolver({ clockToleranceSeconds: 0 });
    const token = await sign({ sub: "ada" }, { nbf: T0 });
    expect((await resolve(bearer(token))).authenticated).toBe(true);
    vi.setSystemTime((T0 - 1) * 1000);
    expect((await resolve(bearer(token))).authenticated).toBe(false);
    expect(verifications.count).toBe(2);
  });

  it("verifies again once the window is over", async () => {
    const resolve = resolver({ verifiedCacheMs: 1000 });
    const token = await sign({ sub: "ada" });
    await resolve(bearer(token));
    vi.setSystemTime(T0 * 1000 + 999);
    await resolve(bearer(token));
    expect(verifications.count).toBe(1);
    vi.setSystemTime(T0 * 1000 + 1000);
    expect((await resolve(bearer(token))).authenticated).toBe(true);
    expect(verifications.count).toBe(2);
    // The new verification starts a new window.
    await resolve(bearer(token));
    expect(verifications.count).toBe(2);
  });

  it("verifies every time with verifiedCacheMs: 0", async () => {
    const resolve = resolver({ verifiedCacheMs: 0 });
    const token = await sign({ sub: "ada" });
    const first = await resolve(bearer(token));
    const second = await resolve(bearer(token));
    expect(second).toEqual(first);
    expect(second).not.toBe(first);
    expect(verifications.count).toBe(2);
  });

  it("never remembers a failure", async () => {
    const resolve = resolver();
    const forged = await sign({ sub: "admin" }, {}, new TextEncoder().encode("x".repeat(40)));
    const noSub = await sign({ email: "a@x" });
    for (const token of [forged, forged, noSub, noSub]) {
      expect((await resolve(bearer(token))).authenticated).toBe(false);
    }
    expect(verifications.count).toBe(4);
  });

  it("is per resolver instance", async () => {
    const token = await sign({ sub: "ada" });
    await resolver()(bearer(token));
    await resolver()(bearer(token));
    expect(verifications.count).toBe(2);
  });

  it("keeps at most 1024 tokens, forgetting the least recently used first", async () => {
    const resolve = resolver();
    const tokens = await Promise.all(
      Array.from({ length: 1025 }, (_, i) => sign({ sub: `user-${i}` })),
    );
    for (const token of tokens.slice(0, 1024)) await resolve(bearer(token));
    expect(verifications.count).toBe(1024);
    await resolve(bearer(tokens[0]!)); // used again: now the most recent
    await resolve(bearer(tokens[1024]!)); // the 1025th: tokens[1] goes
    expect(verifications.count).toBe(1025);
    await resolve(bearer(tokens[0]!));
    expect(verifications.count).toBe(1025);
    expect((await resolve(bearer(tokens[1]!))).id).toBe("user-1");
    expect(verifications.count).toBe(1026);
  });

  it("never keeps a token over 8 KiB", async () => {
    const resolve = resolver();
    const token = await sign({ sub: "ada", padding: "p".repeat(8192) });
    expect(token.length).toBeGreaterThan(8192);
    await resolve(bearer(token));
    await resolve(bearer(token));
    expect(verifications.count).toBe(2);
  });

  it.each([-1, 1.5, 3_600_001, Number.NaN])("refuses verifiedCacheMs: %s", (verifiedCacheMs) => {
    expect(() => resolver({ verifiedCacheMs })).toThrow(ConfigError);
    expect(() => resolver({ verifiedCacheMs })).toThrow(
      /jwtIdentity: verifiedCacheMs must be an integer from 0 to 3600000/,
    );
  });

  it("answers a token in the memo without reading the auth info fallback", async () => {
    const resolve = resolver();
    const token = await sign({ sub: "ada" });
    const viaAuthInfo: Subject = await resolve({
      authInfo: { token, clientId: "c", scopes: [] },
    });
    expect(resolve(bearer(token))).toBe(viaAuthInfo);
    expect(verifications.count).toBe(1);
  });
});
