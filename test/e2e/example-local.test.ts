import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { fixedIdentity, jwtIdentity } from "@mcp-pdp/core";
import { memoryAuditSink } from "@mcp-pdp/core/testing";
import { serveHttp, type RunningHttpServer } from "@mcp-pdp/example-local-server/http";
import { POLICY_FILE } from "@mcp-pdp/example-local-server/pdp";
import { createNotesServer } from "@mcp-pdp/example-local-server/server";
import { localPdp } from "@mcp-pdp/local";
import { authorize } from "@mcp-pdp/mcp";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXPECTED, viewOf } from "./notes-view.js";

const ROLES = ["admin", "user", "guest"] as const;
const SECRET = "an-example-secret-of-at-least-32-bytes!";

async function memoryClient(role: string) {
  const server = createNotesServer();
  authorize(server, {
    pdp: localPdp({ files: [POLICY_FILE] }),
    identity: fixedIdentity(`${role}-caller`, { roles: [role] }),
    mapping: { serverName: "notes" },
    audit: false,
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(clientSide);
  return client;
}

function token(sub: string, roles: string[], secret = SECRET) {
  return new SignJWT({ roles })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(secret));
}

async function httpClient(url: URL, bearer?: string) {
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: bearer ? { headers: { Authorization: `Bearer ${bearer}` } } : {},
  });
  const client = new Client({ name: "e2e-http", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

describe("example notes server on the local engine, in-memory transport", () => {
  for (const role of ROLES) {
    it(`gives role ${role} exactly what the policy says`, async () => {
      const client = await memoryClient(role);
      expect(await viewOf(client)).toEqual(EXPECTED[role]);
      await client.close();
    });
  }
});

describe("example notes server on the local engine, Streamable HTTP with bearer JWTs", () => {
  let running: RunningHttpServer;
  const audit = memoryAuditSink();
  beforeAll(async () => {
    running = await serveHttp({
      createServer: createNotesServer,
      guard: {
        pdp: localPdp({ files: [POLICY_FILE] }),
        identity: jwtIdentity({ algorithms: ["HS256"], secret: SECRET }),
        mapping: { serverName: "notes" },
        audit,
      },
    });
  });
  afterAll(async () => {
    await running.close();
  });

  for (const role of ROLES) {
    it(`gives role ${role} exactly what the policy says`, async () => {
      const client = await httpClient(running.url, await token(`${role}-1`, [role]));
      expect(await viewOf(client)).toEqual(EXPECTED[role]);
      await client.close();
    });
  }

  it("treats a missing token as an unauthenticated caller who sees nothing", async () => {
    const anonymous = await httpClient(running.url);
    expect(await viewOf(anonymous)).toEqual(EXPECTED.guest);
    expect(audit.events.at(-1)).toMatchObject({
      subject: { authenticated: false },
      identity_error: "missing bearer token",
    });
    await anonymous.close();
  });

  it("answers a forged token with 401 and a WWW-Authenticate challenge, and audits why", async () => {
    const forged = await token("mallory", ["admin"], "some-other-secret-of-32-bytes!!!!");
    const failure = await httpClient(running.url, forged).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(StreamableHTTPError);
    expect((failure as StreamableHTTPError).code).toBe(401);
    const response = await fetch(running.url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${forged}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list" }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe(
      'Bearer realm="mcp", error="invalid_token", error_description="invalid token (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)"',
    );
    expect(await response.json()).toMatchObject({ error: { code: -32000 }, id: 7 });
    expect(audit.events.at(-1)).toMatchObject({
      method: "tools/list",
      requestId: 7,
      identity_error: "invalid token (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)",
      allow: false,
    });
    expect(audit.events.find((e) => e.subject.id === "mallory")).toBeUndefined();
    expect(JSON.stringify(audit.events)).not.toContain(forged);
  });

  it("never shows one user's filtered list to another user connected at the same time", async () => {
    const admin = await httpClient(running.url, await token("alice", ["admin"]));
    const user = await httpClient(running.url, await token("bob", ["user"]));
    const rounds = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 === 0 ? admin : user).listTools().then((r) => [i % 2, r.tools.length]),
      ),
    );
    for (const [who, count] of rounds) expect(count).toBe(who === 0 ? 5 : 3);
    await admin.close();
    await user.close();
  });

  it("audits each decision with the caller's identity and never the token", async () => {
    const bearer = await token("dana", ["user"]);
    const client = await httpClient(running.url, bearer);
    await client.callTool({ name: "read_note", arguments: { id: "1" } });
    const events = audit.events.filter((e) => e.subject.id === "dana");
    expect(
      events.some((e) => e.method === "tools/call" && e.allow && e.action === "read-note"),
    ).toBe(true);
    expect(JSON.stringify(audit.events)).not.toContain(bearer);
    await client.close();
  });
});

describe("example notes server over stdio", () => {
  const main = fileURLToPath(new URL("../../examples/local-server/src/main.ts", import.meta.url));

  it("applies the fixed identity from the environment, and checks still run", async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ["--conditions=@mcp-pdp/source", "--import", "tsx", main],
      env: {
        ...(process.env as Record<string, string>),
        MCP_PDP_IDENTITY_FIXED_VALUE: "bob",
        MCP_PDP_IDENTITY_ROLES: "user",
        MCP_PDP_AUDIT: "off",
      },
      stderr: "pipe",
    });
    const client = new Client({ name: "e2e-stdio", version: "1.0.0" });
    await client.connect(transport);
    expect(await viewOf(client)).toEqual(EXPECTED.user);
    await client.close();
  });

  it("fails at start-up naming the variable when the environment is invalid", async () => {
    const child = spawn(
      process.execPath,
      ["--conditions=@mcp-pdp/source", "--import", "tsx", main],
      {
        env: { ...process.env, MCP_PDP_ADAPTER: "magic" },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code).toBe(1);
    expect(stderr).toContain("MCP_PDP_ADAPTER");
    expect(stderr).toContain("magic");
  });
});
