import { rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MEMORY_SERVER,
  RAW_INITIALIZE,
  memoryEntities,
  startRawProxy,
  tempDir,
  NOTHING_DESTRUCTIVE,
} from "./helpers.js";

const require = createRequire(import.meta.url);

let dir: string;
let cleanup: () => void;

beforeAll(() => {
  ({ dir, cleanup } = tempDir());
});
afterAll(() => {
  cleanup();
});

/** Writes a policy file and returns its path. */
function policy(name: string, yaml: string): string {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

/** A guest may list tools and sees none of them. */
const GUEST = `rules:
  - { name: lists, effect: allow, resources: { types: [mcp_server_tools] }, actions: [list] }
`;

describe("mcp-pdp proxy: ids, held requests and limits", () => {
  it("answers each client request under its own id, never with the proxy's own reads, whatever ids the client picks", async () => {
    const proxy = startRawProxy(
      ["--policy", policy("guest.yaml", GUEST), "--", process.execPath, MEMORY_SERVER],
      { MEMORY_FILE_PATH: join(dir, "ids.jsonl") },
    );
    try {
      // Ids the proxy used, or might use, for its own reads of the server's lists.
      const ids = ["mcp-pdp-proxy-1", "mcp-pdp-proxy-2", "mcp-pdp-proxy-3", 2, 3, 4];
      proxy.send(
        RAW_INITIALIZE,
        ...ids.map((id) => ({ id, method: "ping" })),
        { method: "notifications/initialized" },
        { id: 5, method: "tools/list" },
      );
      for (const id of ids) expect((await proxy.answerTo(id)).result).toEqual({});
      expect((await proxy.answerTo(5)).result).toEqual({ tools: [] });
      // Cancelling an id the client never used reaches nothing: the proxy's own requests included.
      proxy.send(
        { method: "notifications/cancelled", params: { requestId: 1 } },
        { id: 6, method: "tools/list" },
      );
      expect((await proxy.answerTo(6)).result).toEqual({ tools: [] });
      expect(JSON.stringify(proxy.messages())).not.toContain("delete_entities");
    } finally {
      await proxy.stop();
    }
  });

  it("holds a call sent before initialization ends until the server's annotations are known, so a deny on destructiveHint holds", async () => {
    const memory = join(dir, "destructive.jsonl");
    writeFileSync(
      memory,
      JSON.stringify({ type: "entity", name: "Keep", entityType: "note", observations: [] }) + "\n",
    );
    const proxy = startRawProxy(
      [
        "--policy",
        policy("destructive.yaml", NOTHING_DESTRUCTIVE),
        "--",
        process.execPath,
        MEMORY_SERVER,
      ],
      { MEMORY_FILE_PATH: memory },
    );
    try {
      // No notifications/initialized at all: the call comes right after initialize.
      proxy.send(RAW_INITIALIZE, {
        id: 2,
        method: "tools/call",
        params: { name: "delete_entities", arguments: { entityNames: ["Keep"] } },
      });
      expect((await proxy.answerTo(2)).error).toMatchObject({ code: -32010 });
      proxy.send({ id: 3, method: "tools/call", params: { name: "read_graph", arguments: {} } });
      expect(JSON.stringify((await proxy.answerTo(3)).result)).toContain("Keep");
    } finally {
      await proxy.stop();
    }
    expect(memoryEntities(memory)).toEqual(["Keep"]);
  });

  it("answers with a generic error instead of deciding without the server's registrations (the server's error text only on stderr), and reads them again on a later request", async () => {
    // A server whose tools/list fails while a file exists.
    const blocked = join(dir, "blocked");
    writeFileSync(blocked, "");
    const sdk = (path: string) =>
      pathToFileURL(require.resolve(`@modelcontextprotocol/sdk/${path}`)).href;
    const script = join(dir, "flaky-server.mjs");
    writeFileSync(
      script,
      `import { existsSync } from "node:fs";
import { Server } from ${JSON.stringify(sdk("server/index.js"))};
import { StdioServerTransport } from ${JSON.stringify(sdk("server/stdio.js"))};
import { CallToolRequestSchema, ListToolsRequestSchema, McpError } from ${JSON.stringify(sdk("types.js"))};
const server = new Server({ name: "flaky", version: "1" }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, () => {
  if (existsSync(${JSON.stringify(blocked)})) throw new McpError(-32603, "backend down");
  return { tools: [
    { name: "wipe", inputSchema: { type: "object" }, annotations: { destructiveHint: true } },
    { name: "look", inputSchema: { type: "object" } },
  ] };
});
server.setRequestHandler(CallToolRequestSchema, (req) => ({ content: [{ type: "text", text: "ran " + req.params.name }] }));
await server.connect(new StdioServerTransport());
`,
    );
    const proxy = startRawProxy([
      "--policy",
      policy("flaky.yaml", NOTHING_DESTRUCTIVE),
      "--",
      process.execPath,
      script,
    ]);
    try {
      proxy.send(RAW_INITIALIZE, { method: "notifications/initialized" });
      await proxy.answerTo(1);
      proxy.send({ id: 2, method: "tools/call", params: { name: "wipe", arguments: {} } });
      const refused = (await proxy.answerTo(2)).error as { code: number; message: string };
      // The server's own error text is reported on the proxy's stderr, not sent to the client.
      expect(refused).toEqual({
        code: -32603,
        message:
          "mcp-pdp proxy: the request cannot be decided: the server's lists could not be read; the next request tries again",
      });
      expect(proxy.stderr()).toMatch(
        /cannot read the server's registrations: .*tools\/list: .*backend down/,
      );
      rmSync(blocked);
      proxy.send({ id: 3, method: "tools/call", params: { name: "wipe", arguments: {} } });
      expect((await proxy.answerTo(3)).error).toMatchObject({ code: -32010 });
      proxy.send({ id: 4, method: "tools/call", params: { name: "look", arguments: {} } });
      expect((await proxy.answerTo(4)).result).toEqual({
        content: [{ type: "text", text: "ran look" }],
      });
    } finally {
      await proxy.stop();
    }
  });

  it("answers params nested deeper than 64 levels with -32602 instead of dropping the request", async () => {
    const proxy = startRawProxy(
      ["--policy", policy("deep.yaml", GUEST), "--", process.execPath, MEMORY_SERVER],
      { MEMORY_FILE_PATH: join(dir, "deep.jsonl") },
    );
    try {
      proxy.send(RAW_INITIALIZE, { method: "notifications/initialized" });
      await proxy.answerTo(1);
      const deep = '{"a":'.repeat(20_000) + "{}" + "}".repeat(20_000);
      proxy.send(
        `{"jsonrpc":"2.0","id":2,"method":"ping","params":${deep}}`,
        `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_graph","arguments":${deep}}}`,
      );
      for (const id of [2, 3]) {
        expect((await proxy.answerTo(id)).error).toEqual({
          code: -32602,
          message: "Invalid params: nested deeper than 64 levels",
        });
      }
      expect(proxy.stderr()).not.toContain("RangeError");
    } finally {
      await proxy.stop();
    }
  });
});
