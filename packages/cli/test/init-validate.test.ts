import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parsePolicy } from "@mcp-pdp/local";
import { EXIT, starterPolicy } from "../src/index.js";
import { runCli, runMain, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => {
  cleanup();
});

describe("mcp-pdp init", () => {
  it("writes policy.yaml in the working directory, which validate accepts", async () => {
    const init = await runCli(["init"], { cwd: dir });
    expect(init.code).toBe(0);
    expect(init.stdout).toContain("wrote policy.yaml");
    const text = readFileSync(join(dir, "policy.yaml"), "utf8");
    expect(text).toContain("admin-everything");
    expect(text).toContain("user-read-only-tools");
    expect(text).toMatch(/denied/);
    const validate = await runCli(["validate", "policy.yaml"], { cwd: dir });
    expect(validate).toMatchObject({ code: 0, stderr: "" });
    expect(validate.stdout.trim()).toBe("ok policy.yaml: 4 rules");
  });

  it("refuses to overwrite an existing file without --force", async () => {
    const file = join(dir, "mine.yaml");
    writeFileSync(file, "keep me");
    const run = await runMain(["init", file]);
    expect(run.code).toBe(EXIT.failure);
    expect(run.stderr).toContain("already exists; use --force");
    expect(readFileSync(file, "utf8")).toBe("keep me");
    const forced = await runMain(["init", file, "--force"]);
    expect(forced.code).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(starterPolicy());
  });

  it("names the resource types after --server-name", async () => {
    const file = join(dir, "notes.yaml");
    expect((await runMain(["init", file, "--server-name", "notes"])).code).toBe(0);
    const text = readFileSync(file, "utf8");
    expect(text).toContain("notes_tools");
    expect(text).not.toContain("mcp_server");
    expect(parsePolicy(text, { filename: file })).toHaveLength(1);
  });

  it("rejects a server name that would break the YAML", async () => {
    const run = await runMain(["init", join(dir, "x.yaml"), "--server-name", "a: b"]);
    expect(run.code).toBe(EXIT.failure);
    expect(run.stderr).toContain("--server-name");
  });

  it("takes at most one file", async () => {
    const run = await runMain(["init", "a.yaml", "b.yaml"], { cwd: dir });
    expect(run.code).toBe(EXIT.usage);
  });
});

describe("mcp-pdp validate", () => {
  it("counts the rules of native and Eunomia files", async () => {
    const native = join(dir, "native.yaml");
    writeFileSync(
      native,
      "rules:\n  - { name: a, effect: allow, actions: [list] }\n---\nrules:\n  - { name: b, effect: deny, actions: ['*'] }\n",
    );
    const eunomia = join(dir, "eunomia.json");
    writeFileSync(
      eunomia,
      JSON.stringify({
        version: "1.0",
        name: "default",
        default_effect: "deny",
        rules: [
          {
            name: "r1",
            effect: "allow",
            principal_conditions: [],
            resource_conditions: [],
            actions: ["list"],
          },
        ],
      }),
    );
    const run = await runMain(["validate", native, eunomia]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`ok ${native}: 2 rules (2 documents)`);
    expect(run.stdout).toContain(`ok ${eunomia}: 1 rule (Eunomia policy "default")`);
  });

  it("reports a broken rule with the file, the rule and the field, and exits 1", async () => {
    const file = join(dir, "broken.yaml");
    writeFileSync(
      file,
      [
        "version: 1",
        "rules:",
        "  - name: fine",
        "    effect: allow",
        "    actions: [list]",
        "  - name: user-reads",
        "    effect: allow",
        "    actions: [read]",
        "    when:",
        "      - { field: arguments.path, op: startswith, value: /home }",
        "",
      ].join("\n"),
    );
    const run = await runCli(["validate", file]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(file);
    expect(run.stderr).toContain('rule "user-reads"');
    expect(run.stderr).toContain("when[0].op");
    expect(run.stderr).toContain('unknown operator "startswith"');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it("reports a YAML syntax error with its line", async () => {
    const file = join(dir, "syntax.yaml");
    writeFileSync(file, "rules:\n  - name: a\n  name: b\n    effect: [\n");
    const run = await runMain(["validate", file]);
    expect(run.code).toBe(EXIT.failure);
    expect(run.stderr).toMatch(
      new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: line \\d+`),
    );
  });

  it("validates every file, reporting the good ones too, and fails when one is bad", async () => {
    const good = join(dir, "good.yaml");
    const missing = join(dir, "missing.yaml");
    writeFileSync(good, "rules:\n  - { name: a, effect: allow, actions: [list] }\n");
    const run = await runMain(["validate", good, missing]);
    expect(run.code).toBe(EXIT.failure);
    expect(run.stdout).toContain(`ok ${good}: 1 rule`);
    expect(run.stderr).toContain(`${missing}: cannot read the policy file`);
  });

  it("catches a rule name used in two files, as the engine loading them together would", async () => {
    const a = join(dir, "a.yaml");
    const b = join(dir, "b.yaml");
    writeFileSync(a, "rules:\n  - { name: dup, effect: allow, actions: [list] }\n");
    writeFileSync(b, "rules:\n  - { name: dup, effect: deny, actions: [list] }\n");
    const run = await runMain(["validate", a, b]);
    expect(run.code).toBe(EXIT.failure);
    expect(run.stderr).toContain("duplicate rule name");
    expect(run.stderr).toContain(a);
  });

  it("reads a document as the format given by --format", async () => {
    const file = join(dir, "named.yaml");
    // A top-level "name" makes auto-detection read it as Eunomia; --format native says otherwise.
    writeFileSync(file, "name: x\nrules:\n  - { name: a, effect: allow, actions: [list] }\n");
    const native = await runMain(["validate", "--format", "native", file]);
    expect(native.code).toBe(EXIT.failure);
    expect(native.stderr).toContain('unknown field "name"');
    const bad = await runMain(["validate", "--format", "rego", file]);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toContain("--format must be one of auto, native, eunomia");
  });

  it("needs at least one file", async () => {
    const run = await runMain(["validate"]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain("give at least one policy file");
  });
});
