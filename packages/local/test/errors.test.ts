import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PolicyError } from "@mcp-pdp/core";
import { afterAll, describe, expect, it } from "vitest";
import { type PolicyDocument, loadPolicyFile, localPdp, parsePolicy } from "../src/index.js";

function errorOf(fn: () => unknown): PolicyError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).code).toBe("POLICY_INVALID");
    return error as PolicyError;
  }
  throw new Error("expected a PolicyError");
}

const yaml = (text: string) =>
  errorOf(() => parsePolicy(text, { filename: "policy.yaml" })).message;

const rules = (body: string) => `rules:\n${body}`;

describe("native policy errors name the file, the rule and the field", () => {
  it("an unknown operator", () => {
    const msg = yaml(
      rules(`  - { name: a, effect: allow, actions: "*" }
  - { name: b, effect: allow, actions: "*" }
  - name: user-reads
    effect: allow
    actions: [read]
    when:
      - { field: subject.id, op: startswith, value: a }
`),
    );
    expect(msg).toBe(
      'policy.yaml: rule "user-reads" (rules[2]): when[0].op: unknown operator "startswith"; expected one of equals, not_equals, in, not_in, contains, starts_with, ends_with, regex, gt, gte, lt, lte, exists, path_within',
    );
  });

  it("an unknown key, listing the accepted ones", () => {
    expect(yaml(rules(`  - { name: r, effect: allow, actions: "*", subject: { ids: a } }\n`))).toBe(
      'policy.yaml: rule "r" (rules[0]): unknown field "subject"; expected name, description, effect, subjects, resources, actions, when',
    );
    expect(
      yaml(rules(`  - { name: r, effect: allow, actions: "*", resources: { type: x } }\n`)),
    ).toBe(
      'policy.yaml: rule "r" (rules[0]): resources: unknown field "type"; expected types, keys, tools',
    );
    expect(yaml(`rule: []\nrules: []\n`)).toBe(
      'policy.yaml: unknown field "rule"; expected version, description, rules',
    );
  });

  it("a missing name, by index", () => {
    expect(yaml(rules(`  - { effect: allow, actions: "*" }\n`))).toBe(
      "policy.yaml: rules[0]: name: required (a string)",
    );
  });

  it("an invalid effect and a missing actions list", () => {
    expect(yaml(rules(`  - { name: r, effect: permit }\n`))).toBe(
      'policy.yaml: rule "r" (rules[0]): effect: invalid value "permit"; expected one of allow, deny\n' +
        'policy.yaml: rule "r" (rules[0]): actions: required (a list)',
    );
  });

  it("a wrong type and an empty list", () => {
    expect(
      yaml(
        rules(`  - { name: r, effect: allow, actions: [], subjects: { authenticated: "yes" } }\n`),
      ),
    ).toBe(
      'policy.yaml: rule "r" (rules[0]): subjects.authenticated: expected a boolean, got a string\n' +
        'policy.yaml: rule "r" (rules[0]): actions: must not be empty',
    );
    expect(yaml(`rules: {}\n`)).toBe("policy.yaml: rules: expected a list, got a mapping");
  });

  it("an unknown field path", () => {
    expect(
      yaml(
        rules(
          `  - { name: r, effect: allow, actions: "*", when: [{ field: subject.role, op: equals, value: a }] }\n`,
        ),
      ),
    ).toBe(
      'policy.yaml: rule "r" (rules[0]): when[0].field: unknown field "subject.role"; expected one of subject.id, subject.authenticated, subject.roles, subject.tenant, subject.scopes, subject.attributes',
    );
    expect(
      yaml(
        rules(
          `  - { name: r, effect: allow, actions: "*", when: [{ field: user.id, op: equals, value: a }] }\n`,
        ),
      ),
    ).toContain('when[0].field: unknown field "user.id"');
    expect(
      yaml(
        rules(
          `  - { name: r, effect: allow, actions: "*", when: [{ field: operation.arguments.x, op: exists }] }\n`,
        ),
      ),
    ).toContain('arguments are read with "arguments.<name>"');
    expect(
      yaml(
        rules(
          `  - { name: r, effect: allow, actions: "*", when: [{ field: subject.id.x, op: exists }] }\n`,
        ),
      ),
    ).toContain("when[0].field: subject.id has no fields");
  });

  it("a value that does not suit its operator", () => {
    const cond = (c: string) =>
      yaml(rules(`  - { name: r, effect: allow, actions: "*", when: [${c}] }\n`));
    expect(cond(`{ field: subject.id, op: in, value: a }`)).toBe(
      'policy.yaml: rule "r" (rules[0]): when[0].value: in needs a list value',
    );
    expect(cond(`{ field: subject.id, op: regex, value: "a(" }`)).toContain(
      "when[0].value: invalid regular expression:",
    );
    expect(cond(`{ field: subject.id, op: equals }`)).toContain(
      "when[0].value: equals needs a value",
    );
    expect(cond(`{ field: subject.id, op: gt, value: [1] }`)).toContain(
      "gt needs a number or string value",
    );
    expect(cond(`{ field: subject.id, op: exists, value: yes }`)).toContain(
      "exists takes true, false or no value",
    );
  });

  it("a path_within base that is not an absolute directory", () => {
    const cond = (c: string) =>
      yaml(rules(`  - { name: r, effect: allow, actions: "*", when: [${c}] }\n`));
    expect(cond(`{ field: arguments.path, op: path_within, value: notes }`)).toBe(
      'policy.yaml: rule "r" (rules[0]): when[0].value: path_within needs an absolute directory (or a list of them), such as /srv/notes; got "notes", which is not an absolute path',
    );
    expect(cond(`{ field: arguments.path, op: path_within, value: [/srv/a, ./b] }`)).toContain(
      'got "./b", which is not an absolute path',
    );
    expect(cond(`{ field: arguments.path, op: path_within, value: "file:///srv" }`)).toContain(
      "which is not an absolute path",
    );
    expect(cond(`{ field: arguments.path, op: path_within, value: "C:\\\\notes" }`)).toContain(
      "which is not an absolute path",
    );
    expect(cond(`{ field: arguments.path, op: path_within, value: "/srv\\\\notes" }`)).toContain(
      "which holds a NUL byte or a backslash",
    );
    expect(cond(`{ field: arguments.path, op: path_within, value: [] }`)).toContain(
      "when[0].value: path_within needs an absolute directory (or a list of them)",
    );
    expect(cond(`{ field: arguments.path, op: path_within, value: 3 }`)).toContain(
      "path_within needs an absolute directory",
    );
    expect(cond(`{ field: arguments.path, op: path_within }`)).toContain(
      "path_within needs a value",
    );
  });

  it("a duplicate rule name, across documents", () => {
    const msg = errorOf(() =>
      localPdp({
        policies: [
          { rules: [{ name: "same", effect: "allow", actions: "*" }] },
          { rules: [{ name: "same", effect: "deny", actions: "*" }] },
        ],
      }),
    ).message;
    expect(msg).toBe(
      'policies[1]: rule "same" (rules[0]): name: duplicate rule name; also in policies[0] rules[0]',
    );
  });

  it("several problems at once, one per line", () => {
    const msg = yaml(
      rules(`  - { name: a, effect: nope, actions: "*" }\n  - { name: b, effect: allow }\n`),
    );
    expect(msg.split("\n")).toHaveLength(2);
  });

  it("a top level that is not a mapping", () => {
    expect(yaml(`- a\n- b\n`)).toBe("policy.yaml: expected a mapping, got a list");
  });

  it("validates documents given in code too", () => {
    const bad = {
      rules: [{ name: "r", effect: "allow", actions: "*", extra: 1 }],
    } as unknown as PolicyDocument;
    expect(errorOf(() => localPdp({ policies: [bad] })).message).toContain(
      'policies[0]: rule "r" (rules[0]): unknown field "extra"',
    );
  });
});

describe("syntax errors name the file and the line", () => {
  it("YAML", () => {
    const msg = yaml(`rules:\n  - name: a\n    effect: [allow\n  - name: b\n`);
    expect(msg).toMatch(/^policy\.yaml: line \d+, column \d+: YAML syntax error: /);
    expect(yaml(`rules: []\nrules: []\n`)).toMatch(
      /^policy\.yaml: line 2, column 1: YAML syntax error: Map keys must be unique/,
    );
  });

  it("JSON", () => {
    const msg = errorOf(() =>
      parsePolicy(`{\n  "rules": [\n    { "name": "a", }\n  ]\n}\n`, { filename: "p.json" }),
    ).message;
    expect(msg).toMatch(/^p\.json: line 3, column \d+: invalid JSON: /);
    // V8 gives no position for some errors; the message still names the file, without echoing it.
    const msg2 = errorOf(() => parsePolicy(`{\n  "rules": \n}\n`, { filename: "p.json" })).message;
    expect(msg2).toMatch(/^p\.json: (line 3, column \d+: )?invalid JSON: Unexpected token/);
    expect(msg2).not.toContain('"rules"');
  });

  it("an empty file", () => {
    expect(yaml(`# nothing here\n`)).toBe("policy.yaml: no policy document");
  });

  it("a later document of a multi-document file", () => {
    expect(yaml(`rules: []\n---\nrules: [{ name: r, effect: allow }]\n`)).toBe(
      'policy.yaml (document 2): rule "r" (rules[0]): actions: required (a list)',
    );
  });
});

describe("files", () => {
  const dir = mkdtempSync(join(tmpdir(), "mcp-pdp-local-errors-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("names a file that cannot be read", () => {
    const path = join(dir, "missing.yaml");
    expect(errorOf(() => loadPolicyFile(path)).message).toMatch(
      new RegExp(`^${path.replace(/[.\\/]/g, "\\$&")}: cannot read the policy file: `),
    );
    expect(() => localPdp({ files: [path] })).toThrow(PolicyError);
  });

  it("names the file in validation errors of a loaded file", () => {
    const path = join(dir, "bad.yaml");
    writeFileSync(
      path,
      `rules:\n  - { name: r, effect: allow, actions: "*", when: [{ field: x, op: equals, value: 1 }] }\n`,
    );
    expect(errorOf(() => localPdp({ files: [path] })).message).toContain(
      `${path}: rule "r" (rules[0]): when[0].field: unknown field "x"`,
    );
  });

  it("names the file of each duplicate rule", () => {
    const a = join(dir, "a.yaml");
    const b = join(dir, "b.yaml");
    writeFileSync(a, `rules: [{ name: dup, effect: allow, actions: "*" }]\n`);
    writeFileSync(b, `rules: [{ name: dup, effect: deny, actions: "*" }]\n`);
    expect(errorOf(() => localPdp({ files: [a, b] })).message).toBe(
      `${b}: rule "dup" (rules[0]): name: duplicate rule name; also in ${a} rules[0]`,
    );
  });
});
