/**
 * The example notes server ships one policy three times: policy.yaml (local engine), cerbos/ (the
 * real Cerbos server) and policy.rego (OPA). This grid asks all three the same questions — every
 * subject of the example times every request the server supports, built by core's Authorizer as
 * the guard builds them — and requires the same allow/deny in every cell.
 *
 * OPA: no OPA binary can be installed here (not on npm, not in Debian; opa-wasm needs a bundle
 * compiled by that binary), so the OPA fake answers with `regoNotesPolicy`, a line-by-line
 * translation of policy.rego over the input document the adapter really sends.
 */
import { Authorizer, type ListMethod, type Subject } from "@mcp-pdp/core";
import { pdpFromEnv } from "@mcp-pdp/example-local-server/pdp";
import { createNotesServer } from "@mcp-pdp/example-local-server/server";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CerbosServer, EXAMPLE_POLICIES, startCerbos } from "../cerbos/server.js";
import { type OpaFake, startOpaFake } from "../fakes/opa.js";

/** The input fields policy.rego reads. */
interface RegoInput {
  readonly subject: { readonly roles?: readonly string[]; readonly authenticated?: unknown };
  readonly action: string;
  readonly resource: { readonly type: string; readonly key?: string };
  readonly operation: { readonly name?: string };
}

const READ_ONLY_TOOLS = new Set(["list_notes", "read_note", "search_notes"]);
const USER_LISTABLE = new Set(["notes_tools", "notes_resources", "notes_resource_templates"]);

/** `data.mcp.authz.allow` of examples/local-server/policy.rego, rule for rule. */
function regoNotesPolicy(raw: unknown, path: string): unknown {
  if (path !== "mcp/authz/allow") return undefined;
  const input = raw as RegoInput;
  const roles = input.subject.roles ?? [];
  const authenticated = input.subject.authenticated === true;
  const isAdmin = authenticated && roles.includes("admin");
  const isUser = authenticated && roles.includes("user");
  const key = input.resource.key;
  const readableNote =
    key !== undefined && (key === "notes://index" || key.startsWith("notes://note/"));
  return (
    isAdmin ||
    (isUser && input.action === "list" && USER_LISTABLE.has(input.resource.type)) ||
    (isUser &&
      input.resource.type === "notes" &&
      input.operation.name !== undefined &&
      READ_ONLY_TOOLS.has(input.operation.name)) ||
    (isUser && input.resource.type === "notes_resources" && input.action === "read" && readableNote)
  );
}

/** Every kind of subject the example distinguishes. */
const SUBJECTS: Record<string, Subject> = {
  admin: { id: "ada", authenticated: true, roles: ["admin"] },
  user: { id: "uma", authenticated: true, roles: ["user"] },
  guest: { id: "gus", authenticated: true, roles: ["guest"] },
  "unauthenticated admin": { id: "mallory", authenticated: false, roles: ["admin"] },
  "unauthenticated user": { id: "trudy", authenticated: false, roles: ["user"] },
  "no role": { id: "nora", authenticated: true },
  "unauthenticated, no role": { id: "anonymous", authenticated: false },
};

/** One question of the grid: a request decided up front, or one item's visibility in a list. */
type Question =
  | {
      readonly label: string;
      readonly kind: "call";
      readonly method: string;
      readonly params: unknown;
    }
  | {
      readonly label: string;
      readonly kind: "item";
      readonly method: ListMethod;
      readonly field: string;
      readonly item: Record<string, unknown>;
    };

/** A plausible value for every declared argument, so argument-aware mappings see arguments. */
function argumentsFor(schema: { properties?: Record<string, unknown> | undefined } | undefined) {
  return Object.fromEntries(Object.keys(schema?.properties ?? {}).map((k) => [k, "1"]));
}

/** Asks the example server itself what it offers, and turns that into the grid's questions. */
async function questionsOfExampleServer(): Promise<Question[]> {
  const server = createNotesServer();
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "policy-grid", version: "1.0.0" });
  await client.connect(clientSide);
  const { tools } = await client.listTools();
  const { resources } = await client.listResources();
  const { resourceTemplates } = await client.listResourceTemplates();
  const { prompts } = await client.listPrompts();
  await client.close();

  const questions: Question[] = [];
  const call = (label: string, method: string, params: unknown) =>
    questions.push({ label, kind: "call", method, params });
  const item = (method: ListMethod, field: string, listed: Record<string, unknown>, name: string) =>
    questions.push({ label: `${method} shows ${name}`, kind: "item", method, field, item: listed });

  for (const method of [
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "prompts/list",
  ] as const) {
    call(method, method, {});
  }
  for (const tool of tools) {
    call(`tools/call ${tool.name}`, "tools/call", {
      name: tool.name,
      arguments: argumentsFor(tool.inputSchema),
    });
    item("tools/list", "tools", tool, tool.name);
  }
  call("tools/call of a tool the server lacks", "tools/call", { name: "drop_all", arguments: {} });
  for (const resource of resources) {
    call(`resources/read ${resource.uri}`, "resources/read", { uri: resource.uri });
    item("resources/list", "resources", resource, resource.uri);
  }
  for (const template of resourceTemplates) {
    item("resources/templates/list", "resourceTemplates", template, template.uriTemplate);
    for (const id of ["1", "2", "999"]) {
      const uri = template.uriTemplate.replace("{id}", id);
      call(`resources/read ${uri}`, "resources/read", { uri });
    }
    call(`completion/complete on ${template.uriTemplate}`, "completion/complete", {
      ref: { type: "ref/resource", uri: template.uriTemplate },
      argument: { name: "id", value: "1" },
    });
  }
  // URIs outside the ones the example allows, some close to them.
  for (const uri of [
    "notes://secret",
    "notes://notes/1",
    "notes://index/../secret",
    "notes://indexes",
    "file:///etc/passwd",
  ]) {
    call(`resources/read ${uri}`, "resources/read", { uri });
  }
  for (const prompt of prompts) {
    const args = Object.fromEntries((prompt.arguments ?? []).map((a) => [a.name, "1"]));
    call(`prompts/get ${prompt.name}`, "prompts/get", { name: prompt.name, arguments: args });
    item("prompts/list", "prompts", prompt, prompt.name);
    call(`completion/complete on prompt ${prompt.name}`, "completion/complete", {
      ref: { type: "ref/prompt", name: prompt.name },
      argument: { name: prompt.arguments?.[0]?.name ?? "id", value: "1" },
    });
  }
  call("logging/setLevel", "logging/setLevel", { level: "info" });
  return questions;
}

/** Each PDP's answer to one question for one subject, or a reason why it could not answer. */
async function answer(
  authorizer: Authorizer,
  subject: Subject,
  question: Question,
): Promise<{ allow: boolean; error?: string }> {
  if (question.kind === "call") {
    const decided = await authorizer.decide(question.method, question.params, {}, { subject });
    if (decided.kind !== "decided") return { allow: true };
    const d = decided.decision;
    return d.source === "error" ? { allow: false, error: d.reason ?? "error" } : { allow: d.allow };
  }
  const listed = await authorizer.filterList(
    question.method,
    { [question.field]: [question.item] },
    {},
    subject,
  );
  return { allow: listed.visible === 1 };
}

let cerbos: CerbosServer;
let opa: OpaFake;

beforeAll(async () => {
  [cerbos, opa] = await Promise.all([
    startCerbos(EXAMPLE_POLICIES),
    startOpaFake({ policy: regoNotesPolicy }),
  ]);
});

afterAll(async () => {
  await Promise.all([cerbos.close(), opa.close()]);
});

describe("the example's policy.yaml, Cerbos policies and policy.rego", () => {
  it("decide every subject × request of the example server the same way", async () => {
    const questions = await questionsOfExampleServer();
    // The example's own adapter choice: the same environment variables a user would set.
    const engines = {
      "policy.yaml": await pdpFromEnv({ MCP_PDP_ADAPTER: "local" }),
      cerbos: await pdpFromEnv({ MCP_PDP_ADAPTER: "cerbos", CERBOS_URL: cerbos.url }),
      "policy.rego": await pdpFromEnv({ MCP_PDP_ADAPTER: "opa", OPA_URL: opa.url }),
    };
    const authorizers = Object.entries(engines).map(
      ([name, pdp]) =>
        [name, new Authorizer({ pdp, mapping: { serverName: "notes" }, audit: false })] as const,
    );

    const disagreements: string[] = [];
    const errors: string[] = [];
    const allowed = new Set<boolean>();
    for (const [who, subject] of Object.entries(SUBJECTS)) {
      for (const question of questions) {
        const answers = await Promise.all(
          authorizers.map(async ([name, authorizer]) => ({
            name,
            ...(await answer(authorizer, subject, question)),
          })),
        );
        for (const a of answers) {
          allowed.add(a.allow);
          if (a.error !== undefined)
            errors.push(`${who} × ${question.label}: ${a.name}: ${a.error}`);
        }
        if (new Set(answers.map((a) => a.allow)).size > 1) {
          const said = answers.map((a) => `${a.name}=${a.allow ? "allow" : "deny"}`).join(" ");
          disagreements.push(`${who} × ${question.label}: ${said}`);
        }
      }
    }
    for (const pdp of Object.values(engines)) await pdp.close?.();

    // A PDP that failed would deny everything and agree by accident.
    expect(errors).toEqual([]);
    expect(disagreements).toEqual([]);
    // The grid asks questions with both answers, or agreeing would prove nothing.
    expect([...allowed].sort()).toEqual([false, true]);
    expect(questions.length).toBeGreaterThan(20);
  });
});
