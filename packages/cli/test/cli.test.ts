import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EXIT } from "../src/index.js";
import { CLI, NODE_FLAGS, runCli, runMain } from "./helpers.js";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  version: string;
  bin: Record<string, string>;
};

describe("mcp-pdp command line", () => {
  it("prints the command list for --help and exits 0", async () => {
    const run = await runMain(["--help"]);
    expect(run.code).toBe(0);
    for (const command of ["init", "validate", "check", "proxy"]) {
      expect(run.stdout).toContain(command);
    }
    expect(run.stderr).toBe("");
  });

  it("prints each command's help for <command> --help and help <command>", async () => {
    for (const [command, phrase] of [
      ["init", "Writes a starter policy"],
      ["validate", "Loads policy files"],
      ["check", "Decides one MCP request"],
      ["proxy", "Secures an existing stdio MCP server"],
    ] as const) {
      const flag = await runMain([command, "--help"]);
      expect(flag.code).toBe(0);
      expect(flag.stdout).toContain(phrase);
      const topic = await runMain(["help", command]);
      expect(topic.stdout).toBe(flag.stdout);
    }
  });

  it("prints the package version for --version and -v", async () => {
    expect((await runMain(["--version"])).stdout.trim()).toBe(pkg.version);
    expect((await runMain(["-v"])).stdout.trim()).toBe(pkg.version);
  });

  it("rejects an unknown command with exit code 2 and names it", async () => {
    const run = await runMain(["deploy"]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain('unknown command "deploy"');
    expect(run.stderr).toContain("mcp-pdp --help");
    expect(run.stdout).toBe("");
  });

  it("rejects an unknown option with exit code 2, naming the command and the option", async () => {
    const run = await runMain(["check", "--polcy", "x.yaml", "tools/list"]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain("check: unknown option --polcy");
    expect(run.stderr).toContain("mcp-pdp check --help");
    const global = await runMain(["--verbose"]);
    expect(global.code).toBe(EXIT.usage);
    expect(global.stderr).toContain("unknown option --verbose");
  });

  it("rejects an option without its value with exit code 2", async () => {
    const run = await runMain(["check", "tools/list", "--policy"]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain("option --policy needs a value");
  });

  it("prints the usage on stderr with exit code 2 when no command is given", async () => {
    const run = await runMain([]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain("Usage: mcp-pdp <command>");
  });

  it("declares the mcp-pdp bin as a committed shim that runs the compiled command", () => {
    expect(pkg.bin).toEqual({ "mcp-pdp": "./bin/mcp-pdp.js" });
    // The shim exists before any build, so installing a fresh clone can link it.
    const shim = readFileSync(new URL("../bin/mcp-pdp.js", import.meta.url), "utf8");
    expect(shim.startsWith("#!/usr/bin/env node\n")).toBe(true);
    expect(shim).toMatch(/^import "\.\.\/dist\/cli\.js";$/m);
  });
});

describe("mcp-pdp as a process", () => {
  it("exits with the command's code and writes errors on stderr only", async () => {
    const ok = await runCli(["--version"]);
    expect(ok).toMatchObject({ code: 0, stderr: "" });
    expect(ok.stdout.trim()).toBe(pkg.version);
    const bad = await runCli(["frobnicate"]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toContain('unknown command "frobnicate"');
  });

  it("reports a bad environment value in one line naming the variable, without a stack trace", async () => {
    const run = await runCli(["check", "--policy", "p.yaml", "tools/list"], {
      env: { MCP_PDP_IDENTITY_ROLES: "[not json" },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("MCP_PDP_IDENTITY_ROLES");
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it("adds the stack trace when MCP_PDP_DEBUG=1", async () => {
    const run = await runCli(["check", "--policy", "p.yaml", "tools/list"], {
      env: { MCP_PDP_IDENTITY_ROLES: "[not json", MCP_PDP_DEBUG: "1" },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("MCP_PDP_IDENTITY_ROLES");
    expect(run.stderr).toMatch(/\n\s+at /);
  });

  it("stops quietly when the reader of its output goes away", async () => {
    const { spawn } = await import("node:child_process");
    const child = spawn(process.execPath, [...NODE_FLAGS, CLI, "--help"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(0);
    expect(stderr).toBe("");
  });
});
