/**
 * The official MCP conformance suite, run twice per protocol era against the same everything server
 * on loopback: as it is, then guarded by `authorize()` with a local policy that allows everything.
 * With every request allowed the guard must be invisible, so whatever passes unguarded (computed
 * here, never listed) must pass guarded; a regression names the scenario and the checks it lost.
 */
import { fileURLToPath } from "node:url";
import { fixedIdentity } from "@mcp-pdp/core";
import { memoryAuditSink, recordingPdp } from "@mcp-pdp/core/testing";
import { localPdp } from "@mcp-pdp/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { passingChecks, passingScenarios, regressions, runConformance } from "./src/runner.ts";
import { type Hosted, serveEverything } from "./src/serve.ts";

const POLICY = fileURLToPath(new URL("allow-all.yaml", import.meta.url));

/**
 * The runner's spec versions: 2025-11-25 is the last one with the `initialize` handshake and
 * sessions; 2026-07-28 is stateless (per-request `_meta`, `server/discover`). The floors keep a
 * broken runner or host from making the comparison vacuous: they sit below what an SDK 1.x server
 * passes unguarded (33 of 33 scenarios and 84 checks; on the 2026 wire, which SDK 1.x does not
 * speak, 6 of 40 scenarios and 55 checks, the rest failing on fields such as `resultType`).
 */
const ERAS = [
  {
    name: "the legacy initialize era (2025-11-25)",
    specVersion: "2025-11-25",
    minScenarios: 25,
    minChecks: 60,
  },
  {
    name: "the stateless server/discover era (2026-07-28)",
    specVersion: "2026-07-28",
    minScenarios: 4,
    minChecks: 40,
  },
] as const;

const pdp = recordingPdp(localPdp({ files: [POLICY] }));
const audit = memoryAuditSink();
let unguarded: Hosted;
let guarded: Hosted;

beforeAll(async () => {
  unguarded = await serveEverything();
  guarded = await serveEverything({
    pdp,
    identity: fixedIdentity("conformance-client"),
    mapping: { serverName: "everything" },
    audit,
  });
});

afterAll(async () => {
  await Promise.all([unguarded.close(), guarded.close()]);
  await pdp.close?.();
});

describe("the official conformance suite against the everything server, unguarded and guarded with an allow-all policy", () => {
  for (const era of ERAS) {
    it(`in ${era.name}, every scenario and check that passes unguarded also passes guarded`, async () => {
      pdp.reset();
      audit.clear();
      const before = await runConformance(unguarded.url, era.specVersion);
      const after = await runConformance(guarded.url, era.specVersion);

      const scenarios = passingScenarios(before);
      const checks = passingChecks(before);
      console.log(
        `${era.specVersion} (servers on Node ${process.version}, runner on Node 22): ${before.size} scenarios run; passing unguarded ${scenarios.length} ` +
          `(${checks.length} checks), guarded ${passingScenarios(after).length} (${passingChecks(after).length} checks)`,
      );
      expect(scenarios.length, "scenarios passing unguarded").toBeGreaterThanOrEqual(
        era.minScenarios,
      );
      expect(checks.length, "checks passing unguarded").toBeGreaterThanOrEqual(era.minChecks);
      // The guard really sat in the path: the PDP decided calls, reads and prompt gets.
      const methods = new Set(pdp.requests.map((r) => r.operation.method));
      expect([...methods]).toEqual(
        expect.arrayContaining(["tools/call", "resources/read", "prompts/get"]),
      );
      expect(audit.events.length).toBeGreaterThan(0);

      expect(regressions(before, after), "regressed when guarded").toEqual([]);
    });
  }
});
