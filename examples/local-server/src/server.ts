/**
 * The example "notes" server: a few tools (three read-only, two not), a resource, a resource
 * template and a prompt. Nothing in it knows about authorization: `authorize()` adds it.
 */
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";

export const SERVER_NAME = "notes";

interface Note {
  id: string;
  title: string;
  body: string;
}

/** Builds a fresh notes server with its own in-memory notes. */
export function createNotesServer(): McpServer {
  const notes = new Map<string, Note>([
    ["1", { id: "1", title: "Welcome", body: "Notes are stored in memory." }],
    ["2", { id: "2", title: "Policies", body: "Who may do what lives in policy.yaml." }],
  ]);
  let nextId = 3;
  const server = new McpServer({ name: SERVER_NAME, version: "1.0.0" });
  const text = (t: string) => ({ content: [{ type: "text" as const, text: t }] });
  const readOnly = { readOnlyHint: true };

  server.registerTool(
    "list_notes",
    { description: "List the titles of all notes", annotations: readOnly },
    () => text([...notes.values()].map((n) => `${n.id}: ${n.title}`).join("\n")),
  );
  server.registerTool(
    "read_note",
    { description: "Read one note", inputSchema: { id: z.string() }, annotations: readOnly },
    ({ id }) => {
      const note = notes.get(id);
      return note ? text(note.body) : { ...text(`no note ${id}`), isError: true };
    },
  );
  server.registerTool(
    "search_notes",
    {
      description: "Find notes containing a word",
      inputSchema: { query: z.string() },
      annotations: readOnly,
    },
    ({ query }) =>
      text(
        [...notes.values()]
          .filter((n) => `${n.title} ${n.body}`.toLowerCase().includes(query.toLowerCase()))
          .map((n) => `${n.id}: ${n.title}`)
          .join("\n"),
      ),
  );
  server.registerTool(
    "create_note",
    { description: "Create a note", inputSchema: { title: z.string(), body: z.string() } },
    ({ title, body }) => {
      const id = String(nextId++);
      notes.set(id, { id, title, body });
      return text(`created note ${id}`);
    },
  );
  server.registerTool(
    "delete_note",
    {
      description: "Delete a note",
      inputSchema: { id: z.string() },
      annotations: { destructiveHint: true },
    },
    ({ id }) => text(notes.delete(id) ? `deleted note ${id}` : `no note ${id}`),
  );

  server.registerResource(
    "index",
    "notes://index",
    { description: "Index of all notes" },
    (uri) => ({
      contents: [
        { uri: uri.href, text: [...notes.values()].map((n) => `${n.id}: ${n.title}`).join("\n") },
      ],
    }),
  );
  server.registerResource(
    "note",
    new ResourceTemplate("notes://note/{id}", { list: undefined }),
    { description: "One note by id" },
    (uri, { id }) => ({
      contents: [{ uri: uri.href, text: notes.get(String(id))?.body ?? "" }],
    }),
  );

  server.registerPrompt(
    "summarize_note",
    { description: "Ask the model to summarize a note", argsSchema: { id: z.string() } },
    ({ id }) => ({
      messages: [
        {
          role: "user",
          content: { type: "text", text: `Summarize: ${notes.get(id)?.body ?? "(missing)"}` },
        },
      ],
    }),
  );
  return server;
}
