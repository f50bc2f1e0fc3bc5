import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ConfigError, type IdentityResolver, jwtIdentity } from "@mcp-pdp/core";
import { functionPdp, memoryAuditSink, recordingPdp } from "@mcp-pdp/core/testing";
import { extractWWWAuthenticateParams } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { type IdentityChallengeOptions, authorize, identityChallenge } from "../src/index.js";

const SECRET = new TextEncoder().encode("challenge-test-secret-of-32-bytes!!");
const OTHER = new TextEncoder().encode("some-other-signing-key-of-32-bytes!");
const identity = jwtIdentity({ algorithms: ["HS256"], secret: SECRET, clockToleranceSeconds: 0 });

function token(sub: string, key = SECRET, expires: string | number = "5m"): Promise<string> {
  return new SignJWT({ sub, roles: ["user"] })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime(expires)
    .sign(key);
}

/** Anyone may call `public_info`; only an authenticated `user` may call `read_notes`. */
const policy = () =>
  recordingPdp(
    functionPdp(
      (r) =>
        r.action === "list" ||
        r.action === "public-info" ||
        (r.subject.authenticated && (r.subject.roles ?? []).includes("user")),
    ),
  );

let servers: Server[] = [];

afterEach(async () => {
  for (const http of servers) {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  }
  servers = [];
});

/**
 * A stateless Streamable HTTP notes server on a loopback port, each request authorized with the
 * JWT identity, behind the challenge middleware on plain node:http.
 */
async function serve(
  options: IdentityChallengeOptions = {},
  resolver: IdentityResolver = identity,
) {
  const pdp = policy();
  const audit = memoryAuditSink();
  const challenge = identityChallenge(resolver, { audit, ...options });
  const http = createServer((req, res) => {
    challenge(req, res, (error) => {
      if (error !== undefined) {
        res.writeHead(500).end();
        return;
      }
      const server = new McpServer({ name: "notes", version: "1.0.0" });
      for (const name of ["public_info", "read_notes"]) {
        server.registerTool(name, { description: name }, () => ({
          content: [{ type: "text", text: `${name} ran` }],
        }));
      }
      authorize(server, { pdp, identity, audit, env: {} });
      const transport = new StreamableHTTPServerTransport({});
      res.on("close", () => void server.close());
      void server.connect(transport).then(() => transport.handleRequest(req, res));
    });
  });
  servers.push(http);
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const url = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
  return { url, pdp, audit };
}

async function connect(url: URL, authorization?: string): Promise<Client> {
  const client = new Client({ name: "test-client", version: "1.0.0" });
  const headers: Record<string, string> = authorization ? { authorization } : {};
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  return client;
}

/** A raw initialize POST, to read the status, the challenge and the body. */
async function post(url: URL, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "raw", version: "1" },
      },
    }),
  });
  return {
    response,
    challenge: response.headers.get("www-authenticate"),
    body: await response.text(),
  };
}

describe("identityChallenge", () => {
  it("lets a request with a valid token through to the guard, which sees the token's subject", async () => {
    const { url, pdp } = await serve();
    const client = await connect(url, `Bearer ${await token("ada")}`);
    const result = await client.callTool({ name: "read_notes" });
    expect(result.isError).toBeFalsy();
    expect(pdp.requests.at(-1)?.subject).toMatchObject({ id: "ada", authenticated: true });
    await client.close();
  });

  it("answers 401 with an RFC 6750 invalid_token challenge to a token signed with another key, before the server sees it", async () => {
    const { url, pdp } = await serve();
    const forged = await token("ada", OTHER);
    const { response, challenge, body } = await post(url, { authorization: `Bearer ${forged}` });
    expect(response.status).toBe(401);
    expect(challenge).toBe(
      'Bearer realm="mcp", error="invalid_token", error_description="invalid token (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)"',
    );
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(JSON.parse(body)).toEqual({
      jsonrpc: "2.0",
      error: {
        code: -32000,
        message: "Unauthorized: invalid token (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)",
      },
      id: null,
    });
    expect(body).not.toContain(forged);
    expect(pdp.requests).toHaveLength(0);
  });

  it("makes the SDK client fail to connect with HTTP 401 rather than a policy deny when its token expired", async () => {
    const { url, pdp } = await serve();
    const expired = await token("ada", SECRET, Math.floor(Date.now() / 1000) - 60);
    const failure = await connect(url, `Bearer ${expired}`).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(StreamableHTTPError);
    expect((failure as StreamableHTTPError).code).toBe(401);
    expect(String(failure)).toContain("ERR_JWT_EXPIRED");
    expect(pdp.requests).toHaveLength(0);
  });

  it("refuses a malformed authorization header the same way", async () => {
    const { url } = await serve();
    const { response, challenge } = await post(url, { authorization: "Basic YWRhOnB3" });
    expect(response.status).toBe(401);
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toContain('error_description="malformed authorization header"');
  });

  it("audits each refused request with identity_error, never the token", async () => {
    const { url, audit } = await serve();
    const forged = await token("ada", OTHER);
    await post(url, { authorization: `Bearer ${forged}`, "mcp-session-id": "s-1" });
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]).toMatchObject({
      subject: { id: "anonymous", authenticated: false },
      identity_error: "invalid token (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)",
      allow: false,
      source: "error",
      errorCode: "IDENTITY_INVALID",
      sessionId: "s-1",
    });
    expect(JSON.stringify(audit.events)).not.toContain(forged);
  });

  it("bounds what the client sent in a refusal's audit event like every audit text", async () => {
    const { url, audit } = await serve();
    const forged = await token("ada", OTHER);
    await post(url, { authorization: `Bearer ${forged}`, "mcp-session-id": "s".repeat(10_000) });
    const sessionId = String(audit.events[0]?.sessionId);
    expect(sessionId.length).toBeLessThanOrEqual(4096);
    expect(sessionId.startsWith("sss")).toBe(true);
  });

  it("lets a request without any token through as unauthenticated, so public tools keep working and the rest is the policy's deny", async () => {
    const { url, pdp, audit } = await serve();
    const client = await connect(url);
    expect((await client.callTool({ name: "public_info" })).isError).toBeFalsy();
    await expect(client.callTool({ name: "read_notes" })).rejects.toMatchObject({ code: -32010 });
    expect(pdp.requests.at(-1)?.subject.authenticated).toBe(false);
    expect(audit.events.at(-1)).toMatchObject({
      allow: false,
      identity_error: "missing bearer token",
    });
    await client.close();
  });

  it("answers 401 without an error code to a request without a token when required", async () => {
    const { url, pdp } = await serve({ required: true });
    const { response, challenge, body } = await post(url);
    expect(response.status).toBe(401);
    expect(challenge).toBe('Bearer realm="mcp"');
    expect(JSON.parse(body)).toMatchObject({
      error: { message: "Unauthorized: a bearer token is required" },
    });
    expect(pdp.requests).toHaveLength(0);
    const client = await connect(url, `Bearer ${await token("ada")}`);
    expect((await client.callTool({ name: "read_notes" })).isError).toBeFalsy();
    await client.close();
  });

  it("announces the protected resource metadata URL where the SDK's OAuth client looks for it", async () => {
    const metadata = "https://notes.example/.well-known/oauth-protected-resource";
    const { url } = await serve({ required: true, realm: "notes", resourceMetadata: metadata });
    const missing = await post(url);
    expect(missing.challenge).toBe(`Bearer realm="notes", resource_metadata="${metadata}"`);
    expect(extractWWWAuthenticateParams(missing.response)).toEqual({
      resourceMetadataUrl: new URL(metadata),
      scope: undefined,
      error: undefined,
    });
    const bad = await post(url, { authorization: "Bearer not.a.jwt" });
    expect(extractWWWAuthenticateParams(bad.response).error).toBe("invalid_token");
    expect(extractWWWAuthenticateParams(bad.response).resourceMetadataUrl?.href).toBe(metadata);
  });

  it("refuses a token when the resolver throws, without the resolver's message", async () => {
    const broken: IdentityResolver = () => {
      throw new Error("db password=hunter2 unreachable");
    };
    const { url } = await serve({}, broken);
    const { response, challenge, body } = await post(url, {
      authorization: `Bearer ${await token("ada")}`,
    });
    expect(response.status).toBe(401);
    expect(challenge).toContain('error_description="the credential could not be verified"');
    expect(`${challenge ?? ""}${body}`).not.toContain("hunter2");
  });

  it("keeps quotes and control characters of a resolver's reason out of the challenge", async () => {
    const odd: IdentityResolver = () => ({
      id: "anonymous",
      authenticated: false,
      attributes: { identity_error: 'bad "token"\r\nX-Injected: 1 \\ end' },
    });
    const { url } = await serve({}, odd);
    const { response, challenge } = await post(url, { authorization: "Bearer x" });
    expect(response.headers.get("x-injected")).toBeNull();
    expect(challenge).toBe(
      'Bearer realm="mcp", error="invalid_token", error_description="bad tokenX-Injected: 1  end"',
    );
  });

  it("refuses a realm or metadata URL that cannot be quoted, at configuration time", () => {
    expect(() => identityChallenge(identity, { realm: 'a"b' })).toThrow(ConfigError);
    expect(() => identityChallenge(identity, { resourceMetadata: "not a url" })).toThrow(
      /resourceMetadata must be an absolute URL/,
    );
  });
});
