import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cerbosBinary, compileCerbosPolicies } from "../src/testing.js";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** Every policy directory of the repository whose `*_test.yaml` suites must pass in CI. */
const POLICY_DIRS = {
  "the example server's policies": here("../../../examples/local-server/cerbos"),
  "the adapter tests' policies": here("./policies"),
  "the end-to-end tests' policies": here("../../../test/cerbos/policies"),
};

describe("cerbos compile", () => {
  for (const [what, dir] of Object.entries(POLICY_DIRS)) {
    it(`compiles ${what} and passes their policy tests`, async () => {
      const result = await compileCerbosPolicies(dir);
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      expect(result.overallResult).toBe("RESULT_PASSED");
      expect(result.testsCount).toBeGreaterThan(0);
    });
  }

  describe("on broken policies", () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "mcp-pdp-cerbos-"));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const policy = (expr: string) =>
      [
        "apiVersion: api.cerbos.dev/v1",
        "resourcePolicy:",
        "  version: default",
        "  resource: mcp_tool",
        "  rules:",
        "    - actions: [call]",
        "      effect: EFFECT_ALLOW",
        "      roles: [user]",
        "      condition:",
        "        match:",
        `          expr: ${expr}`,
        "",
      ].join("\n");

    it("fails on a policy that does not compile", async () => {
      const bad = join(dir, "bad");
      await mkdir(bad);
      await writeFile(join(bad, "tool.yaml"), policy("request.resource.attr."));
      const result = await compileCerbosPolicies(bad);
      expect(result.exitCode).not.toBe(0);
      expect(result.output).toMatch(/compileErrors/);
    });

    it("fails when a policy test expects another effect", async () => {
      const failing = join(dir, "failing");
      await mkdir(join(failing, "tests"), { recursive: true });
      await writeFile(join(failing, "tool.yaml"), policy('request.resource.id == "a"'));
      await writeFile(
        join(failing, "tests", "tool_test.yaml"),
        [
          "name: Failing",
          "principals:",
          "  u: { id: u, roles: [user] }",
          "resources:",
          "  b: { kind: mcp_tool, id: b }",
          "tests:",
          "  - name: b is callable",
          "    input: { principals: [u], resources: [b], actions: [call] }",
          "    expected:",
          "      - { principal: u, resource: b, actions: { call: EFFECT_ALLOW } }",
          "",
        ].join("\n"),
      );
      const result = await compileCerbosPolicies(failing);
      expect(result.exitCode).not.toBe(0);
      expect(result.overallResult).toBe("RESULT_FAILED");
      expect(result.testsCount).toBe(1);
    });
  });

  it("names what to install when the binary is missing", () => {
    expect(() => cerbosBinary({ CERBOS_BINARY: "/nonexistent/cerbos" })).toThrow(/CERBOS_BINARY/);
    expect(cerbosBinary({})).toMatch(/cerbos-linux-x64|cerbos-/);
  });
});
