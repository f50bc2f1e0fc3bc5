/**
 * The "write in one folder only" rule that examples/proxy/README.md teaches, taken from the
 * README itself: it must keep writes inside the folder, `..` or not.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Subject, mapRequest, resolveMapping } from "@mcp-pdp/core";
import { describe, expect, it } from "vitest";
import { localPdp, parsePolicy } from "../src/index.js";

const readme = readFileSync(
  fileURLToPath(new URL("../../../examples/proxy/README.md", import.meta.url)),
  "utf8",
);

/** The YAML block after "To let users write in one folder only". */
function taughtRule(): string {
  const at = readme.indexOf("To let users write in one folder only");
  expect(at).toBeGreaterThan(-1);
  const block = /```yaml\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block?.[1]) throw new Error("no YAML block after the sentence");
  return block[1];
}

const mapping = resolveMapping({ serverName: "filesystem" });
const alice: Subject = { id: "alice", authenticated: true, roles: ["user"] };

describe("examples/proxy: write in one folder only", () => {
  const rule = taughtRule();
  const pdp = localPdp({ policies: parsePolicy(`rules:\n${rule.replace(/^/gm, "  ")}`) });
  const write = (path: unknown) =>
    pdp.decide({
      subject: alice,
      ...mapRequest("tools/call", { name: "write_file", arguments: { path } }, mapping),
    }).allow;

  it("compares paths with path_within, never starts_with", () => {
    expect(rule).toContain("op: path_within");
    expect(readme).not.toMatch(/op: starts_with/);
  });

  it.each([
    ["/Users/alice/notes/today.md", true],
    ["/Users/alice/notes", true],
    ["/Users/alice/notes/./a.md", true],
    ["/Users/alice/notes//a.md", true],
    ["/Users/alice/notes/../outside.txt", false],
    ["/Users/alice/notes/../.ssh/authorized_keys", false],
    ["/Users/alice/notesX/a.md", false],
    ["notes/a.md", false],
    ["/Users/alice/notes/..\\outside.txt", false],
    [["/Users/alice/notes/a.md"], false],
  ])("write_file %j: %s", (path, allowed) => {
    expect(write(path)).toBe(allowed);
  });
});
