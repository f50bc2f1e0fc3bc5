/**
 * Starts the notes server over stdio once per role, connects a real MCP client, and prints what
 * each caller sees and may call. Run: pnpm demo
 */
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const main = fileURLToPath(new URL("./main.ts", import.meta.url));
const callers = [
  { id: "alice", roles: "admin" },
  { id: "bob", roles: "user" },
  { id: "carol", roles: "guest" },
];
const attempts: { tool: string; arguments: Record<string, string> }[] = [
  { tool: "list_notes", arguments: {} },
  { tool: "read_note", arguments: { id: "1" } },
  { tool: "search_notes", arguments: { query: "policy" } },
  { tool: "create_note", arguments: { title: "demo", body: "written by the demo" } },
  { tool: "delete_note", arguments: { id: "2" } },
];

const green = (s: string) => (process.stdout.isTTY ? `\x1b[32m${s}\x1b[0m` : s);
const red = (s: string) => (process.stdout.isTTY ? `\x1b[31m${s}\x1b[0m` : s);
const names = (xs: string[]) => (xs.length ? xs.join(", ") : "(none)");

for (const caller of callers) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ["--conditions=@mcp-pdp/source", "--import", "tsx", main],
    env: {
      ...(process.env as Record<string, string>),
      MCP_PDP_IDENTITY: "fixed",
      MCP_PDP_IDENTITY_FIXED_VALUE: caller.id,
      MCP_PDP_IDENTITY_ROLES: caller.roles,
      MCP_PDP_AUDIT: "off",
    },
    stderr: "inherit",
  });
  const client = new Client({ name: "demo", version: "1.0.0" });
  await client.connect(transport);
  console.log(`\n${caller.id} (role ${caller.roles})`);
  console.log(`  tools:      ${names((await client.listTools()).tools.map((t) => t.name))}`);
  console.log(`  resources:  ${names((await client.listResources()).resources.map((r) => r.uri))}`);
  console.log(
    `  templates:  ${names((await client.listResourceTemplates()).resourceTemplates.map((r) => r.uriTemplate))}`,
  );
  console.log(`  prompts:    ${names((await client.listPrompts()).prompts.map((p) => p.name))}`);
  for (const attempt of attempts) {
    const outcome = await client
      .callTool({ name: attempt.tool, arguments: attempt.arguments })
      .then(
        () => green("allowed"),
        (error: unknown) =>
          red(`denied  (${error instanceof Error ? error.message : String(error)})`),
      );
    console.log(`  call ${attempt.tool.padEnd(13)} ${outcome}`);
  }
  const read = await client.readResource({ uri: "notes://note/1" }).then(
    () => green("allowed"),
    () => red("denied"),
  );
  console.log(`  read notes://note/1  ${read}`);
  await client.close();
}
