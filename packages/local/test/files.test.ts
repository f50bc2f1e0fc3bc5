import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, PolicyError } from "@mcp-pdp/core";
import { afterAll, describe, expect, it } from "vitest";
import { localFromEnv, localPdp, loadPolicyFile, parsePolicy } from "../src/index.js";
import { admin, alice, guest, tool } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "mcp-pdp-local-files-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const usersYaml = `
rules:
  - name: users-read
    effect: allow
    subjects: { roles: user }
    resources: { tools: read_note }
    actions: "*"
`;

const eunomiaJson = JSON.stringify({
  version: "1.0",
  name: "agents",
  rules: [
    {
      name: "root-executes",
      effect: "allow",
      actions: ["execute"],
      principal_conditions: [{ path: "attributes.agent_id", operator: "equals", value: "root" }],
    },
  ],
  default_effect: "deny",
});

describe("loading files", () => {
  it("loads YAML and JSON files, native and Eunomia, together", () => {
    const pdp = localPdp({
      files: [write("users.yaml", usersYaml), write("agents.json", eunomiaJson)],
    });
    expect(pdp.decide(tool(alice, "read_note")).reason).toBe('allowed by rule "users-read"');
    expect(pdp.decide(tool(admin, "delete_note")).reason).toBe(
      'allowed by rule "root-executes" of policy "agents"',
    );
    expect(pdp.decide(tool(alice, "delete_note")).allow).toBe(false);
  });

  it("loads every document of a multi-document YAML file", () => {
    const path = write(
      "multi.yaml",
      `${usersYaml}---\nrules: [{ name: guests-out, effect: deny, subjects: { roles: guest }, actions: "*" }]\n`,
    );
    expect(loadPolicyFile(path)).toHaveLength(2);
    const pdp = localPdp({ files: [path] });
    expect(pdp.decide(tool(alice, "read_note")).allow).toBe(true);
    expect(pdp.decide(tool(guest, "read_note")).reason).toBe('denied by rule "guests-out"');
  });

  it("keeps the file name of parsed documents for errors raised when they are combined", () => {
    const a = parsePolicy(usersYaml, { filename: "a.yaml" });
    const b = parsePolicy(usersYaml, { filename: "b.yaml" });
    expect(() => localPdp({ policies: [...a, ...b] })).toThrow(
      'b.yaml: rule "users-read" (rules[0]): name: duplicate rule name; also in a.yaml rules[0]',
    );
  });

  it("reads a document in the format it is told", () => {
    const text = `name: x\nrules: []\n`;
    expect(parsePolicy(text, { filename: "p.yaml" })).toHaveLength(1); // an Eunomia policy
    expect(() => parsePolicy(text, { filename: "p.yaml", format: "native" })).toThrow(
      'p.yaml: unknown field "name"; expected version, description, rules',
    );
  });
});

describe("reload", () => {
  it("reads the files again", () => {
    const path = write("reload.yaml", usersYaml);
    const pdp = localPdp({ files: [path] });
    expect(pdp.decide(tool(alice, "read_note")).allow).toBe(true);
    write("reload.yaml", usersYaml.replace("effect: allow", "effect: deny"));
    pdp.reload();
    expect(pdp.decide(tool(alice, "read_note")).reason).toBe('denied by rule "users-read"');
  });

  it("keeps the current policies when the new ones are invalid", () => {
    const path = write("reload-bad.yaml", usersYaml);
    const pdp = localPdp({ files: [path] });
    write("reload-bad.yaml", "rules:\n  - name: [\n");
    expect(() => {
      pdp.reload();
    }).toThrow(PolicyError);
    expect(pdp.decide(tool(alice, "read_note")).allow).toBe(true);
  });
});

describe("localFromEnv", () => {
  it("loads the files of MCP_PDP_POLICY_FILE, comma-separated", () => {
    const a = write("env-a.yaml", usersYaml);
    const b = write("env-b.json", eunomiaJson);
    const pdp = localFromEnv({ MCP_PDP_POLICY_FILE: `${a}, ${b}` }, { name: "env-local" });
    expect(pdp.name).toBe("env-local");
    expect(pdp.decide(tool(alice, "read_note")).allow).toBe(true);
    expect(pdp.decide(tool(admin, "delete_note")).allow).toBe(true);
  });

  it("accepts a JSON array", () => {
    const a = write("env-c.yaml", usersYaml);
    const pdp = localFromEnv({ MCP_PDP_POLICY_FILE: JSON.stringify([a]) });
    expect(pdp.name).toBe("local");
    expect(pdp.decide(tool(alice, "read_note")).allow).toBe(true);
  });

  it("requires the variable", () => {
    expect(() => localFromEnv({})).toThrow(ConfigError);
    expect(() => localFromEnv({ MCP_PDP_POLICY_FILE: " " })).toThrow(/MCP_PDP_POLICY_FILE/);
  });

  it("rejects a malformed list, naming the variable", () => {
    expect(() => localFromEnv({ MCP_PDP_POLICY_FILE: "[1, 2]" })).toThrow(
      /^Invalid environment variable: MCP_PDP_POLICY_FILE: /,
    );
  });

  it("fails with a PolicyError naming a missing file", () => {
    const missing = join(dir, "nope.yaml");
    expect(() => localFromEnv({ MCP_PDP_POLICY_FILE: missing })).toThrow(
      `${missing}: cannot read the policy file`,
    );
  });
});
