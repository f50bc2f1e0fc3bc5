import { fileURLToPath } from "node:url";
import {
  type AuthorizationRequest,
  type ListMethod,
  type Subject,
  mapListItem,
  mapRequest,
  resolveMapping,
} from "@mcp-pdp/core";
import { describe, expect, it } from "vitest";
import { localPdp } from "../src/index.js";

const policyFile = fileURLToPath(
  new URL("../../../examples/local-server/policy.yaml", import.meta.url),
);
const mapping = resolveMapping({ serverName: "notes" });
const pdp = localPdp({ files: [policyFile] });

const subjects: Record<string, Subject> = {
  admin: { id: "ada", authenticated: true, roles: ["admin"] },
  user: { id: "uma", authenticated: true, roles: ["user"] },
  guest: { id: "gus", authenticated: true, roles: ["guest"] },
  anonymous: { id: "anonymous", authenticated: false },
  // A role claimed without a verified identity counts for nothing.
  "unverified admin": { id: "ada", authenticated: false, roles: ["admin"] },
};

type Op = (s: Subject) => AuthorizationRequest;

const request =
  (method: string, params: unknown = {}): Op =>
  (subject) => ({ subject, ...mapRequest(method, params, mapping) });

const listItem =
  (method: ListMethod, listed: unknown): Op =>
  (subject) => {
    const mapped = mapListItem(method, listed, mapping);
    if (!mapped) throw new Error("unmappable item");
    return { subject, ...mapped };
  };

const READ_ONLY = ["list_notes", "read_note", "search_notes"];
const WRITE = ["create_note", "delete_note"];
const toolArgs: Record<string, Record<string, unknown>> = {
  list_notes: {},
  read_note: { id: "1" },
  search_notes: { query: "milk" },
  create_note: { title: "t", body: "b" },
  delete_note: { id: "1" },
};

/** Each operation, and which of admin / user may do it (nobody else may do anything). */
const operations: [string, Op, { admin: boolean; user: boolean }][] = [
  ["tools/list", request("tools/list"), { admin: true, user: true }],
  ...[...READ_ONLY, ...WRITE].flatMap((name): [string, Op, { admin: boolean; user: boolean }][] => [
    [
      `tools/call ${name}`,
      request("tools/call", { name, arguments: toolArgs[name] }),
      { admin: true, user: READ_ONLY.includes(name) },
    ],
    [
      `tools/list item ${name}`,
      listItem("tools/list", { name }),
      { admin: true, user: READ_ONLY.includes(name) },
    ],
  ]),
  ["resources/list", request("resources/list"), { admin: true, user: true }],
  [
    "resources/list item notes://index",
    listItem("resources/list", { uri: "notes://index", name: "index" }),
    { admin: true, user: true },
  ],
  [
    "resources/read notes://index",
    request("resources/read", { uri: "notes://index" }),
    { admin: true, user: true },
  ],
  [
    "resources/read notes://note/1",
    request("resources/read", { uri: "notes://note/1" }),
    { admin: true, user: true },
  ],
  ["resources/templates/list", request("resources/templates/list"), { admin: true, user: true }],
  [
    "resources/templates/list item notes://note/{id}",
    listItem("resources/templates/list", { uriTemplate: "notes://note/{id}", name: "note" }),
    { admin: true, user: true },
  ],
  ["prompts/list", request("prompts/list"), { admin: true, user: false }],
  [
    "prompts/list item summarize_note",
    listItem("prompts/list", { name: "summarize_note" }),
    { admin: true, user: false },
  ],
  [
    "prompts/get summarize_note",
    request("prompts/get", { name: "summarize_note", arguments: { id: "1" } }),
    { admin: true, user: false },
  ],
];

const matrix = Object.keys(subjects).flatMap((role) =>
  operations.map(([label, op, expected]) => ({
    role,
    label,
    op,
    allow: role === "admin" || role === "user" ? expected[role] : false,
  })),
);

describe("examples/local-server/policy.yaml", () => {
  it.each(matrix)("$role: $label -> allow $allow", ({ role, op, allow }) => {
    const subject = subjects[role] as Subject;
    const decision = pdp.decide(op(subject));
    expect(decision.allow).toBe(allow);
    if (allow) expect(decision.reason).toMatch(/^allowed by rule "(admin|user)-/);
    else expect(decision.applicable).toBe(false);
  });

  it("does not let users read resources outside the notes", () => {
    const r = request("resources/read", { uri: "file:///etc/passwd" })(subjects.user as Subject);
    expect(pdp.decide(r).allow).toBe(false);
  });
});
