import { describe, expect, it } from "vitest";

describe("@mcp-pdp/cli public surface", () => {
  it("exports exactly the command, the proxy building blocks and their constants", async () => {
    const mod = await import("../src/index.js");
    expect(Object.keys(mod).sort()).toEqual([
      "ADAPTERS",
      "EXIT",
      "PDP_SECRET_VARIABLES",
      "UsageError",
      "exitCodeOf",
      "main",
      "openBridge",
      "remotePdpFromEnv",
      "runHttpProxy",
      "runStdioProxy",
      "starterPolicy",
    ]);
  });

  it("runs main without touching the process's own streams when given an io", async () => {
    const { main, EXIT } = await import("../src/index.js");
    const { PassThrough } = await import("node:stream");
    const out = new PassThrough();
    let text = "";
    out.on("data", (d: Buffer) => (text += d.toString()));
    expect(await main(["--version"], { stdout: out, stderr: new PassThrough(), env: {} })).toBe(
      EXIT.ok,
    );
    expect(text).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
