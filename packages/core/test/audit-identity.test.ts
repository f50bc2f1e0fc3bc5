import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { Authorizer } from "../src/authorizer.js";
import { jwtIdentity } from "../src/identity.js";
import { allowAll, memoryAuditSink } from "../src/testing.js";

const SECRET = new TextEncoder().encode("audit-identity-secret-of-32-bytes!!");
const OTHER = new TextEncoder().encode("another-key-entirely-of-32-bytes!!!");

function token(key: Uint8Array, expires: string | number = "5m"): Promise<string> {
  return new SignJWT({ sub: "ada" })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime(expires)
    .sign(key);
}

async function auditedCall(authorization: string | undefined) {
  const audit = memoryAuditSink();
  const authorizer = new Authorizer({
    pdp: allowAll(),
    identity: jwtIdentity({ algorithms: ["HS256"], secret: SECRET, clockToleranceSeconds: 0 }),
    audit,
  });
  await authorizer.authorize(
    "tools/call",
    { name: "t" },
    authorization === undefined ? {} : { headers: { authorization } },
  );
  expect(audit.events).toHaveLength(1);
  return audit.events[0];
}

describe("identity_error in audit events", () => {
  it("records why a token signed with another key failed, as a top-level field, never the token", async () => {
    const forged = await token(OTHER);
    const event = await auditedCall(`Bearer ${forged}`);
    expect(event).toMatchObject({
      subject: { id: "anonymous", authenticated: false },
      identity_error: "invalid token (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)",
    });
    expect(JSON.stringify(event)).not.toContain(forged);
  });

  it("records an expired token and a malformed header", async () => {
    const expired = await token(SECRET, Math.floor(Date.now() / 1000) - 60);
    expect((await auditedCall(`Bearer ${expired}`))?.identity_error).toBe(
      "invalid token (ERR_JWT_EXPIRED)",
    );
    expect((await auditedCall("Basic YWRhOnB3"))?.identity_error).toBe(
      "malformed authorization header",
    );
    expect((await auditedCall(undefined))?.identity_error).toBe("missing bearer token");
  });

  it("leaves the field out for an authenticated caller, even one whose claims hold identity_error", async () => {
    const claimed = await new SignJWT({ sub: "ada", identity_error: "made up" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(SECRET);
    const event = await auditedCall(`Bearer ${claimed}`);
    expect(event?.subject).toMatchObject({ id: "ada", authenticated: true });
    expect(event).not.toHaveProperty("identity_error");
  });
});

describe("identity_error in a list's summary event", () => {
  it("says why the caller of a filtered list is unauthenticated", async () => {
    const audit = memoryAuditSink();
    const identity = jwtIdentity({ algorithms: ["HS256"], secret: SECRET });
    const authorizer = new Authorizer({ pdp: allowAll(), identity, audit });
    const forged = await token(OTHER);
    const context = { headers: { authorization: `Bearer ${forged}` } };
    await authorizer.filterList(
      "tools/list",
      { tools: [{ name: "a" }, { name: "b" }] },
      context,
      await identity(context),
    );
    const summary = audit.events.find((e) => e.type === "list");
    expect(summary?.identity_error).toBe("invalid token (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)");
    expect(JSON.stringify(audit.events)).not.toContain(forged);
  });
});
