/**
 * The example notes server guarded by the real Cerbos server loaded with
 * examples/local-server/cerbos, driven by real MCP clients: each role gets exactly what the example
 * policy promises, the same as on the local engine.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { fixedIdentity, jwtIdentity } from "@mcp-pdp/core";
import { memoryAuditSink } from "@mcp-pdp/core/testing";
import { serveHttp, type RunningHttpServer } from "@mcp-pdp/example-local-server/http";
import { pdpFromEnv } from "@mcp-pdp/example-local-server/pdp";
import { createNotesServer } from "@mcp-pdp/example-local-server/server";
import { authorize } from "@mcp-pdp/mcp";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXPECTED, viewOf } from "../e2e/notes-view.js";
import { closedPortUrl } from "../fakes/shared.js";
import { type CerbosServer, EXAMPLE_POLICIES, startCerbos } from "./server.js";

const ROLES = ["admin", "user", "guest"] as const;
const SECRET = "a-cerbos-example-secret-of-32-bytes!";

let cerbos: CerbosServer;

beforeAll(async () => {
  cerbos = await startCerbos(EXAMPLE_POLICIES);
});

afterAll(async () => {
  await cerbos.close();
});

/** The example's own adapter choice: MCP_PDP_ADAPTER=cerbos and CERBOS_URL. */
const cerbosEnv = (url: string) => ({ MCP_PDP_ADAPTER: "cerbos", CERBOS_URL: url });

async function memoryClient(role: string, url = cerbos.url, audit = memoryAuditSink()) {
  const server = createNotesServer();
  const pdp = await pdpFromEnv(cerbosEnv(url));
  authorize(server, {
    pdp,
    identity: fixedIdentity(`${role}-caller`, { roles: [role] }),
    mapping: { serverName: "notes" },
    audit,
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "e2e-cerbos", version: "1.0.0" });
  await client.connect(clientSide);
  return {
    client,
    close: async () => {
      await client.close();
      await pdp.close?.();
    },
  };
}

describe("example notes server on Cerbos, in-memory transport", () => {
  for (const role of ROLES) {
    it(`gives role ${role} exactly what the example policy says`, async () => {
      const { client, close } = await memoryClient(role);
      expect(await viewOf(client)).toEqual(EXPECTED[role]);
      await close();
    });
  }

  it("gives a caller without roles nothing (the anonymous role has no rules)", async () => {
    const server = createNotesServer();
    const pdp = await pdpFromEnv(cerbosEnv(cerbos.url));
    authorize(server, {
      pdp,
      identity: fixedIdentity("nobody"),
      mapping: { serverName: "notes" },
      audit: false,
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: "e2e-cerbos", version: "1.0.0" });
    await client.connect(clientSide);
    expect(await viewOf(client)).toEqual(EXPECTED.guest);
    await client.close();
    await pdp.close?.();
  });

  it("fails closed when Cerbos cannot be reached, and audits the error", async () => {
    const audit = memoryAuditSink();
    const { client, close } = await memoryClient("admin", await closedPortUrl(), audit);
    expect(await viewOf(client)).toEqual(EXPECTED.guest);
    const errors = audit.events.filter((e) => e.source === "error");
    expect(errors.length).toBeGreaterThan(0);
    // The example wraps remote PDPs in withResilience: after repeated failures its circuit opens.
    expect(
      errors.every(
        (e) => !e.allow && ["PDP_UNAVAILABLE", "CIRCUIT_OPEN"].includes(e.errorCode ?? ""),
      ),
    ).toBe(true);
    expect(errors.some((e) => e.errorCode === "PDP_UNAVAILABLE")).toBe(true);
    await close();
  });

  it("audits Cerbos' call id and matched policy for each decision", async () => {
    const audit = memoryAuditSink();
    const { client, close } = await memoryClient("user", cerbos.url, audit);
    await client.callTool({ name: "delete_note", arguments: { id: "1" } }).catch(() => undefined);
    const denied = audit.events.find((e) => e.method === "tools/call" && !e.allow);
    expect(denied?.source).toBe("pdp");
    expect(denied?.reason).toBe("only admins may use delete_note");
    expect(denied?.decisionId).toMatch(/\S/);
    await close();
  });
});

describe("example notes server on Cerbos, Streamable HTTP with bearer JWTs", () => {
  let running: RunningHttpServer;
  let closePdp: () => Promise<void>;

  beforeAll(async () => {
    const pdp = await pdpFromEnv(cerbosEnv(cerbos.url));
    closePdp = () => pdp.close?.() ?? Promise.resolve();
    running = await serveHttp({
      createServer: createNotesServer,
      guard: {
        pdp,
        identity: jwtIdentity({ algorithms: ["HS256"], secret: SECRET }),
        mapping: { serverName: "notes" },
        audit: false,
      },
    });
  });

  afterAll(async () => {
    await running.close();
    await closePdp();
  });

  for (const role of ROLES) {
    it(`gives role ${role} exactly what the example policy says`, async () => {
      const bearer = await new SignJWT({ roles: [role] })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(`${role}-1`)
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(new TextEncoder().encode(SECRET));
      const transport = new StreamableHTTPClientTransport(running.url, {
        requestInit: { headers: { Authorization: `Bearer ${bearer}` } },
      });
      const client = new Client({ name: "e2e-cerbos-http", version: "1.0.0" });
      await client.connect(transport);
      expect(await viewOf(client)).toEqual(EXPECTED[role]);
      await client.close();
    });
  }
});

describe("example notes server on Cerbos over stdio", () => {
  const main = fileURLToPath(new URL("../../examples/local-server/src/main.ts", import.meta.url));

  it("is configured by MCP_PDP_ADAPTER=cerbos and CERBOS_URL alone", async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ["--conditions=@mcp-pdp/source", "--import", "tsx", main],
      env: {
        ...(process.env as Record<string, string>),
        ...cerbosEnv(cerbos.url),
        MCP_PDP_IDENTITY_FIXED_VALUE: "bob",
        MCP_PDP_IDENTITY_ROLES: "user",
        MCP_PDP_AUDIT: "off",
      },
      stderr: "pipe",
    });
    const client = new Client({ name: "e2e-cerbos-stdio", version: "1.0.0" });
    await client.connect(transport);
    expect(await viewOf(client)).toEqual(EXPECTED.user);
    await client.close();
  });

  it("fails at start-up naming CERBOS_URL when it is not a URL", async () => {
    const child = spawn(
      process.execPath,
      ["--conditions=@mcp-pdp/source", "--import", "tsx", main],
      {
        env: { ...process.env, MCP_PDP_ADAPTER: "cerbos", CERBOS_URL: "cerbos:3592" },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code).not.toBe(0);
    expect(stderr).toContain("CERBOS_URL");
  });
});
