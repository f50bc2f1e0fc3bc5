/** What one caller of the example notes server sees and may do, read through a real MCP client. */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";

export interface NotesView {
  tools: string[];
  resources: string[];
  templates: string[];
  prompts: string[];
  /** Tools whose call succeeded. */
  callable: string[];
  readIndex: boolean;
  readNote: boolean;
  getPrompt: boolean;
}

const CALLS: Record<string, Record<string, string>> = {
  list_notes: {},
  read_note: { id: "1" },
  search_notes: { query: "notes" },
  create_note: { title: "t", body: "b" },
  delete_note: { id: "999" },
};

const succeeds = (p: Promise<unknown>) =>
  p.then(
    () => true,
    () => false,
  );

export async function viewOf(client: Client): Promise<NotesView> {
  const callable: string[] = [];
  for (const [name, args] of Object.entries(CALLS)) {
    if (await succeeds(client.callTool({ name, arguments: args }))) callable.push(name);
  }
  return {
    tools: (await client.listTools()).tools.map((t) => t.name).sort(),
    resources: (await client.listResources()).resources.map((r) => r.uri).sort(),
    templates: (await client.listResourceTemplates()).resourceTemplates
      .map((t) => t.uriTemplate)
      .sort(),
    prompts: (await client.listPrompts()).prompts.map((p) => p.name).sort(),
    callable: callable.sort(),
    readIndex: await succeeds(client.readResource({ uri: "notes://index" })),
    readNote: await succeeds(client.readResource({ uri: "notes://note/1" })),
    getPrompt: await succeeds(client.getPrompt({ name: "summarize_note", arguments: { id: "1" } })),
  };
}

const ALL_TOOLS = ["create_note", "delete_note", "list_notes", "read_note", "search_notes"];
const READ_TOOLS = ["list_notes", "read_note", "search_notes"];

/** What the example policy promises each role. */
export const EXPECTED: Record<"admin" | "user" | "guest", NotesView> = {
  admin: {
    tools: ALL_TOOLS,
    resources: ["notes://index"],
    templates: ["notes://note/{id}"],
    prompts: ["summarize_note"],
    callable: ALL_TOOLS,
    readIndex: true,
    readNote: true,
    getPrompt: true,
  },
  user: {
    tools: READ_TOOLS,
    resources: ["notes://index"],
    templates: ["notes://note/{id}"],
    prompts: [],
    callable: READ_TOOLS,
    readIndex: true,
    readNote: true,
    getPrompt: false,
  },
  guest: {
    tools: [],
    resources: [],
    templates: [],
    prompts: [],
    callable: [],
    readIndex: false,
    readNote: false,
    getPrompt: false,
  },
};
