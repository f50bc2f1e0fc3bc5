/**
 * Figures over real MCP round trips: a bare server against the same server secured by the guard.
 */
import {
  type AuthorizationRequest,
  type CheckOptions,
  type Decision,
  type PolicyDecisionPoint,
  fixedIdentity,
  withCache,
} from "@mcp-pdp/core";
import { localPdp } from "@mcp-pdp/local";
import type { GuardOptions } from "@mcp-pdp/mcp";
import { permitPdp } from "@mcp-pdp/permit";
import { ALICE, API_KEY, SERVER_NAME, listToolNames } from "./fixtures.js";
import { callReadNote, connect, listTools, notesServer } from "./mcp.js";
import {
  formatMs,
  interleave,
  median,
  pairedRatio,
  repeat,
  round,
  type Samples,
} from "./measure.js";
import type { RemotePdp } from "./remote.js";
import type { Figure } from "./report.js";

/** The guard options every secured server of these figures shares, around `pdp`. */
function guard(pdp: PolicyDecisionPoint): GuardOptions {
  return {
    pdp,
    audit: false,
    identity: fixedIdentity(ALICE.id, { roles: ALICE.roles ?? [] }),
    mapping: { serverName: SERVER_NAME },
  };
}

/** A figure comparing per-operation times: ratio = median(ours) / median(baseline). */
function timeFigure(
  name: string,
  unit: string,
  samples: Samples,
  baselineName: string,
  subjectName: string,
  target: number,
  extra: Record<string, unknown> = {},
): Figure {
  const baseline = samples[baselineName] ?? [];
  const subject = samples[subjectName] ?? [];
  const b = median(baseline);
  const s = median(subject);
  return {
    name,
    baseline: `${formatMs(b)}/${unit}`,
    subject: `${formatMs(s)}/${unit}`,
    ratio: s / b,
    target,
    better: "lower",
    details: {
      baselineMedianMs: round(b),
      subjectMedianMs: round(s),
      pairedRatioMedian: round(pairedRatio(baseline, subject)),
      samples: baseline.length,
      ...extra,
    },
  };
}

/** Calls per timed batch of the call figures: short batches interleave finely. */
const CALL_BATCH = 20;

/** `tools/call` over the in-memory transport, guarded by the local engine, against bare. */
export async function callLocal(rounds: number): Promise<Figure> {
  const pdp = localPdp({
    policies: [
      {
        rules: [
          {
            name: "users-read-notes",
            effect: "allow",
            subjects: { roles: ["user"] },
            resources: { types: [SERVER_NAME] },
            actions: ["read-note"],
          },
        ],
      },
    ],
  });
  const bare = await connect(notesServer());
  const ours = await connect(notesServer(), guard(pdp));
  try {
    const samples = await interleave(
      {
        bare: { run: repeat(CALL_BATCH, () => callReadNote(bare.client)), per: CALL_BATCH },
        ours: { run: repeat(CALL_BATCH, () => callReadNote(ours.client)), per: CALL_BATCH },
      },
      { warmup: Math.ceil(rounds / 10), rounds },
    );
    return timeFigure("call-local", "call", samples, "bare", "ours", 1.1, {
      callsPerSample: CALL_BATCH,
    });
  } finally {
    await bare.close();
    await ours.close();
  }
}

/** `tools/call` guarded by the Permit adapter behind a warm cache, against bare. */
export async function callRemoteCached(remote: RemotePdp, rounds: number): Promise<Figure> {
  const permit = permitPdp({ url: remote.url, apiKey: API_KEY });
  const cached = withCache()(permit);
  const bare = await connect(notesServer());
  const ours = await connect(notesServer(), guard(cached));
  try {
    await remote.reset();
    await callReadNote(ours.client); // fills the cache
    const samples = await interleave(
      {
        bare: { run: repeat(CALL_BATCH, () => callReadNote(bare.client)), per: CALL_BATCH },
        ours: { run: repeat(CALL_BATCH, () => callReadNote(ours.client)), per: CALL_BATCH },
      },
      { warmup: Math.ceil(rounds / 10), rounds },
    );
    const stats = await remote.stats();
    // Warm means warm: the one PDP call is the one that filled the cache.
    if (stats.decisionRequests !== 1) {
      throw new Error(`call-remote-cached: the PDP was asked ${stats.decisionRequests} times`);
    }
    return timeFigure("call-remote-cached", "call", samples, "bare", "ours", 1.15, {
      callsPerSample: CALL_BATCH,
      pdpRequests: stats.decisionRequests,
      cache: cached.stats(),
    });
  } finally {
    await bare.close();
    await ours.close();
  }
}

/**
 * What the existing middlewares do with a list: one PDP call per item, in sequence. The PDP's bulk
 * call is hidden and `checkMany` asks `check` item by item.
 */
function oneByOne(pdp: PolicyDecisionPoint): PolicyDecisionPoint {
  return {
    name: `${pdp.name}-sequential`,
    check: (request, options) => pdp.check(request, options),
    async checkMany(requests: readonly AuthorizationRequest[], options?: CheckOptions) {
      const out: Decision[] = [];
      for (const request of requests) out.push(await pdp.check(request, options));
      return out;
    },
    close: () => pdp.close?.() ?? Promise.resolve(),
  };
}

const LIST_SIZE = 500;
/** The 500 tools minus the one in ten the policy hides. */
const VISIBLE = LIST_SIZE - LIST_SIZE / 10;

/** tools/list of 500 tools, a PDP adding 2 ms per HTTP request: per item in sequence / ours. */
export async function listBatched(remote: RemotePdp, rounds: number): Promise<Figure> {
  const names = listToolNames(LIST_SIZE);
  const sequential = await connect(
    notesServer(names),
    guard(oneByOne(permitPdp({ url: remote.url, apiKey: API_KEY }))),
  );
  const ours = await connect(
    notesServer(names),
    guard(permitPdp({ url: remote.url, apiKey: API_KEY })),
  );
  try {
    await remote.latency(2);
    const samples = await interleave(
      {
        sequential: { run: () => listTools(sequential.client, VISIBLE) },
        // Ours is some 50 times faster: several samples per round keep its median robust.
        ours: { run: () => listTools(ours.client, VISIBLE), batches: 10 },
      },
      { warmup: 1, rounds },
    );
    // One more list per side, untimed, to show what each one sends to the PDP.
    const sent = async (client: typeof ours.client) => {
      await remote.reset();
      await listTools(client, VISIBLE);
      return remote.stats();
    };
    const sentSequential = await sent(sequential.client);
    const sentOurs = await sent(ours.client);
    const seq = median(samples.sequential ?? []);
    const bulk = median(samples.ours ?? []);
    return {
      name: "list-batched",
      baseline: `${formatMs(seq)}/list`,
      subject: `${formatMs(bulk)}/list`,
      ratio: seq / bulk,
      target: 50,
      better: "higher",
      details: {
        baselineMedianMs: round(seq),
        subjectMedianMs: round(bulk),
        samples: { sequential: samples.sequential?.length, ours: samples.ours?.length },
        pdpLatencyMs: 2,
        items: LIST_SIZE,
        visible: VISIBLE,
        pdpRequestsPerList: {
          sequential: sentSequential.decisionRequests,
          ours: sentOurs.decisionRequests,
        },
        bulkSizes: sentOurs.bulkSizes,
      },
    };
  } finally {
    await remote.latency(0);
    await sequential.close();
    await ours.close();
  }
}

/** The 500-tool list behind a warm cache, against the bare server. */
export async function listCached(remote: RemotePdp, rounds: number): Promise<Figure> {
  const names = listToolNames(LIST_SIZE);
  const cached = withCache()(permitPdp({ url: remote.url, apiKey: API_KEY }));
  const bare = await connect(notesServer(names));
  const ours = await connect(notesServer(names), guard(cached));
  try {
    await listTools(ours.client, VISIBLE); // fills the cache
    await remote.reset();
    const samples = await interleave(
      {
        bare: { run: () => listTools(bare.client, LIST_SIZE) },
        ours: { run: () => listTools(ours.client, VISIBLE) },
      },
      { warmup: Math.ceil(rounds / 10), rounds },
    );
    const stats = await remote.stats();
    if (stats.decisionRequests !== 0) {
      throw new Error(
        `list-cached: the warm cache still asked the PDP ${stats.decisionRequests} times`,
      );
    }
    return timeFigure("list-cached", "list", samples, "bare", "ours", 1.2, {
      items: LIST_SIZE,
      visible: VISIBLE,
      pdpRequests: stats.decisionRequests,
    });
  } finally {
    await bare.close();
    await ours.close();
  }
}
