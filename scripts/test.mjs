// `pnpm test`: lint, typecheck and test every workspace package through turbo, one task at a time
// (the suites start real servers; two cores are enough for one), then print one closing line.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";

const dirs = ["test", "test/mcp-conformance", "bench"];
for (const group of ["packages", "examples"]) {
  if (existsSync(group)) for (const d of readdirSync(group)) dirs.push(`${group}/${d}`);
}
for (const d of dirs) rmSync(`${d}/.test-report.json`, { force: true });
const turbo = spawnSync(
  "pnpm",
  ["exec", "turbo", "run", "lint", "typecheck", "test", "--concurrency=1", "--continue", ...process.argv.slice(2)],
  { stdio: "inherit" },
);
const summary = spawnSync(process.execPath, ["scripts/test-summary.mjs"], { stdio: "inherit" });
process.exit(turbo.status || summary.status || 0);
