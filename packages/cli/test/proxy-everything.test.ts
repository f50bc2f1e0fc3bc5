import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EVERYTHING_SERVER,
  auditEvents,
  connectThroughProxy,
  runMain,
  tempDir,
} from "./helpers.js";

let dir: string;
let cleanup: () => void;
let starter: string;
let scoped: string;

const SCOPED = `version: 1
rules:
  - name: lists
    effect: allow
    subjects: { roles: [user] }
    resources: { types: [everything_tools, everything_resources, everything_resource_templates, everything_prompts] }
    actions: [list]
  - name: architecture-doc
    effect: allow
    subjects: { roles: [user] }
    resources: { types: [everything_resources], keys: ["demo://resource/static/document/architecture.md", "demo://resource/dynamic/text/*"] }
    actions: [read]
  - name: simple-prompt
    effect: allow
    subjects: { roles: [user] }
    resources: { types: [everything_prompts], keys: [simple-prompt] }
    actions: [get]
`;

beforeAll(async () => {
  ({ dir, cleanup } = tempDir());
  starter = join(dir, "policy.yaml");
  expect((await runMain(["init", starter])).code).toBe(0);
  scoped = join(dir, "scoped.yaml");
  writeFileSync(scoped, SCOPED);
});
afterAll(() => {
  cleanup();
});

function proxied(policy: string, flags: string[], env: Record<string, string> = {}) {
  return connectThroughProxy(
    ["--policy", policy, ...flags, "--", process.execPath, EVERYTHING_SERVER, "stdio"],
    {
      MCP_PDP_AUDIT: "off",
      ...env,
    },
  );
}

async function rejection(promise: Promise<unknown>): Promise<McpError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(McpError);
  return error as McpError;
}

describe("mcp-pdp proxy with the starter policy of mcp-pdp init, in front of server-everything", () => {
  it("shows a user exactly the tools the server declares read-only, and an admin all of them", async () => {
    const admin = await proxied(starter, ["--subject", "root", "--role", "admin"]);
    const all = (await admin.client.listTools()).tools;
    await admin.client.close();
    const user = await proxied(starter, ["--subject", "alice", "--role", "user"]);
    try {
      const visible = (await user.client.listTools()).tools.map((t) => t.name).sort();
      const readOnly = all
        .filter((t) => t.annotations?.readOnlyHint === true)
        .map((t) => t.name)
        .sort();
      expect(readOnly.length).toBeGreaterThan(3);
      expect(readOnly.length).toBeLessThan(all.length);
      expect(visible).toEqual(readOnly);
      const echo = await user.client.callTool({ name: "echo", arguments: { message: "hi there" } });
      expect(JSON.stringify(echo.content)).toContain("hi there");
      const error = await rejection(
        user.client.callTool({ name: "toggle-simulated-logging", arguments: {} }),
      );
      expect(error.code).toBe(-32010);
    } finally {
      await user.client.close();
    }
  });

  it("gives a caller without a role empty lists and denies every call", async () => {
    const { client } = await proxied(starter, ["--subject", "visitor"]);
    try {
      expect((await client.listTools()).tools).toEqual([]);
      expect((await client.listPrompts()).prompts).toEqual([]);
      expect(
        (await rejection(client.callTool({ name: "echo", arguments: { message: "x" } }))).code,
      ).toBe(-32010);
    } finally {
      await client.close();
    }
  });

  it("decides a call made before any list on the server's annotations, read ahead by the proxy", async () => {
    const ahead = await proxied(starter, ["--role", "user"]);
    try {
      const echo = await ahead.client.callTool({ name: "echo", arguments: { message: "first" } });
      expect(JSON.stringify(echo.content)).toContain("first");
    } finally {
      await ahead.client.close();
    }
    // Without the read-ahead the annotations are unknown until the client lists: denied, fail closed.
    const lazy = await proxied(starter, ["--role", "user", "--no-prefetch"]);
    try {
      const error = await rejection(
        lazy.client.callTool({ name: "echo", arguments: { message: "first" } }),
      );
      expect(error.code).toBe(-32010);
      await lazy.client.listTools();
      const echo = await lazy.client.callTool({
        name: "echo",
        arguments: { message: "after the list" },
      });
      expect(JSON.stringify(echo.content)).toContain("after the list");
    } finally {
      await lazy.client.close();
    }
  });

  it("passes the environment to the server without the PDP credentials", async () => {
    const { client } = await proxied(starter, ["--role", "user"], {
      SERVER_SETTING: "kept-for-the-server",
      PERMIT_API_KEY: "permit_key_secret_123",
      OPA_TOKEN: "opa-token-secret-456",
    });
    try {
      const result = await client.callTool({ name: "get-env", arguments: {} });
      const text = JSON.stringify(result.content);
      expect(text).toContain("kept-for-the-server");
      expect(text).not.toContain("permit_key_secret_123");
      expect(text).not.toContain("opa-token-secret-456");
    } finally {
      await client.close();
    }
  });
});

describe("mcp-pdp proxy filtering resources and prompts of server-everything", () => {
  it("filters resources, templates and prompts, and denies reading what is hidden", async () => {
    const { client } = await proxied(scoped, ["--server-name", "everything", "--role", "user"]);
    try {
      const { resources } = await client.listResources();
      expect(resources.map((r) => r.uri)).toEqual([
        "demo://resource/static/document/architecture.md",
      ]);
      const { resourceTemplates } = await client.listResourceTemplates();
      expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual([
        "demo://resource/dynamic/text/{resourceId}",
      ]);
      const { prompts } = await client.listPrompts();
      expect(prompts.map((p) => p.name)).toEqual(["simple-prompt"]);
      const doc = await client.readResource({
        uri: "demo://resource/static/document/architecture.md",
      });
      expect(doc.contents.length).toBeGreaterThan(0);
      const dynamic = await client.readResource({ uri: "demo://resource/dynamic/text/1" });
      expect(dynamic.contents.length).toBeGreaterThan(0);
      expect(
        (
          await rejection(
            client.readResource({ uri: "demo://resource/static/document/features.md" }),
          )
        ).code,
      ).toBe(-32010);
      expect(
        (await rejection(client.readResource({ uri: "demo://resource/dynamic/blob/1" }))).code,
      ).toBe(-32010);
      const prompt = await client.getPrompt({ name: "simple-prompt" });
      expect(JSON.stringify(prompt.messages)).toContain("simple prompt");
      expect(
        (await rejection(client.getPrompt({ name: "args-prompt", arguments: { city: "x" } }))).code,
      ).toBe(-32010);
      expect((await client.listTools()).tools).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it("answers as if a denied component did not exist with --deny-mode not-found", async () => {
    const { client } = await proxied(scoped, [
      "--server-name",
      "everything",
      "--role",
      "user",
      "--deny-mode",
      "not-found",
    ]);
    try {
      const prompt = await rejection(
        client.getPrompt({ name: "args-prompt", arguments: { city: "x" } }),
      );
      expect(prompt.code).toBe(-32602);
      expect(prompt.message).toContain("Prompt args-prompt not found");
      const resource = await rejection(
        client.readResource({ uri: "demo://resource/static/document/features.md" }),
      );
      expect(resource.code).toBe(-32002);
    } finally {
      await client.close();
    }
  });

  it("sends the policy's reason only with --expose-reasons", async () => {
    const hidden = await proxied(scoped, ["--server-name", "everything", "--role", "user"]);
    const quiet = await rejection(
      hidden.client.getPrompt({ name: "args-prompt", arguments: { city: "x" } }),
    );
    await hidden.client.close();
    expect(JSON.stringify(quiet.data)).not.toContain("no rule matched");
    const open = await proxied(scoped, [
      "--server-name",
      "everything",
      "--role",
      "user",
      "--expose-reasons",
    ]);
    const told = await rejection(
      open.client.getPrompt({ name: "args-prompt", arguments: { city: "x" } }),
    );
    await open.client.close();
    expect(JSON.stringify(told.data)).toContain("no rule matched");
  });

  it("writes audit events to the file given with --audit, not to stderr", async () => {
    const file = join(dir, "audit.jsonl");
    const { client, stderr } = await proxied(scoped, [
      "--server-name",
      "everything",
      "--role",
      "user",
      "--audit",
      file,
      "-q",
    ]);
    try {
      await client.listPrompts();
      await rejection(client.getPrompt({ name: "args-prompt", arguments: { city: "x" } }));
    } finally {
      await client.close();
    }
    const events = auditEvents(readFileSync(file, "utf8"));
    expect(events.find((e) => e.type === "list" && e.method === "prompts/list")).toMatchObject({
      items: 4,
      visible: 1,
    });
    expect(events.find((e) => e.action === "get" && e.allow === false)).toMatchObject({
      resource: { type: "everything_prompts", key: "args-prompt" },
    });
    expect(auditEvents(stderr())).toEqual([]);
    expect(stderr()).not.toContain("mcp-pdp proxy:");
  });
});
