import { writeFileSync } from "node:fs";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../src/index.js";
import { runCli, runMain, tempDir } from "./helpers.js";

const POLICY = `version: 1
rules:
  - name: admin-everything
    effect: allow
    subjects: { roles: [admin], authenticated: true }
    actions: ["*"]
  - name: user-lists
    effect: allow
    subjects: { roles: [user], authenticated: true }
    resources: { types: [notes_tools, notes_resources, notes_prompts] }
    actions: [list]
  - name: user-reads
    effect: allow
    subjects: { roles: [user], authenticated: true }
    resources: { types: [notes], tools: [read_note, search_*] }
    actions: ["*"]
  - name: user-own-folder
    effect: allow
    subjects: { roles: [user] }
    resources: { tools: [write_note] }
    actions: ["*"]
    when:
      - { field: arguments.path, op: starts_with, value: /home/ }
  - name: user-read-only
    effect: allow
    subjects: { roles: [user] }
    resources: { types: [notes] }
    actions: ["*"]
    when:
      - { field: operation.metadata.annotations.readOnlyHint, op: equals, value: true }
  - name: user-notes
    effect: allow
    subjects: { roles: [user] }
    resources: { types: [notes_resources], keys: ["notes://note/*"] }
    actions: [read]
  - name: eng-prompts
    effect: allow
    subjects: { roles: [user] }
    resources: { types: [notes_prompts] }
    actions: [get]
    when:
      - { field: subject.attributes.dept, op: equals, value: eng }
  - name: nobody-purges
    effect: deny
    resources: { tools: [purge] }
    actions: ["*"]
`;

let dir: string;
let cleanup: () => void;
let policy: string;
beforeAll(() => {
  ({ dir, cleanup } = tempDir());
  policy = join(dir, "policy.yaml");
  writeFileSync(policy, POLICY);
});
afterAll(() => {
  cleanup();
});

const check = (...args: string[]) =>
  runMain(["check", "--policy", policy, "--server-name", "notes", ...args]);

describe("mcp-pdp check on the local engine", () => {
  it("prints allow with the deciding rule and its file, exit code 0", async () => {
    const run = await check(
      "--subject",
      "alice",
      "--role",
      "user",
      "tools/call",
      "--tool",
      "read_note",
    );
    expect(run.code).toBe(EXIT.ok);
    expect(run.stdout).toMatch(/^allow {2}tools\/call read_note\n/);
    expect(run.stdout).toContain("alice (authenticated; roles: user)");
    expect(run.stdout).toContain("notes, action read-note");
    expect(run.stdout).toContain(`rule      user-reads (${policy})`);
    expect(run.stdout).toContain('allowed by rule "user-reads"');
  });

  it("prints deny with the deny rule that won, exit code 3", async () => {
    const run = await check("--role", "admin", "--tool", "purge");
    expect(run.code).toBe(EXIT.denied);
    expect(run.stdout).toMatch(/^deny {2}tools\/call purge\n/);
    expect(run.stdout).toContain("rule      nobody-purges");
    expect(run.stdout).toContain("client (authenticated; roles: admin)");
  });

  it("says when no rule matched, and --trace lists why each considered rule did not", async () => {
    const run = await check(
      "--subject",
      "g",
      "--role",
      "guest",
      "tools/call",
      "--tool",
      "read_note",
      "--trace",
    );
    expect(run.code).toBe(EXIT.denied);
    expect(run.stdout).toContain("none matched (default deny)");
    expect(run.stdout).toContain("- admin-everything (allow");
    expect(run.stdout).toContain("no subject role in subjects.roles");
  });

  it("decides on the arguments given with --args", async () => {
    const home = await check(
      "--role",
      "user",
      "--tool",
      "write_note",
      "--args",
      '{"path":"/home/a.txt"}',
    );
    expect(home.code).toBe(EXIT.ok);
    expect(home.stdout).toContain("user-own-folder");
    const etc = await check(
      "--role",
      "user",
      "--tool",
      "write_note",
      "--args",
      '{"path":"/etc/passwd"}',
    );
    expect(etc.code).toBe(EXIT.denied);
  });

  it("decides on the component metadata given with --metadata, as the server would declare it", async () => {
    const unknown = await check("--role", "user", "--tool", "list_notes");
    expect(unknown.code).toBe(EXIT.denied);
    expect(unknown.stdout).toContain("give it with --metadata");
    const declared = await check(
      "--role",
      "user",
      "--tool",
      "list_notes",
      "--metadata",
      '{"annotations":{"readOnlyHint":true}}',
    );
    expect(declared.code).toBe(EXIT.ok);
    expect(declared.stdout).toContain("user-read-only");
  });

  it("decides list visibility of an item with a list method and a component", async () => {
    // Visible: some arguments could allow write_note, and the call decides on the real ones.
    const visible = await check("--role", "user", "tools/list", "--tool", "write_note");
    expect(visible.code).toBe(EXIT.ok);
    expect(visible.stdout).toContain("(visible in the list?)");
    const hidden = await check("--role", "user", "tools/list", "--tool", "drop_all");
    expect(hidden.code).toBe(EXIT.denied);
    const json = JSON.parse(
      (await check("--role", "user", "tools/list", "--tool", "write_note", "--json")).stdout,
    );
    expect(json.request.operation).toMatchObject({
      phase: "list",
      method: "tools/call",
      name: "write_note",
    });
    expect(json.request.operation.arguments).toBeUndefined();
  });

  it("checks the coarse list, resources by URI and prompts by name", async () => {
    expect((await check("--role", "user", "tools/list")).code).toBe(EXIT.ok);
    expect((await check("--role", "user", "prompts/list")).code).toBe(EXIT.ok);
    expect((await check("--role", "user", "resources/templates/list")).code).toBe(EXIT.denied);
    const note = await check("--role", "user", "--uri", "notes://note/7");
    expect(note.code).toBe(EXIT.ok);
    expect(note.stdout).toContain("notes_resources key notes://note/7, action read");
    expect((await check("--role", "user", "resources/read", "--uri", "notes://secret")).code).toBe(
      EXIT.denied,
    );
    expect(
      (await check("--role", "user", "--prompt", "summarize", "--attr", "dept=eng")).code,
    ).toBe(EXIT.ok);
    expect(
      (await check("--role", "user", "--prompt", "summarize", "--attr", "dept=ops")).code,
    ).toBe(EXIT.denied);
  });

  it("checks an unauthenticated caller with --unauthenticated", async () => {
    expect((await check("--role", "user", "tools/list")).code).toBe(EXIT.ok);
    expect((await check("--role", "user", "--unauthenticated", "tools/list")).code).toBe(
      EXIT.denied,
    );
  });

  it("takes the caller from MCP_PDP_IDENTITY_FIXED_VALUE and MCP_PDP_IDENTITY_ROLES when no flag gives it", async () => {
    const run = await runMain(
      ["check", "--policy", policy, "--server-name", "notes", "--json", "--tool", "read_note"],
      {
        env: { MCP_PDP_IDENTITY_FIXED_VALUE: "carol", MCP_PDP_IDENTITY_ROLES: "user,auditor" },
      },
    );
    const out = JSON.parse(run.stdout);
    expect(out.request.subject).toEqual({
      id: "carol",
      authenticated: true,
      roles: ["user", "auditor"],
    });
    expect(out.allow).toBe(true);
  });

  it("takes the server name from MCP_SERVER_NAME like the guard", async () => {
    const run = await runMain(
      ["check", "--policy", policy, "--role", "user", "--json", "tools/list"],
      {
        env: { MCP_SERVER_NAME: "notes" },
      },
    );
    expect(JSON.parse(run.stdout).request.resource.type).toBe("notes_tools");
    const other = await runMain([
      "check",
      "--policy",
      policy,
      "--role",
      "user",
      "--json",
      "tools/list",
    ]);
    expect(JSON.parse(other.stdout).request.resource.type).toBe("mcp_server_tools");
  });

  it("prints one JSON object with --json: decision, rule, request and considered rules", async () => {
    const run = await check(
      "--subject",
      "alice",
      "--role",
      "user",
      "--json",
      "tools/call",
      "--tool",
      "search_notes",
      "--args",
      '{"q":"x"}',
    );
    expect(run.code).toBe(EXIT.ok);
    const out = JSON.parse(run.stdout);
    expect(out).toMatchObject({
      allow: true,
      method: "tools/call",
      pdp: "local",
      rule: "user-reads",
      decision: { allow: true, source: "pdp" },
      request: {
        subject: { id: "alice", roles: ["user"] },
        resource: { type: "notes", attributes: { tool_name: "search_notes", arg_q: "x" } },
        action: "search-notes",
      },
    });
    expect(
      out.considered.some(
        (c: { rule: string; matched: boolean }) => c.rule === "user-reads" && c.matched,
      ),
    ).toBe(true);
  });

  it("reports bypassed methods as never checked", async () => {
    const run = await check("ping");
    expect(run.code).toBe(EXIT.ok);
    expect(run.stdout).toContain("bypassed");
  });

  it("rejects inconsistent requests with exit code 2", async () => {
    const cases: [string[], string][] = [
      [["tools/call"], "tools/call needs --tool"],
      [["resources/read", "--tool", "x"], "--tool goes with tools/call, tools/list"],
      [["--tool", "x", "--uri", "y"], "give one of --tool, --uri, --prompt"],
      [["--tool", "x", "--args", "[1]"], "--args must be a JSON object"],
      [["--tool", "x", "--args", "{oops"], "--args is not valid JSON"],
      [["tools/list", "--args", "{}"], "--args goes with tools/call and prompts/get"],
      [["tools/list", "--metadata", "{}"], "--metadata describes a component"],
      [["--tool", "x", "--attr", "novalue"], "--attr expects key=value"],
      [[], "give the MCP method"],
    ];
    for (const [args, message] of cases) {
      const run = await check(...args);
      expect(run.code, args.join(" ")).toBe(EXIT.usage);
      expect(run.stderr, args.join(" ")).toContain(message);
    }
  });

  it("needs a policy or an adapter", async () => {
    const run = await runMain(["check", "tools/list"]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain("no policy: give --policy <file>");
    const both = await runMain(["check", "--policy", policy, "--adapter", "opa", "tools/list"]);
    expect(both.code).toBe(EXIT.usage);
    expect(both.stderr).toContain("cannot be combined with --adapter opa");
    const unknown = await runMain(["check", "--adapter", "casbin", "tools/list"]);
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.stderr).toContain(
      "--adapter must be one of local, permit, eunomia, opa, cerbos",
    );
  });

  it("uses MCP_PDP_POLICY_FILE when no --policy is given", async () => {
    const run = await runMain(["check", "--role", "admin", "--tool", "anything"], {
      env: { MCP_PDP_POLICY_FILE: policy },
    });
    expect(run.code).toBe(EXIT.ok);
  });

  it("reports an invalid policy with its file and exit code 1", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "rules:\n  - { name: a, effect: maybe, actions: [list] }\n");
    const run = await runCli(["check", "--policy", bad, "tools/list"]);
    expect(run.code).toBe(EXIT.failure);
    expect(run.stderr).toContain(bad);
    expect(run.stderr).toContain("effect");
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("mcp-pdp check on a remote adapter", () => {
  let opa: Server;
  let url: string;
  const inputs: unknown[] = [];

  beforeAll(async () => {
    // A minimal OPA data API: allows alice, and only her.
    opa = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        if (req.method !== "POST" || req.url !== "/v1/data/mcp/authz/allow") {
          res.writeHead(404).end("{}");
          return;
        }
        const { input } = JSON.parse(body) as { input: { subject: { id: string } } };
        inputs.push(input);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ result: input.subject.id === "alice", decision_id: "d-42" }));
      });
    });
    await new Promise<void>((resolve) => opa.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(opa.address() as AddressInfo).port}`;
  });
  afterAll(
    () =>
      new Promise<void>((resolve) =>
        opa.close(() => {
          resolve();
        }),
      ),
  );

  it("asks the PDP configured by the adapter's environment and prints its decision id", async () => {
    const allowed = await runMain(
      ["check", "--adapter", "opa", "--subject", "alice", "--tool", "read_note"],
      {
        env: { OPA_URL: url },
      },
    );
    expect(allowed.code).toBe(EXIT.ok);
    expect(allowed.stdout).toMatch(/^allow {2}tools\/call read_note/);
    expect(allowed.stdout).toContain("pdp       opa");
    expect(allowed.stdout).toContain("decision  d-42");
    expect(inputs.at(-1)).toMatchObject({
      subject: { id: "alice" },
      action: "read-note",
      operation: { method: "tools/call", name: "read_note" },
    });
    const denied = await runMain(
      ["check", "--adapter", "opa", "--subject", "bob", "--tool", "read_note"],
      {
        env: { OPA_URL: url },
      },
    );
    expect(denied.code).toBe(EXIT.denied);
  });

  it("takes the adapter from MCP_PDP_ADAPTER", async () => {
    const run = await runMain(["check", "--subject", "alice", "--json", "tools/list"], {
      env: { MCP_PDP_ADAPTER: "opa", OPA_URL: url },
    });
    expect(JSON.parse(run.stdout)).toMatchObject({
      allow: true,
      pdp: expect.stringContaining("opa"),
    });
  });

  it("prints a deny with the error code when the PDP cannot be reached", async () => {
    const run = await runMain(["check", "--adapter", "opa", "--subject", "alice", "tools/list"], {
      env: { OPA_URL: "http://127.0.0.1:1", OPA_TIMEOUT_MS: "2000" },
    });
    expect(run.code).toBe(EXIT.denied);
    expect(run.stdout).toMatch(/^deny/);
    expect(run.stdout).toMatch(/error {5}PDP_/);
  });

  it("reports a bad adapter variable naming it, exit code 1", async () => {
    const run = await runMain(["check", "--adapter", "opa", "tools/list"], {
      env: { OPA_URL: "not a url" },
    });
    expect(run.code).toBe(EXIT.failure);
    expect(run.stderr).toContain("OPA_URL");
  });
});
