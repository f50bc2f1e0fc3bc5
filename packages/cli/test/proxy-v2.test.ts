import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ProtocolError,
  StreamableHTTPClientTransport as V2HttpClientTransport,
  Client as V2Client,
} from "@modelcontextprotocol/client";
import { StdioClientTransport as V2StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLI,
  NODE_FLAGS,
  RAW_INITIALIZE,
  connectThroughProxy,
  rawRequest,
  startHttpProxy,
  startRawProxy,
  tempDir,
} from "./helpers.js";

/** An SDK v2 server on stdio (`serveStdio`) with read_notes (read-only), add_note and wipe_notes. */
const V2_SERVER = fileURLToPath(new URL("./fixtures/v2-server.ts", import.meta.url));
const MODERN = "2026-07-28";

/** Tools may be listed; a tool may be called only when the server declares it read-only. */
const READER = `rules:
  - { name: lists, effect: allow, resources: { types: [notes_tools] }, actions: [list] }
  - name: read-only
    effect: allow
    resources: { types: [notes] }
    actions: ["*"]
    when:
      - { field: operation.metadata.annotations.readOnlyHint, op: equals, value: true }
`;

let dir: string;
let cleanup: () => void;
let policy: string;
let run = 0;

beforeAll(() => {
  ({ dir, cleanup } = tempDir());
  policy = join(dir, "reader.yaml");
  writeFileSync(policy, READER);
});
afterAll(() => {
  cleanup();
});

/** The proxy's arguments in front of the v2 fixture, and the file where the fixture records the calls it ran. */
function proxyArgs(): { args: string[]; env: Record<string, string>; ran: () => string[] } {
  const calls = join(dir, `calls-${String(++run)}.txt`);
  return {
    args: [
      "--policy",
      policy,
      "--server-name",
      "notes",
      "--",
      process.execPath,
      ...NODE_FLAGS,
      V2_SERVER,
    ],
    env: { MCP_PDP_AUDIT: "off", V2_CALLS_FILE: calls },
    ran: () => (existsSync(calls) ? readFileSync(calls, "utf8").split("\n").filter(Boolean) : []),
  };
}

/** A v2 client connected through the proxy, in the 2025 era or pinned to 2026-07-28. */
async function v2ThroughProxy(
  era: "legacy" | "modern",
  args: string[],
  env: Record<string, string>,
) {
  const transport = new V2StdioClientTransport({
    command: process.execPath,
    args: [...NODE_FLAGS, CLI, "proxy", ...args],
    env: { PATH: process.env.PATH ?? "", ...env },
    stderr: "pipe",
  });
  const client = new V2Client(
    { name: "v2-client", version: "1.0.0" },
    era === "modern" ? { versionNegotiation: { mode: { pin: MODERN } } } : {},
  );
  await client.connect(transport);
  return client;
}

async function codeOf(promise: Promise<unknown>): Promise<number> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error instanceof ProtocolError || error instanceof McpError) return error.code;
  throw new Error(`expected a JSON-RPC error, got ${String(error)}`);
}

function texts(result: unknown): string {
  return JSON.stringify((result as { content?: unknown }).content);
}

describe("mcp-pdp proxy in front of an SDK v2 stdio server", () => {
  it("serves a 1.x client: the list is filtered, a denied call is refused before the server, an allowed one runs", async () => {
    const server = proxyArgs();
    const { client } = await connectThroughProxy(server.args, server.env);
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["read_notes"]);
      expect(await codeOf(client.callTool({ name: "add_note", arguments: {} }))).toBe(-32010);
      expect(await codeOf(client.callTool({ name: "wipe_notes", arguments: {} }))).toBe(-32010);
      expect(texts(await client.callTool({ name: "read_notes", arguments: {} }))).toContain(
        "read_notes ran",
      );
    } finally {
      await client.close();
    }
    expect(server.ran()).toEqual(["read_notes"]);
  });

  for (const era of ["legacy", "modern"] as const) {
    it(`serves a v2 client in the ${era === "modern" ? "2026-07-28" : "2025"} era: a call before any list is decided on the server's annotations, the list is filtered, denied calls never reach the server`, async () => {
      const server = proxyArgs();
      const client = await v2ThroughProxy(era, server.args, server.env);
      try {
        // First request of the session: allowed only because the proxy read the annotations ahead.
        expect(texts(await client.callTool({ name: "read_notes", arguments: {} }))).toContain(
          "read_notes ran",
        );
        expect(await codeOf(client.callTool({ name: "wipe_notes", arguments: {} }))).toBe(-32010);
        expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["read_notes"]);
        expect(await codeOf(client.callTool({ name: "add_note", arguments: {} }))).toBe(-32010);
      } finally {
        await client.close();
      }
      expect(server.ran()).toEqual(["read_notes"]);
    });
  }
});

/** A 2026-07-28 request's `_meta` envelope. */
function envelope(version = MODERN) {
  return {
    _meta: {
      "io.modelcontextprotocol/protocolVersion": version,
      "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
      "io.modelcontextprotocol/clientCapabilities": {},
    },
  };
}

describe("mcp-pdp proxy: a 2026-07-28 session on the wire", () => {
  it("answers server/discover and holds a first call without any handshake until the server's annotations are read", async () => {
    const server = proxyArgs();
    const proxy = startRawProxy(server.args, server.env);
    try {
      // Both calls come before anything else: the destructive one must still be decided on its annotations.
      proxy.send(
        {
          id: 1,
          method: "tools/call",
          params: { name: "wipe_notes", arguments: {}, ...envelope() },
        },
        {
          id: 2,
          method: "tools/call",
          params: { name: "read_notes", arguments: {}, ...envelope() },
        },
        { id: 3, method: "server/discover", params: envelope() },
      );
      expect((await proxy.answerTo(1)).error).toMatchObject({ code: -32010 });
      expect(JSON.stringify((await proxy.answerTo(2)).result)).toContain("read_notes ran");
      expect((await proxy.answerTo(3)).result).toMatchObject({
        supportedVersions: expect.arrayContaining([MODERN]) as unknown,
        capabilities: { tools: {} },
      });
    } finally {
      await proxy.stop();
    }
    expect(server.ran()).toEqual(["read_notes"]);
  });

  it("refuses held calls when the server does not offer the revision the client claims, without deciding them", async () => {
    const server = proxyArgs();
    const proxy = startRawProxy(server.args, server.env);
    try {
      proxy.send({
        id: 1,
        method: "tools/call",
        params: { name: "read_notes", arguments: {}, ...envelope("2099-01-01") },
      });
      expect((await proxy.answerTo(1)).error).toMatchObject({ code: -32603 });
    } finally {
      await proxy.stop();
    }
    expect(proxy.stderr()).toContain("cannot read the server's registrations");
    expect(server.ran()).toEqual([]);
  });

  it("still refuses a request that neither initializes nor claims a revision", async () => {
    const server = proxyArgs();
    const proxy = startRawProxy(server.args, server.env);
    try {
      proxy.send({ id: 1, method: "tools/call", params: { name: "read_notes", arguments: {} } });
      expect((await proxy.answerTo(1)).error).toMatchObject({ code: -32600 });
      // The 2025 handshake still opens a session on the same proxy.
      proxy.send(RAW_INITIALIZE, {
        id: 2,
        method: "tools/call",
        params: { name: "read_notes", arguments: {} },
      });
      expect(JSON.stringify((await proxy.answerTo(2)).result)).toContain("read_notes ran");
    } finally {
      await proxy.stop();
    }
    expect(server.ran()).toEqual(["read_notes"]);
  });
  it("opens no 2026-07-28 session with a server/discover that names no revision: a later request naming none is still refused", async () => {
    const server = proxyArgs();
    const proxy = startRawProxy(server.args, server.env);
    try {
      proxy.send(
        { id: 1, method: "server/discover", params: {} },
        { id: 2, method: "tools/call", params: { name: "read_notes", arguments: {} } },
      );
      await proxy.answerTo(1);
      expect((await proxy.answerTo(2)).error).toMatchObject({ code: -32600 });
    } finally {
      await proxy.stop();
    }
    expect(server.ran()).toEqual([]);
  });
});

/**
 * `mcp-pdp proxy --http 0` with the same flags, server and environment; `policyFile` and `env`
 * replace the policy and add to the environment.
 */
function httpProxyFor(
  server: ReturnType<typeof proxyArgs>,
  policyFile?: string,
  env: Record<string, string> = {},
) {
  const separator = server.args.indexOf("--");
  const flags = server.args.slice(0, separator);
  if (policyFile !== undefined) flags[flags.indexOf("--policy") + 1] = policyFile;
  return startHttpProxy(flags, server.args.slice(separator + 1), { ...server.env, ...env });
}

/** A v2 client pinned to 2026-07-28. */
function pinnedClient(): V2Client {
  return new V2Client(
    { name: "v2-client", version: "1.0.0" },
    { versionNegotiation: { mode: { pin: MODERN } } },
  );
}

/** How many server processes the HTTP proxy reported starting. */
function starts(stderr: string): number {
  return [...stderr.matchAll(/server started \(pid \d+\)/g)].length;
}

/** Lists are open to everyone; read_notes only to readers. */
const BY_ROLE = `rules:
  - { name: lists, effect: allow, resources: { types: [notes_tools] }, actions: [list] }
  - { name: readers, effect: allow, subjects: { roles: [reader] }, resources: { types: [notes], tools: [read_notes] }, actions: ["*"] }
`;

/** The headers a 2026-07-28 client sends with a POST. */
const MODERN_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": MODERN,
};

function modernPost(url: URL, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: "POST",
    headers: { ...MODERN_HEADERS, ...headers },
    body: JSON.stringify(body),
  });
}

describe("mcp-pdp proxy --http in front of an SDK v2 stdio server", () => {
  it("serves a v2 client in the 2025 era: the list is filtered, a denied call never reaches the server, an allowed one runs", async () => {
    const server = proxyArgs();
    const proxy = await httpProxyFor(server);
    const client = new V2Client({ name: "v2-client", version: "1.0.0" });
    try {
      await client.connect(new V2HttpClientTransport(proxy.url));
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["read_notes"]);
      expect(await codeOf(client.callTool({ name: "wipe_notes", arguments: {} }))).toBe(-32010);
      expect(texts(await client.callTool({ name: "read_notes", arguments: {} }))).toContain(
        "read_notes ran",
      );
    } finally {
      await client.close();
      proxy.child.kill("SIGTERM");
      await proxy.exited;
    }
    expect(server.ran()).toEqual(["read_notes"]);
  });

  it("serves a v2 client pinned to 2026-07-28 without a session: a first call is decided on the server's annotations, the list is filtered, denied calls never reach the server", async () => {
    const server = proxyArgs();
    const proxy = await httpProxyFor(server);
    const client = pinnedClient();
    try {
      await client.connect(new V2HttpClientTransport(proxy.url));
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
      expect(texts(await client.callTool({ name: "read_notes", arguments: {} }))).toContain(
        "read_notes ran",
      );
      expect(await codeOf(client.callTool({ name: "wipe_notes", arguments: {} }))).toBe(-32010);
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["read_notes"]);
      expect(await codeOf(client.callTool({ name: "add_note", arguments: {} }))).toBe(-32010);
    } finally {
      await client.close();
      proxy.child.kill("SIGTERM");
      expect(await proxy.exited).toBe(0);
    }
    expect(server.ran()).toEqual(["read_notes"]);
  });

  it("serves every 2026-07-28 caller through one server process, each answer going to the caller that asked though all pick the same ids", async () => {
    const server = proxyArgs();
    const proxy = await httpProxyFor(server);
    const clients = [pinnedClient(), pinnedClient(), pinnedClient()];
    try {
      for (const client of clients) await client.connect(new V2HttpClientTransport(proxy.url));
      const answers = await Promise.all(
        clients.map(async (client, i) =>
          i === 1
            ? String(await codeOf(client.callTool({ name: "wipe_notes", arguments: {} })))
            : texts(await client.callTool({ name: "read_notes", arguments: {} })),
        ),
      );
      expect(answers[0]).toContain("read_notes ran");
      expect(answers[1]).toBe("-32010");
      expect(answers[2]).toContain("read_notes ran");
    } finally {
      for (const client of clients) await client.close();
      proxy.child.kill("SIGTERM");
      await proxy.exited;
    }
    expect(starts(proxy.stderr())).toBe(1);
    expect(server.ran()).toEqual(["read_notes", "read_notes"]);
  });

  it("decides each 2026-07-28 request for the caller named by that request's headers", async () => {
    const server = proxyArgs();
    const byRole = join(dir, "by-role.yaml");
    writeFileSync(byRole, BY_ROLE);
    const proxy = await httpProxyFor(server, byRole, {
      MCP_PDP_IDENTITY: "header",
      MCP_PDP_IDENTITY_HEADER: "x-user",
      MCP_PDP_IDENTITY_ROLES_HEADER: "x-roles",
    });
    const reader = pinnedClient();
    const stranger = pinnedClient();
    try {
      await reader.connect(
        new V2HttpClientTransport(proxy.url, {
          requestInit: { headers: { "x-user": "bob", "x-roles": "reader" } },
        }),
      );
      await stranger.connect(
        new V2HttpClientTransport(proxy.url, { requestInit: { headers: { "x-user": "eve" } } }),
      );
      expect(await codeOf(stranger.callTool({ name: "read_notes", arguments: {} }))).toBe(-32010);
      expect(texts(await reader.callTool({ name: "read_notes", arguments: {} }))).toContain(
        "read_notes ran",
      );
      expect((await stranger.listTools()).tools).toEqual([]);
      expect((await reader.listTools()).tools.map((t) => t.name)).toEqual(["read_notes"]);
    } finally {
      await reader.close();
      await stranger.close();
      proxy.child.kill("SIGTERM");
      await proxy.exited;
    }
    expect(server.ran()).toEqual(["read_notes"]);
  });

  it("answers 2026-07-28 requests it cannot serve with the era's HTTP errors, without starting the server: a bad Host, headers contradicting the body, an unknown revision (a listen's too)", async () => {
    const server = proxyArgs();
    const proxy = await httpProxyFor(server);
    const call = (version = MODERN) => ({
      jsonrpc: "2.0",
      id: 7,
      method: "tools/call",
      params: { name: "read_notes", arguments: {}, ...envelope(version) },
    });
    try {
      expect(
        await rawRequest(
          proxy.url,
          { ...MODERN_HEADERS, host: "evil.example" },
          JSON.stringify(call()),
        ),
      ).toBe(403);
      const mismatch = await modernPost(proxy.url, call(), {
        "mcp-protocol-version": "2026-08-01",
      });
      expect(mismatch.status).toBe(400);
      expect(await mismatch.json()).toMatchObject({ id: 7, error: { code: -32020 } });
      const unknown = await modernPost(proxy.url, call("2099-01-01"), {
        "mcp-protocol-version": "2099-01-01",
      });
      expect(unknown.status).toBe(400);
      expect(await unknown.json()).toMatchObject({
        id: 7,
        error: { code: -32022, data: { supported: [MODERN], requested: "2099-01-01" } },
      });
      // A listen is relayed (proxy-listen.test.ts), but in a revision the proxy serves.
      const listen = await modernPost(
        proxy.url,
        {
          jsonrpc: "2.0",
          id: 8,
          method: "subscriptions/listen",
          params: { notifications: { toolsListChanged: true }, ...envelope("2099-01-01") },
        },
        { "mcp-protocol-version": "2099-01-01" },
      );
      expect(listen.status).toBe(400);
      expect(await listen.json()).toMatchObject({ id: 8, error: { code: -32022 } });
      expect(starts(proxy.stderr())).toBe(0);
    } finally {
      proxy.child.kill("SIGTERM");
      await proxy.exited;
    }
    expect(server.ran()).toEqual([]);
  });
});

/** A 2026-07-28 `_meta` envelope whose protocol revision is not a string. */
function claiming(version: unknown) {
  return { _meta: { ...envelope()._meta, "io.modelcontextprotocol/protocolVersion": version } };
}

const NOT_A_STRING = {
  code: -32602,
  message: "Invalid params: _meta io.modelcontextprotocol/protocolVersion must be a string",
};

/** Everything is allowed: what is refused here is refused for its shape, not by the policy. */
const EVERYTHING = `rules:
  - { name: everything, effect: allow, resources: { types: ["*"] }, actions: ["*"] }
`;

describe("mcp-pdp proxy: a request whose _meta names its protocol revision with a non-string", () => {
  it("is refused -32602 on stdio before anything decides or runs it, in a 2025 session, a 2026-07-28 one and as a first request", async () => {
    const server = proxyArgs();
    const everything = join(dir, "everything.yaml");
    writeFileSync(everything, EVERYTHING);
    server.args[server.args.indexOf("--policy") + 1] = everything;
    const legacy = startRawProxy(server.args, server.env);
    try {
      legacy.send(RAW_INITIALIZE, { method: "notifications/initialized" });
      await legacy.answerTo(1);
      legacy.send(
        {
          id: 2,
          method: "tools/call",
          params: { name: "add_note", arguments: {}, ...claiming(5) },
        },
        // The guard would answer this one -32601 (removed in 2026-07-28), the session being 2025.
        { id: 3, method: "logging/setLevel", params: { level: "info", ...claiming(null) } },
        { id: 4, method: "tools/call", params: { name: "read_notes", arguments: {} } },
      );
      expect((await legacy.answerTo(2)).error).toEqual(NOT_A_STRING);
      expect((await legacy.answerTo(3)).error).toEqual(NOT_A_STRING);
      expect(JSON.stringify((await legacy.answerTo(4)).result)).toContain("read_notes ran");
    } finally {
      await legacy.stop();
    }
    const modern = startRawProxy(server.args, server.env);
    try {
      modern.send(
        { id: 1, method: "server/discover", params: claiming({ v: MODERN }) },
        {
          id: 2,
          method: "tools/call",
          params: { name: "add_note", arguments: {}, ...claiming(7) },
        },
        {
          id: 3,
          method: "tools/call",
          params: { name: "read_notes", arguments: {}, ...envelope() },
        },
        {
          id: 4,
          method: "tools/call",
          params: { name: "add_note", arguments: {}, ...claiming([]) },
        },
      );
      for (const id of [1, 2, 4]) expect((await modern.answerTo(id)).error).toEqual(NOT_A_STRING);
      expect(JSON.stringify((await modern.answerTo(3)).result)).toContain("read_notes ran");
    } finally {
      await modern.stop();
    }
    expect(server.ran()).toEqual(["read_notes", "read_notes"]);
  });

  it("is refused 400 -32602 over --http before a session or the shared process sees it", async () => {
    const server = proxyArgs();
    const everything = join(dir, "everything-http.yaml");
    writeFileSync(everything, EVERYTHING);
    const proxy = await httpProxyFor(server, everything);
    const call = (params: Record<string, unknown>) => ({
      jsonrpc: "2.0",
      id: 9,
      method: "tools/call",
      params: { name: "add_note", arguments: {}, ...params },
    });
    try {
      const sessionless = await modernPost(proxy.url, call(claiming(5)));
      expect(sessionless.status).toBe(400);
      expect(await sessionless.json()).toEqual({ jsonrpc: "2.0", id: 9, error: NOT_A_STRING });
      expect(starts(proxy.stderr())).toBe(0);
      const opened = await fetch(proxy.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({ jsonrpc: "2.0", ...RAW_INITIALIZE }),
      });
      const session = opened.headers.get("mcp-session-id") ?? "";
      await opened.text();
      const inSession = { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" };
      const refused = await modernPost(proxy.url, call(claiming(false)), inSession);
      expect(refused.status).toBe(400);
      expect(await refused.json()).toEqual({ jsonrpc: "2.0", id: 9, error: NOT_A_STRING });
      // The session is still served.
      const ok = await modernPost(proxy.url, call({}), inSession);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain("add_note ran");
    } finally {
      proxy.child.kill("SIGTERM");
      await proxy.exited;
    }
    expect(server.ran()).toEqual(["add_note"]);
  });
});
