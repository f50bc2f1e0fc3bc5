/**
 * Real SDK servers and clients over the SDK's in-memory transport: the same server built twice,
 * once bare and once secured, so the only difference between the two sides is the guard.
 */
import { authorize, type GuardOptions } from "@mcp-pdp/mcp";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";

/** A connected client and how to close both ends. */
export interface Connection {
  readonly client: Client;
  close(): Promise<void>;
}

/**
 * A server with the given tools (by default only `read_note`, the tool the call figures call),
 * each with a one-field input schema and a description, like a typical tool.
 */
export function notesServer(tools: readonly string[] = ["read_note"]): McpServer {
  const server = new McpServer({ name: "notes", version: "1.0.0" });
  for (const name of tools) {
    server.registerTool(
      name,
      {
        description: `The ${name} tool.`,
        inputSchema: { id: z.string() },
        annotations: { readOnlyHint: true },
      },
      ({ id }) => ({ content: [{ type: "text", text: `${name} ${id}` }] }),
    );
  }
  return server;
}

/**
 * Connects a client to `server` over an in-memory pair, after securing the server with `guard`
 * when given.
 */
export async function connect(server: McpServer, guard?: GuardOptions): Promise<Connection> {
  const authorizer = guard ? authorize(server, guard) : undefined;
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: "bench", version: "1.0.0" });
  await server.connect(serverSide);
  await client.connect(clientSide);
  return {
    client,
    async close() {
      await client.close();
      await server.close();
      await authorizer?.close();
    },
  };
}

/** Calls `read_note` and checks the answer, so a denied or broken call cannot pass for a fast one. */
export async function callReadNote(client: Client): Promise<void> {
  const result = await client.callTool({ name: "read_note", arguments: { id: "n1" } });
  const content = result.content as { text?: string }[] | undefined;
  if (result.isError === true || content?.[0]?.text !== "read_note n1") {
    throw new Error(`read_note answered ${JSON.stringify(result)}`);
  }
}

/** Lists the tools and checks how many are visible. */
export async function listTools(client: Client, expected: number): Promise<void> {
  const { tools } = await client.listTools();
  if (tools.length !== expected) {
    throw new Error(`tools/list answered ${tools.length} tools, expected ${expected}`);
  }
}
