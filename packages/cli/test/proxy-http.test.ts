import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Authorizer } from "@mcp-pdp/core";
import { allowAll } from "@mcp-pdp/core/testing";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runHttpProxy } from "../src/index.js";
import {
  EVERYTHING_SERVER,
  MEMORY_SERVER,
  rawRequest,
  startHttpProxy,
  tempDir,
} from "./helpers.js";

const POLICY = `version: 1
rules:
  - name: lists
    effect: allow
    subjects: { authenticated: true }
    resources: { types: [mcp_server_tools] }
    actions: [list]
  - name: readers
    effect: allow
    subjects: { roles: [reader, writer] }
    resources: { types: [mcp_server], tools: [read_graph, search_nodes, open_nodes, trigger-long-running-operation] }
    actions: ["*"]
  - name: writers
    effect: allow
    subjects: { roles: [writer] }
    resources: { types: [mcp_server], tools: [create_entities] }
    actions: ["*"]
`;

let dir: string;
let cleanup: () => void;
let policy: string;

beforeAll(() => {
  ({ dir, cleanup } = tempDir());
  policy = join(dir, "policy.yaml");
  writeFileSync(policy, POLICY);
});
afterAll(() => {
  cleanup();
});

async function connect(url: URL, headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: "http-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  return client;
}

/** The headers a Streamable HTTP client sends with a POST. */
const POST_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
};

/** POSTs one JSON-RPC message to the proxy, in a session when given one. */
function rawPost(url: URL, message: Record<string, unknown>, session?: string) {
  return fetch(url, {
    method: "POST",
    headers: session ? { ...POST_HEADERS, "mcp-session-id": session } : POST_HEADERS,
    body: JSON.stringify({ jsonrpc: "2.0", ...message }),
  });
}

/** An initialize request from a client called `name`. */
function initializeRequest(name: string): Record<string, unknown> {
  return {
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name, version: "1" } },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("mcp-pdp proxy --http in front of a stdio server", () => {
  it("decides each session's requests for the caller named by its headers, one server per session", async () => {
    const proxy = await startHttpProxy(["--policy", policy], [process.execPath, MEMORY_SERVER], {
      MEMORY_FILE_PATH: join(dir, "memory.jsonl"),
      MCP_PDP_IDENTITY: "header",
      MCP_PDP_IDENTITY_HEADER: "x-user",
      MCP_PDP_IDENTITY_ROLES_HEADER: "x-roles",
    });
    try {
      const reader = await connect(proxy.url, { "x-user": "bob", "x-roles": "reader" });
      const writer = await connect(proxy.url, { "x-user": "ann", "x-roles": "writer" });
      const anonymous = await connect(proxy.url, {});
      expect((await reader.listTools()).tools.map((t) => t.name).sort()).toEqual([
        "open_nodes",
        "read_graph",
        "search_nodes",
      ]);
      expect((await writer.listTools()).tools.map((t) => t.name).sort()).toEqual([
        "create_entities",
        "open_nodes",
        "read_graph",
        "search_nodes",
      ]);
      expect((await anonymous.listTools()).tools).toEqual([]);
      const created = await writer.callTool({
        name: "create_entities",
        arguments: {
          entities: [{ name: "Grace", entityType: "person", observations: ["admiral"] }],
        },
      });
      expect(created.isError).toBeFalsy();
      const error = await reader
        .callTool({
          name: "create_entities",
          arguments: { entities: [{ name: "Eve", entityType: "person", observations: [] }] },
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(McpError);
      expect((error as McpError).code).toBe(-32010);
      const graph = JSON.stringify(
        (await reader.callTool({ name: "read_graph", arguments: {} })).content,
      );
      expect(graph).toContain("Grace");
      expect(graph).not.toContain("Eve");
      for (const client of [reader, writer, anonymous]) await client.close();
    } finally {
      proxy.child.kill("SIGTERM");
      expect(await proxy.exited).toBe(0);
    }
  });

  it("answers a bearer token that fails verification with 401 and a WWW-Authenticate challenge when the identity is jwt, and audits why", async () => {
    const secret = "proxy-http-test-secret-of-32-bytes!";
    const audit = join(dir, "jwt-audit.jsonl");
    const proxy = await startHttpProxy(["--policy", policy], [process.execPath, MEMORY_SERVER], {
      MEMORY_FILE_PATH: join(dir, "memory-jwt.jsonl"),
      MCP_PDP_IDENTITY: "jwt",
      MCP_PDP_JWT_ALGORITHMS: "HS256",
      MCP_PDP_JWT_SECRET: secret,
      MCP_PDP_AUDIT: audit,
    });
    const sign = (key: string) =>
      new SignJWT({ roles: ["reader"] })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject("bob")
        .setExpirationTime("5m")
        .sign(new TextEncoder().encode(key));
    try {
      const reader = await connect(proxy.url, { authorization: `Bearer ${await sign(secret)}` });
      expect((await reader.listTools()).tools.map((t) => t.name)).toContain("read_graph");
      await reader.close();
      const forged = await sign("another-secret-entirely-of-32-bytes");
      const response = await fetch(proxy.url, {
        method: "POST",
        headers: { ...POST_HEADERS, authorization: `Bearer ${forged}` },
        body: JSON.stringify({ jsonrpc: "2.0", ...initializeRequest("forger") }),
      });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(
        'Bearer realm="mcp", error="invalid_token", error_description="invalid token (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)"',
      );
      expect(await response.json()).toMatchObject({ jsonrpc: "2.0", error: { code: -32000 } });
      // Without a token the request goes on, unauthenticated, and the policy denies the list.
      const anonymous = await connect(proxy.url, {});
      expect((await anonymous.listTools()).tools).toEqual([]);
      await anonymous.close();
    } finally {
      proxy.child.kill("SIGTERM");
      expect(await proxy.exited).toBe(0);
    }
    const events = readFileSync(audit, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events).toContainEqual(
      expect.objectContaining({
        identity_error: "invalid token (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)",
        errorCode: "IDENTITY_INVALID",
        allow: false,
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ identity_error: "missing bearer token", allow: false }),
    );
    expect(JSON.stringify(events)).not.toContain(secret);
  });

  it("sends the server's progress notifications on the stream of the request they belong to", async () => {
    const proxy = await startHttpProxy(
      ["--policy", policy, "--subject", "bob", "--role", "reader"],
      [process.execPath, EVERYTHING_SERVER, "stdio"],
      {},
    );
    try {
      // Raw HTTP, without a standalone GET stream: a notification not tied to its request is lost.
      const headers: Record<string, string> = {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      };
      const post = (body: unknown) =>
        fetch(proxy.url, { method: "POST", headers, body: JSON.stringify(body) });
      const init = await rawPost(proxy.url, initializeRequest("raw"));
      expect(init.status).toBe(200);
      headers["mcp-session-id"] = init.headers.get("mcp-session-id")!;
      await init.text();
      expect((await post({ jsonrpc: "2.0", method: "notifications/initialized" })).status).toBe(
        202,
      );
      // Two requests at once under the same token (tokens are the client's to pick): each one's
      // progress comes on its own stream, under the token the client chose.
      const call = (id: number) =>
        post({
          jsonrpc: "2.0",
          id,
          method: "tools/call",
          params: {
            name: "trigger-long-running-operation",
            arguments: { duration: 0.3, steps: 3 },
            _meta: { progressToken: "op-1" },
          },
        }).then(async (response) =>
          (await response.text())
            .split("\n")
            .filter((line) => line.startsWith("data: "))
            .map(
              (line) =>
                JSON.parse(line.slice(6)) as {
                  method?: string;
                  id?: number;
                  params?: { progress?: number; progressToken?: unknown };
                },
            ),
        );
      const [first, second] = await Promise.all([call(2), call(3)]);
      for (const [id, messages] of [
        [2, first],
        [3, second],
      ] as const) {
        const progress = messages.filter((m) => m.method === "notifications/progress");
        expect(progress.map((m) => m.params?.progress)).toEqual([1, 2, 3]);
        expect(progress.map((m) => m.params?.progressToken)).toEqual(["op-1", "op-1", "op-1"]);
        expect(messages.at(-1)).toMatchObject({ id, result: { content: expect.any(Array) } });
      }
    } finally {
      proxy.child.kill("SIGTERM");
      await proxy.exited;
    }
  });

  it("ends a session's server when the client ends the session, and every server when stopped", async () => {
    const proxy = await startHttpProxy(
      ["--policy", policy, "--role", "reader"],
      [process.execPath, MEMORY_SERVER],
      {
        MEMORY_FILE_PATH: join(dir, "memory2.jsonl"),
      },
    );
    const pids = () =>
      [...proxy.stderr().matchAll(/server started \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    try {
      const first = await connect(proxy.url, {});
      const second = await connect(proxy.url, {});
      await first.listTools();
      await second.listTools();
      expect(pids()).toHaveLength(2);
      const [one, two] = pids() as [number, number];
      await (first.transport as StreamableHTTPClientTransport).terminateSession();
      await first.close();
      // A process's exit takes its time on a loaded machine: a generous bound, not a guess.
      await expect.poll(() => alive(one), { timeout: 30_000 }).toBe(false);
      expect(alive(two)).toBe(true);
      proxy.child.kill("SIGTERM");
      expect(await proxy.exited).toBe(0);
      await expect.poll(() => alive(two), { timeout: 30_000 }).toBe(false);
      await second.close().catch(() => undefined);
    } finally {
      proxy.child.kill("SIGKILL");
    }
  });

  it("refuses requests without a session, and requests for an unknown session", async () => {
    const proxy = await startHttpProxy(["--policy", policy], [process.execPath, MEMORY_SERVER], {
      MEMORY_FILE_PATH: join(dir, "memory3.jsonl"),
    });
    try {
      const headers = {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      };
      const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });
      const none = await fetch(proxy.url, { method: "POST", headers, body });
      expect(none.status).toBe(400);
      const unknown = await fetch(proxy.url, {
        method: "POST",
        headers: { ...headers, "mcp-session-id": "nope" },
        body,
      });
      expect(unknown.status).toBe(404);
      const garbage = await fetch(proxy.url, { method: "POST", headers, body: "{" });
      expect(garbage.status).toBe(400);
      const elsewhere = await fetch(new URL("/other", proxy.url), {
        method: "POST",
        headers,
        body,
      });
      expect(elsewhere.status).toBe(404);
    } finally {
      proxy.child.kill("SIGTERM");
      await proxy.exited;
    }
  });

  it("refuses a bad Host, Origin, Accept or Content-Type before starting a server process", async () => {
    // The server notes each start of its process in a file, then runs server-memory.
    const starts = join(dir, "starts.txt");
    const counted = join(dir, "counted-server.mjs");
    writeFileSync(
      counted,
      `import { appendFileSync } from "node:fs";\nappendFileSync(${JSON.stringify(starts)}, "started\\n");\nawait import(${JSON.stringify(pathToFileURL(MEMORY_SERVER).href)});\n`,
    );
    const proxy = await startHttpProxy(["--policy", policy], [process.execPath, counted], {
      MEMORY_FILE_PATH: join(dir, "memory7.jsonl"),
    });
    const started = () =>
      existsSync(starts) ? readFileSync(starts, "utf8").split("\n").length - 1 : 0;
    const reported = () => [...proxy.stderr().matchAll(/server started \(pid \d+\)/g)].length;
    try {
      const body = JSON.stringify({ jsonrpc: "2.0", ...initializeRequest("refused") });
      const port = proxy.url.port;
      const refusals: [Record<string, string>, number][] = [
        [{ ...POST_HEADERS, host: "evil.example" }, 403],
        [{ ...POST_HEADERS, host: `evil.example:${port}` }, 403],
        [{ ...POST_HEADERS, origin: "http://evil.example" }, 403],
        [{ ...POST_HEADERS, accept: "application/json" }, 406],
        [{ ...POST_HEADERS, "content-type": "text/plain" }, 415],
      ];
      for (const [headers, status] of refusals) {
        expect(await rawRequest(proxy.url, headers, body)).toBe(status);
      }
      expect(reported()).toBe(0);
      expect(started()).toBe(0);
      // A valid client, with a loopback Origin, gets its server.
      const client = await connect(proxy.url, { origin: `http://localhost:${port}` });
      expect((await client.listTools()).tools).toEqual([]);
      await client.close();
      expect(reported()).toBe(1);
      expect(started()).toBe(1);
    } finally {
      proxy.child.kill("SIGTERM");
      await proxy.exited;
    }
  });

  it("refuses a session beyond --max-sessions", async () => {
    const proxy = await startHttpProxy(
      ["--policy", policy, "--max-sessions", "1"],
      [process.execPath, MEMORY_SERVER],
      {
        MEMORY_FILE_PATH: join(dir, "memory4.jsonl"),
      },
    );
    try {
      const first = await connect(proxy.url, {});
      const refused = await connect(proxy.url, {}).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(String(refused)).toContain("too many sessions (at most 1)");
      await first.close();
    } finally {
      proxy.child.kill("SIGTERM");
      await proxy.exited;
    }
  });

  it("stops a session's server after --session-idle without requests, freeing its slot", async () => {
    const proxy = await startHttpProxy(
      ["--policy", policy, "--role", "reader", "--max-sessions", "1", "--session-idle", "1"],
      [process.execPath, MEMORY_SERVER],
      { MEMORY_FILE_PATH: join(dir, "memory5.jsonl") },
    );
    const post = (message: Record<string, unknown>, session?: string) =>
      rawPost(proxy.url, message, session);
    const initialize = initializeRequest("gone");
    try {
      // A client that starts a session, uses it, then vanishes without a DELETE.
      const opened = await post(initialize);
      const session = opened.headers.get("mcp-session-id") ?? "";
      await opened.text();
      expect(session).not.toBe("");
      await (await post({ method: "notifications/initialized" }, session)).text();
      const listed = await post({ id: 2, method: "tools/list" }, session);
      expect(listed.status).toBe(200);
      await listed.text();
      // While it is in use, the one slot is taken.
      expect((await post(initialize)).status).toBe(503);
      await expect
        .poll(() => proxy.stderr(), { timeout: 5000 })
        .toContain(`session ${session} idle for 1 s, its server stopped`);
      expect((await post({ id: 3, method: "tools/list" }, session)).status).toBe(404);
      // The slot is free again.
      const next = await connect(proxy.url, {});
      expect((await next.listTools()).tools.length).toBeGreaterThan(0);
      await next.close();
    } finally {
      proxy.child.kill("SIGTERM");
      await proxy.exited;
    }
  });

  it("does not count a session idle while its initialize request is still being answered", async () => {
    // A server slower to start than the idle limit.
    const slow = join(dir, "slow-server.mjs");
    writeFileSync(
      slow,
      `await new Promise((r) => setTimeout(r, 1500));\nawait import(${JSON.stringify(pathToFileURL(MEMORY_SERVER).href)});\n`,
    );
    const proxy = await startHttpProxy(
      ["--policy", policy, "--role", "reader", "--session-idle", "1", "--no-prefetch"],
      [process.execPath, slow],
      { MEMORY_FILE_PATH: join(dir, "memory6.jsonl") },
    );
    try {
      const opened = await rawPost(proxy.url, initializeRequest("patient"));
      expect(opened.status).toBe(200);
      expect(await opened.text()).toContain('"protocolVersion"');
      expect(proxy.stderr()).not.toContain("idle for");
      // Once answered, the idle countdown runs.
      await expect.poll(() => proxy.stderr(), { timeout: 5000 }).toContain("idle for 1 s");
    } finally {
      proxy.child.kill("SIGTERM");
      await proxy.exited;
    }
  });

  it("refuses a sessionIdleMs that is negative, fractional or beyond what a timer holds", async () => {
    for (const sessionIdleMs of [-1, 1.5, 2 ** 31]) {
      await expect(
        runHttpProxy({
          server: { command: process.execPath, args: [MEMORY_SERVER], env: {} },
          authorizer: new Authorizer({ pdp: allowAll(), audit: false }),
          port: 0,
          stderr: process.stderr,
          sessionIdleMs,
        }),
      ).rejects.toThrow(`sessionIdleMs must be an integer from 0 to ${String(2 ** 31 - 1)}`);
    }
  });
});
