// Sums the vitest JSON reports written by every workspace package into one closing line.
import { readFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const dirs = ["test", "test/mcp-conformance", "bench"];
for (const group of ["packages", "examples"]) {
  const base = join(root, group);
  if (existsSync(base)) for (const d of readdirSync(base)) dirs.push(join(group, d));
}
let passed = 0;
let failed = 0;
let skipped = 0;
const rows = [];
for (const d of dirs) {
  const file = join(root, d, ".test-report.json");
  if (!existsSync(file)) continue;
  const r = JSON.parse(readFileSync(file, "utf8"));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  rows.push(`${d.padEnd(28)} ${String(r.numPassedTests).padStart(5)} passed ${String(r.numFailedTests).padStart(3)} failed`);
}
console.log(rows.join("\n"));
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
