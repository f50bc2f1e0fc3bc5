import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MEMORY_SERVER, connectThroughProxy, runMain, tempDir } from "./helpers.js";

const POLICY = fileURLToPath(new URL("../../../examples/proxy/policy.yaml", import.meta.url));

let dir: string;
let cleanup: () => void;
beforeAll(() => {
  ({ dir, cleanup } = tempDir());
});
afterAll(() => {
  cleanup();
});

function asRole(role: string) {
  return connectThroughProxy(
    [
      "--policy",
      POLICY,
      "--server-name",
      "memory",
      "--subject",
      "u",
      "--role",
      role,
      "--",
      process.execPath,
      MEMORY_SERVER,
    ],
    { MEMORY_FILE_PATH: join(dir, "memory.jsonl"), MCP_PDP_AUDIT: "off" },
  );
}

describe("examples/proxy: the memory server behind its policy", () => {
  it("is a valid policy", async () => {
    const run = await runMain(["validate", POLICY]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(": 5 rules");
  });

  it("lists to each role the tools the README says", async () => {
    const expected: Record<string, string[]> = {
      reader: ["open_nodes", "read_graph", "search_nodes"],
      writer: [
        "add_observations",
        "create_entities",
        "create_relations",
        "open_nodes",
        "read_graph",
        "search_nodes",
      ],
      guest: [],
    };
    for (const [role, tools] of Object.entries(expected)) {
      const { client } = await asRole(role);
      try {
        expect((await client.listTools()).tools.map((t) => t.name).sort(), role).toEqual(tools);
      } finally {
        await client.close();
      }
    }
    const { client } = await asRole("admin");
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toContain("delete_entities");
      expect(names.length).toBeGreaterThan(6);
    } finally {
      await client.close();
    }
  });

  it("denies a writer a batch of more than 20 entities and allows a small one", async () => {
    const { client } = await asRole("writer");
    try {
      const entities = (n: number) =>
        Array.from({ length: n }, (_, i) => ({
          name: `e${n}-${i}`,
          entityType: "item",
          observations: [],
        }));
      const error = await client
        .callTool({ name: "create_entities", arguments: { entities: entities(21) } })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(McpError);
      expect((error as McpError).code).toBe(-32010);
      const ok = await client.callTool({
        name: "create_entities",
        arguments: { entities: entities(2) },
      });
      expect(ok.isError).toBeFalsy();
      const graph = JSON.stringify(
        (await client.callTool({ name: "read_graph", arguments: {} })).content,
      );
      expect(graph).toContain("e2-1");
      expect(graph).not.toContain("e21-");
    } finally {
      await client.close();
    }
  });
});
