/**
 * The official MCP conformance suite, run twice against each everything server on loopback: as it
 * is, then guarded by mcp-pdp (`authorize()` on SDK 1.x, `authorizeFactory()` on SDK v2) with a
 * local policy that allows everything.
 * With every request allowed the guard must be invisible, so whatever passes unguarded (computed
 * here, never listed) must pass guarded; a regression names the scenario and the checks it lost.
 */
import { fileURLToPath } from "node:url";
import { fixedIdentity } from "@mcp-pdp/core";
import { memoryAuditSink } from "@mcp-pdp/core/testing";
import { localPdp } from "@mcp-pdp/local";
import { afterAll, describe, expect, it } from "vitest";
import { passingChecks, passingScenarios, regressions, runConformance } from "./src/runner.ts";
import { type Hosted, serveEverything } from "./src/serve.ts";
import { serveEverythingV2 } from "./src/serve-v2.ts";

const POLICY = fileURLToPath(new URL("allow-all.yaml", import.meta.url));

/**
 * Each run: a server, the runner's spec version, and floors that keep a broken runner or host from
 * making the comparison vacuous. 2025-11-25 is the last version with the `initialize` handshake and
 * sessions; 2026-07-28 is stateless (per-request `_meta`, `server/discover`, `input_required`
 * results), which only SDK v2 speaks. v2 serves both eras from one `createMcpHandler`, its legacy
 * side statelessly, so server-to-client requests (sampling, elicitation) cannot complete there.
 * The floors sit below what each server passes unguarded: SDK 1.x in the legacy era 33 of 33
 * scenarios and 84 checks; SDK v2 in the legacy era 29 of 33 and 63 checks, in the modern era 40
 * of 40 and 136 checks.
 */
const RUNS = [
  {
    name: "the SDK 1.x server in the legacy initialize era (2025-11-25)",
    serve: serveEverything,
    specVersion: "2025-11-25",
    minScenarios: 30,
    minChecks: 75,
  },
  {
    name: "the SDK v2 server in the legacy initialize era (2025-11-25)",
    serve: serveEverythingV2,
    specVersion: "2025-11-25",
    minScenarios: 26,
    minChecks: 55,
  },
  {
    name: "the SDK v2 server in the stateless server/discover era (2026-07-28)",
    serve: serveEverythingV2,
    specVersion: "2026-07-28",
    minScenarios: 37,
    minChecks: 125,
  },
] as const;

// The local engine as a user runs it: it decides in the same tick, as every guarded request then
// reaches the server (and the SDK's own answers keep their HTTP status).
const pdp = localPdp({ files: [POLICY] });
const audit = memoryAuditSink();
const GUARD = {
  pdp,
  identity: fixedIdentity("conformance-client"),
  mapping: { serverName: "everything" },
  audit,
};
const hosts: Hosted[] = [];

afterAll(async () => {
  await Promise.all(hosts.map((h) => h.close()));
  await pdp.close?.();
});

describe("the official conformance suite against the everything servers, unguarded and guarded with an allow-all policy", () => {
  for (const run of RUNS) {
    it(`against ${run.name}, every scenario and check that passes unguarded also passes guarded`, async () => {
      const unguarded = await run.serve();
      const guarded = await run.serve(GUARD);
      hosts.push(unguarded, guarded);
      audit.clear();
      const before = await runConformance(unguarded.url, run.specVersion);
      const after = await runConformance(guarded.url, run.specVersion);

      const scenarios = passingScenarios(before);
      const checks = passingChecks(before);
      console.log(
        `${run.name} (servers on Node ${process.version}, runner on Node 22): ${before.size} scenarios run; passing unguarded ${scenarios.length} ` +
          `(${checks.length} checks), guarded ${passingScenarios(after).length} (${passingChecks(after).length} checks)`,
      );
      expect(scenarios.length, "scenarios passing unguarded").toBeGreaterThanOrEqual(
        run.minScenarios,
      );
      expect(checks.length, "checks passing unguarded").toBeGreaterThanOrEqual(run.minChecks);
      // The guard really sat in the path: the PDP decided calls, reads and prompt gets.
      const methods = new Set(audit.events.map((e) => e.method));
      expect([...methods]).toEqual(
        expect.arrayContaining(["tools/call", "resources/read", "prompts/get"]),
      );
      expect(audit.events.length).toBeGreaterThan(0);

      expect(regressions(before, after), "regressed when guarded").toEqual([]);
    });
  }
});
