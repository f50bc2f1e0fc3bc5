/**
 * Figures below the MCP layer: the local engine against casbin and Cedar, single-flight in the
 * cache, the Permit adapter against the official `permitio` client, and what batching costs a
 * caller that checks one thing at a time.
 */
import type { AuthorizationRequest, PolicyDecisionPoint, Subject } from "@mcp-pdp/core";
import { Authorizer, withBatching, withCache } from "@mcp-pdp/core";
import { permitPdp, toPermitQuery } from "@mcp-pdp/permit";
import { Permit } from "permitio";
import { engines, workload } from "./engines.js";
import { API_KEY, SERVER_NAME, permitPolicy, pick, prng } from "./fixtures.js";
import {
  formatMs,
  formatRate,
  interleave,
  median,
  pairedRatio,
  pool,
  round,
  time,
} from "./measure.js";
import type { RemotePdp } from "./remote.js";
import type { Figure } from "./report.js";

const ENGINE_REQUESTS = 10_000;

/**
 * Decisions per second of the local engine (`check`, as the guard calls it) against the faster of
 * casbin (`enforceSync`) and Cedar (`statefulIsAuthorized` on a preparsed policy set), on the same
 * policy and requests, after checking that all three decide every request alike.
 */
export async function engineVsPeers(rounds: number): Promise<Figure> {
  const e = await engines();
  const w = workload(ENGINE_REQUESTS);
  let allows = 0;
  const disagreements: string[] = [];
  for (let i = 0; i < ENGINE_REQUESTS; i++) {
    const request = w.local[i] as AuthorizationRequest;
    const ours = (await e.local.check(request)).allow;
    const casbin = e.casbin(...(w.casbin[i] as Parameters<typeof e.casbin>));
    const cedar = e.cedar(w.cedar[i] as Parameters<typeof e.cedar>[0]);
    if (ours) allows++;
    if (ours !== casbin || ours !== cedar) {
      disagreements.push(
        `request ${i} (${request.subject.id} ${JSON.stringify(request.subject.attributes)} ` +
          `roles ${String(request.subject.roles)} -> ${request.action}): ` +
          `local ${ours}, casbin ${casbin}, cedar ${cedar}`,
      );
    }
  }
  if (disagreements.length > 0) {
    throw new Error(
      `engine-vs-peers: the engines disagree on ${disagreements.length} of ${ENGINE_REQUESTS} requests:\n` +
        disagreements.slice(0, 10).join("\n"),
    );
  }
  const samples = await interleave(
    {
      "local check": {
        run: async () => {
          for (const r of w.local) await e.local.check(r);
        },
        per: ENGINE_REQUESTS,
      },
      "local decide": {
        run: () => {
          for (const r of w.local) e.local.decide(r);
          return undefined;
        },
        per: ENGINE_REQUESTS,
      },
      casbin: {
        run: () => {
          for (const r of w.casbin) e.casbin(...r);
          return undefined;
        },
        per: ENGINE_REQUESTS,
      },
      cedar: {
        run: () => {
          for (const r of w.cedar) e.cedar(r);
          return undefined;
        },
        per: ENGINE_REQUESTS,
      },
    },
    { warmup: 1, rounds },
  );
  const rate = (name: string) => 1000 / median(samples[name] ?? []);
  const ours = rate("local check");
  const sync = rate("local decide");
  const casbin = rate("casbin");
  const cedar = rate("cedar");
  const peer = Math.max(casbin, cedar);
  return {
    name: "engine-vs-peers",
    baseline: `${formatRate(peer, "dec")} (${casbin >= cedar ? "casbin" : "cedar"})`,
    subject: formatRate(ours, "dec"),
    ratio: ours / peer,
    target: 10,
    better: "higher",
    details: {
      decisionsPerSecond: {
        localCheck: round(ours),
        localDecideSync: round(sync),
        casbinEnforceSync: round(casbin),
        cedarStatefulIsAuthorized: round(cedar),
      },
      syncCoreRatio: round(sync / peer),
      requests: ENGINE_REQUESTS,
      allows,
      agreement: `${ENGINE_REQUESTS}/${ENGINE_REQUESTS}`,
      samples: samples.casbin?.length ?? 0,
    },
  };
}

/** A request as the guard builds it for a `tools/call` of `tool` by `subject`. */
function toolRequest(authorizer: Authorizer, subject: Subject, tool: string, i: number) {
  return authorizer.buildRequest("tools/call", { name: tool, arguments: { id: `n${i}` } }, subject);
}

const builder = new Authorizer({
  pdp: { name: "unused", check: () => Promise.reject(new Error("unused")) },
  audit: false,
  mapping: { serverName: SERVER_NAME },
});

/** PDP requests made by 1,000 concurrent identical checks through withCache. */
export async function singleflight(remote: RemotePdp): Promise<Figure> {
  const CHECKS = 1000;
  const subject: Subject = { id: "alice", authenticated: true, roles: ["user"] };
  const request = toolRequest(builder, subject, "read_note", 1);
  // A PDP slow enough that every check arrives while the first call is still running.
  await remote.latency(5);
  const count = async (cachedPdp: boolean): Promise<number> => {
    // Without the cache the 1,000 calls queue on the connection pool: no timeout may cut them.
    const permit = permitPdp({ url: remote.url, apiKey: API_KEY, timeoutMs: 60_000 });
    const pdp = cachedPdp ? withCache()(permit) : permit;
    await remote.reset();
    const decisions = await Promise.all(Array.from({ length: CHECKS }, () => pdp.check(request)));
    await pdp.close?.();
    const wrong = decisions.filter((d) => !d.allow || d.source === "error").length;
    if (wrong > 0) throw new Error(`singleflight: ${wrong} of ${CHECKS} checks were not allowed`);
    return (await remote.stats()).decisionRequests;
  };
  try {
    const without = await count(false);
    const withCacheRequests = await count(true);
    return {
      name: "singleflight",
      baseline: `${without} PDP requests (no cache)`,
      subject: `${withCacheRequests} PDP request${withCacheRequests === 1 ? "" : "s"}`,
      ratio: withCacheRequests,
      target: 1,
      better: "lower",
      details: { concurrentChecks: CHECKS, requestsWithoutCache: without, pdpLatencyMs: 5 },
    };
  } finally {
    await remote.latency(0);
  }
}

const PERMIT_CHECKS = 10_000;
const PERMIT_CONCURRENCY = 32;
/** Checks per timed batch: each side runs PERMIT_CHECKS / PERMIT_BATCH batches, alternating. */
const PERMIT_BATCH = 2_000;

/**
 * 10,000 checks at concurrency 32 through our Permit adapter and through the official `permitio`
 * client, against the same fake PDP: throughput ours / theirs.
 */
export async function permitVsPermitio(remote: RemotePdp): Promise<Figure> {
  const random = prng(7);
  const users = Array.from({ length: 100 }, (_, i): Subject => ({
    id: `user${i}`,
    authenticated: true,
    roles: [pick(["user", "guest"], random)],
  }));
  const tools = ["read_note", "search_notes", "write_note", "admin_purge", "admin_export"];
  const requests = Array.from({ length: PERMIT_CHECKS }, (_, i) =>
    toolRequest(builder, pick(users, random), pick(tools, random), i),
  );
  // permitio receives exactly the query our adapter puts on the wire.
  const queries = requests.map((r) => toPermitQuery(r));
  const expected = queries.map((q) => permitPolicy(q));

  // Ours in its documented configuration for this load: one keep-alive connection per caller.
  const ours = permitPdp({ url: remote.url, apiKey: API_KEY, connections: PERMIT_CONCURRENCY });
  // permitio at its fastest: no logging below errors, errors thrown (so none can pass as a deny).
  const theirs = new Permit({
    token: API_KEY,
    pdp: remote.url,
    log: { level: "error" },
    throwOnError: true,
  });

  const batches = Math.ceil(PERMIT_CHECKS / PERMIT_BATCH);
  let batch = 0;
  const counted = { ours: 0, permitio: 0 };
  const runSide = (side: "ours" | "permitio") => async () => {
    const offset = (batch++ % (2 * batches)) >> 1;
    const from = offset * PERMIT_BATCH;
    const slice = requests.slice(from, from + PERMIT_BATCH);
    const mismatches: number[] = [];
    await pool(slice, PERMIT_CONCURRENCY, async (request, j) => {
      const i = from + j;
      let allow: boolean;
      if (side === "ours") {
        const d = await ours.check(request);
        if (d.source === "error") throw new Error(`ours failed: ${d.reason ?? ""}`);
        allow = d.allow;
      } else {
        const q = queries[i]!;
        allow = await theirs.check(q.user, q.action, q.resource, q.context);
      }
      if (allow !== expected[i]) mismatches.push(i);
    });
    if (mismatches.length > 0) {
      throw new Error(`permit-vs-permitio: ${side} decided ${mismatches.length} checks wrongly`);
    }
    counted[side] += slice.length;
  };

  try {
    await remote.reset();
    // Warm-up: connections opened, JIT warm, on both clients (not timed, not counted).
    for (const side of ["ours", "permitio"] as const) await runSide(side)();
    batch = 0;
    counted.ours = 0;
    counted.permitio = 0;
    const before = await remote.stats();
    const samples: Record<"ours" | "permitio", number[]> = { ours: [], permitio: [] };
    for (let b = 0; b < batches; b++) {
      const order = b % 2 === 0 ? (["ours", "permitio"] as const) : (["permitio", "ours"] as const);
      for (const side of order) {
        const requestsBefore = (await remote.stats()).decisionRequests;
        const ms = await time(runSide(side));
        const sent = (await remote.stats()).decisionRequests - requestsBefore;
        // Every check must reach the PDP: no client-side caching, no skipped calls.
        if (sent !== PERMIT_BATCH) {
          throw new Error(
            `permit-vs-permitio: ${side} sent ${sent} requests for ${PERMIT_BATCH} checks`,
          );
        }
        samples[side].push(PERMIT_BATCH / (ms / 1000));
      }
    }
    const after = await remote.stats();
    const oursRate = median(samples.ours);
    const theirRate = median(samples.permitio);
    return {
      name: "permit-vs-permitio",
      baseline: formatRate(theirRate, "checks"),
      subject: formatRate(oursRate, "checks"),
      ratio: oursRate / theirRate,
      target: 2,
      better: "higher",
      details: {
        checksPerSecond: { ours: round(oursRate), permitio: round(theirRate) },
        checksPerSide: counted.ours,
        concurrency: PERMIT_CONCURRENCY,
        batchesPerSide: samples.ours.length,
        pdpRequests: after.decisionRequests - before.decisionRequests,
        decisionsVerified: counted.ours + counted.permitio,
        allowsPerBatch: expected.slice(0, PERMIT_BATCH).filter(Boolean).length,
      },
    };
  } finally {
    await ours.close();
  }
}

/** Checks per timed sample of `lone-check-batched`, each awaited before the next starts. */
const LONE_CHECKS = 50;

/**
 * A caller that awaits one check at a time, through `permitPdp` with and without `withBatching()`
 * in front, against the fake PDP over loopback HTTP: time with batching / time without. Batching
 * must cost such a caller nothing, since there is nothing to gather.
 */
export async function loneCheckBatched(remote: RemotePdp, rounds: number): Promise<Figure> {
  const random = prng(11);
  const users = Array.from({ length: 10 }, (_, i): Subject => ({
    id: `user${i}`,
    authenticated: true,
    roles: [pick(["user", "guest"], random)],
  }));
  const tools = ["read_note", "search_notes", "write_note", "admin_purge"];
  const requests = Array.from({ length: LONE_CHECKS }, (_, i) =>
    toolRequest(builder, pick(users, random), pick(tools, random), i),
  );
  const expected = requests.map((r) => permitPolicy(toPermitQuery(r)));
  const bare = permitPdp({ url: remote.url, apiKey: API_KEY });
  const batched = withBatching()(permitPdp({ url: remote.url, apiKey: API_KEY }));
  const sequence = (pdp: PolicyDecisionPoint, side: string) => async () => {
    for (let i = 0; i < LONE_CHECKS; i++) {
      const d = await pdp.check(requests[i] as AuthorizationRequest);
      if (d.source === "error" || d.allow !== expected[i]) {
        throw new Error(
          `lone-check-batched: ${side} decided check ${i} wrongly (${d.reason ?? ""})`,
        );
      }
    }
  };
  try {
    await remote.reset();
    const samples = await interleave(
      {
        bare: { run: sequence(bare, "bare"), per: LONE_CHECKS },
        batched: { run: sequence(batched, "batched"), per: LONE_CHECKS },
      },
      { warmup: 10, rounds },
    );
    const stats = await remote.stats();
    const sent = (rounds + 10) * 2 * LONE_CHECKS;
    // Every check reached the PDP, and each on its own: nothing was held back to be gathered.
    if (stats.decisionRequests !== sent || stats.bulkSizes.length > 0) {
      throw new Error(
        `lone-check-batched: ${sent} checks made ${stats.decisionRequests} requests, ${stats.bulkSizes.length} of them bulk`,
      );
    }
    const bareMs = median(samples.bare ?? []);
    const batchedMs = median(samples.batched ?? []);
    return {
      name: "lone-check-batched",
      baseline: formatMs(bareMs) + "/check",
      subject: formatMs(batchedMs) + "/check",
      ratio: batchedMs / bareMs,
      target: 1.1,
      better: "lower",
      details: {
        baselineMedianMs: round(bareMs),
        subjectMedianMs: round(batchedMs),
        pairedRatioMedian: round(pairedRatio(samples.bare ?? [], samples.batched ?? [])),
        samples: samples.bare?.length ?? 0,
        checksPerSample: LONE_CHECKS,
        pdpRequests: stats.decisionRequests,
      },
    };
  } finally {
    await bare.close();
    await batched.close?.();
  }
}
