import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MEMORY_SERVER,
  auditEvents,
  connectThroughProxy,
  memoryEntities,
  tempDir,
} from "./helpers.js";

// The memory server keeps a knowledge graph in MEMORY_FILE_PATH (one JSON object per line).
const POLICY = `version: 1
rules:
  - name: everyone-lists-tools
    effect: allow
    subjects: { authenticated: true }
    resources: { types: [memory_tools] }
    actions: [list]
  - name: readers-read
    effect: allow
    subjects: { roles: [reader, writer] }
    resources: { types: [memory], tools: [read_graph, search_nodes, open_nodes] }
    actions: ["*"]
  - name: writers-create
    effect: allow
    subjects: { roles: [writer] }
    resources: { types: [memory], tools: [create_entities, add_observations] }
    actions: ["*"]
  - name: alice-deletes
    effect: allow
    subjects: { ids: [alice] }
    resources: { types: [memory], tools: ["delete_*"] }
    actions: ["*"]
`;

let dir: string;
let cleanup: () => void;
let policy: string;
let memoryFile: string;

beforeAll(() => {
  ({ dir, cleanup } = tempDir());
  policy = join(dir, "policy.yaml");
  memoryFile = join(dir, "memory.jsonl");
  writeFileSync(policy, POLICY);
});
afterAll(() => {
  cleanup();
});

function proxied(subject: string, roles: string[]) {
  return connectThroughProxy(
    [
      "--policy",
      policy,
      "--server-name",
      "memory",
      "--subject",
      subject,
      ...roles.flatMap((r) => ["--role", r]),
      "--",
      process.execPath,
      MEMORY_SERVER,
    ],
    { MEMORY_FILE_PATH: memoryFile },
  );
}

function entityNames(): string[] {
  return memoryEntities(memoryFile);
}

async function denial(promise: Promise<unknown>): Promise<McpError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(McpError);
  return error as McpError;
}

describe("mcp-pdp proxy in front of @modelcontextprotocol/server-memory", () => {
  it("shows a reader only the tools the policy allows, and runs an allowed call on the server", async () => {
    const { client } = await proxied("bob", ["reader"]);
    try {
      expect(client.getServerVersion()?.name).toBe("memory-server");
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(["open_nodes", "read_graph", "search_nodes"]);
      const result = await client.callTool({ name: "read_graph", arguments: {} });
      expect(result.isError).toBeFalsy();
      expect(JSON.stringify(result.structuredContent ?? result.content)).toContain("entities");
    } finally {
      await client.close();
    }
  });

  it("answers a denied call with -32010 and the server never runs it", async () => {
    const before = entityNames();
    const { client, stderr } = await proxied("bob", ["reader"]);
    try {
      const error = await denial(
        client.callTool({
          name: "create_entities",
          arguments: { entities: [{ name: "Mallory", entityType: "person", observations: ["x"] }] },
        }),
      );
      expect(error.code).toBe(-32010);
      expect(error.message).toContain("Unauthorized");
      // A reader may still read: the graph is unchanged.
      const graph = await client.callTool({ name: "read_graph", arguments: {} });
      expect(JSON.stringify(graph.structuredContent ?? graph.content)).not.toContain("Mallory");
    } finally {
      await client.close();
    }
    expect(entityNames()).toEqual(before);
    expect(entityNames()).not.toContain("Mallory");
    const denied = auditEvents(stderr()).find((e) => e.action === "create-entities");
    expect(denied).toMatchObject({ allow: false, subject: { id: "bob", roles: ["reader"] } });
  });

  it("lets a writer change the graph, but not delete from it", async () => {
    const { client } = await proxied("bob", ["writer"]);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual([
        "add_observations",
        "create_entities",
        "open_nodes",
        "read_graph",
        "search_nodes",
      ]);
      const created = await client.callTool({
        name: "create_entities",
        arguments: {
          entities: [{ name: "Ada", entityType: "person", observations: ["wrote notes"] }],
        },
      });
      expect(created.isError).toBeFalsy();
      expect(entityNames()).toContain("Ada");
      const error = await denial(
        client.callTool({ name: "delete_entities", arguments: { entityNames: ["Ada"] } }),
      );
      expect(error.code).toBe(-32010);
      const found = await client.callTool({ name: "search_nodes", arguments: { query: "Ada" } });
      expect(JSON.stringify(found.structuredContent ?? found.content)).toContain("wrote notes");
    } finally {
      await client.close();
    }
    expect(entityNames()).toContain("Ada");
  });

  it("applies the subject id given with --subject: alice may delete, and the audit names her", async () => {
    writeFileSync(
      memoryFile,
      JSON.stringify({ type: "entity", name: "Temp", entityType: "note", observations: [] }) + "\n",
    );
    const { client, stderr } = await proxied("alice", []);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual([
        "delete_entities",
        "delete_observations",
        "delete_relations",
      ]);
      const deleted = await client.callTool({
        name: "delete_entities",
        arguments: { entityNames: ["Temp"] },
      });
      expect(deleted.isError).toBeFalsy();
      const error = await denial(client.callTool({ name: "read_graph", arguments: {} }));
      expect(error.code).toBe(-32010);
    } finally {
      await client.close();
    }
    expect(entityNames()).not.toContain("Temp");
    const events = auditEvents(stderr()).filter((e) => e.type === "decision");
    expect(events.length).toBeGreaterThan(0);
    for (const event of events) expect(event.subject).toEqual({ id: "alice", authenticated: true });
    expect(stderr()).toContain("caller alice");
  });
});
