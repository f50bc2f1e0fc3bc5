/**
 * Side-by-side measurement of the two ways to talk to Cerbos over HTTP, against the real server
 * (the binary of @cerbos/cerbos-linux-x64) loaded with the example policies:
 *
 * - `undici`: this package's adapter, `cerbosPdp()`, on core's JsonHttpClient (one undici
 *   keep-alive pool, per-request timeout, zod validation);
 * - `@cerbos/http`: Cerbos' own client (global fetch), fed the same translated principal and
 *   resources, with the same per-request timeout through an AbortSignal.
 *
 * Both sides translate the same neutral requests with `toCerbos`, so only the transport and the
 * answer handling differ. Rounds alternate between the two to spread machine noise evenly.
 *
 *   pnpm --filter @mcp-pdp/cerbos bench:transport
 */
import { fileURLToPath } from "node:url";
import { HTTP } from "@cerbos/http";
import {
  type AuthorizationRequest,
  type Decision,
  mapListItem,
  mapRequest,
  resolveMapping,
} from "@mcp-pdp/core";
import { cerbosPdp, resolveCerbosMapping, toCerbos } from "./src/index.js";
import { startCerbosServer } from "./src/testing.js";

const POLICIES = fileURLToPath(new URL("../../examples/local-server/cerbos", import.meta.url));
const TIMEOUT_MS = 1000;

interface Contender {
  readonly name: string;
  check(request: AuthorizationRequest): Promise<Decision>;
  checkMany(requests: readonly AuthorizationRequest[]): Promise<Decision[]>;
  close(): Promise<void>;
}

function undiciContender(url: string): Contender {
  const pdp = cerbosPdp({ url, timeoutMs: TIMEOUT_MS });
  return {
    name: "undici (cerbosPdp)",
    check: (r) => pdp.check(r),
    checkMany: (rs) => pdp.checkMany?.(rs) ?? Promise.all(rs.map((r) => pdp.check(r))),
    close: () => pdp.close?.() ?? Promise.resolve(),
  };
}

/** The SDK's request type; attribute values are JSON values on both sides. */
type SdkRequest = Parameters<HTTP["checkResources"]>[0];

function sdkContender(url: string): Contender {
  const client = new HTTP(url);
  const mapping = resolveCerbosMapping();
  const checkMany = async (requests: readonly AuthorizationRequest[]): Promise<Decision[]> => {
    const inputs = requests.map((r) => toCerbos(r, mapping));
    const first = inputs[0];
    if (!first) return [];
    try {
      const response = await client.checkResources(
        {
          principal: { ...first.principal, roles: [...first.principal.roles] },
          resources: inputs.map((i) => ({
            resource: i.entry.resource,
            actions: [...i.entry.actions],
          })),
          includeMetadata: true,
        } as SdkRequest,
        { signal: AbortSignal.timeout(TIMEOUT_MS) },
      );
      return inputs.map((input, i) => {
        const result = response.results[i];
        const allowed = result?.isAllowed(input.action);
        return allowed === undefined
          ? { allow: false, source: "error", errorCode: "PDP_BAD_RESPONSE" }
          : {
              allow: allowed,
              source: "pdp",
              ...(response.cerbosCallId ? { decisionId: response.cerbosCallId } : {}),
            };
      });
    } catch {
      return inputs.map(() => ({ allow: false, source: "error", errorCode: "PDP_ERROR" }));
    }
  };
  return {
    name: "@cerbos/http",
    check: async (r) => (await checkMany([r]))[0] ?? { allow: false, source: "error" },
    checkMany,
    close: () => Promise.resolve(),
  };
}

const notes = resolveMapping({ serverName: "notes" });
const user = { id: "uma", roles: ["user"], authenticated: true };
const singles: AuthorizationRequest[] = ["read_note", "delete_note", "search_notes"].map(
  (name) => ({
    subject: user,
    ...mapRequest("tools/call", { name, arguments: { id: "1", query: "x" } }, notes),
  }),
);
const page: AuthorizationRequest[] = Array.from({ length: 50 }, (_, i) => {
  const mapped = mapListItem("tools/list", { name: `tool_${i}` }, notes);
  if (!mapped) throw new Error("unmappable item");
  return { subject: user, ...mapped };
});

interface Sample {
  readonly ms: number[];
  readonly wallMs: number;
  readonly ops: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function sequential(n: number, run: (i: number) => Promise<unknown>): Promise<Sample> {
  const ms: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await run(i);
    ms.push(performance.now() - t);
  }
  return { ms, wallMs: performance.now() - start, ops: n };
}

async function concurrent(
  n: number,
  inFlight: number,
  run: (i: number) => Promise<unknown>,
): Promise<Sample> {
  const ms: number[] = [];
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const t = performance.now();
      await run(i);
      ms.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { ms, wallMs: performance.now() - start, ops: n };
}

interface Scenario {
  readonly name: string;
  readonly unit: string;
  run(c: Contender): Promise<Sample>;
}

const scenarios: Scenario[] = [
  {
    name: "single check, one at a time",
    unit: "checks/s",
    run: (c) =>
      sequential(2000, (i) => c.check(singles[i % singles.length] as AuthorizationRequest)),
  },
  {
    name: "single checks, 32 in flight",
    unit: "checks/s",
    run: (c) =>
      concurrent(4000, 32, (i) => c.check(singles[i % singles.length] as AuthorizationRequest)),
  },
  {
    name: "list page of 50 items (one CheckResources call)",
    unit: "pages/s",
    run: (c) => sequential(400, () => c.checkMany(page)),
  },
];

async function main(): Promise<void> {
  const server = await startCerbosServer({ policyDir: POLICIES });
  const contenders = [undiciContender(server.url), sdkContender(server.url)];
  try {
    // Both must agree before anything is timed.
    for (const c of contenders) {
      const decisions = await c.checkMany(singles);
      const got = decisions.map((d) => `${d.source}:${String(d.allow)}`).join(",");
      if (got !== "pdp:true,pdp:false,pdp:true") throw new Error(`${c.name} answered ${got}`);
    }
    for (const c of contenders) {
      await sequential(300, (i) => c.check(singles[i % singles.length] as AuthorizationRequest));
      await sequential(50, () => c.checkMany(page));
    }
    const rounds = 3;
    console.log(`Cerbos ${server.url}, node ${process.version}, ${rounds} alternating rounds\n`);
    for (const scenario of scenarios) {
      const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]));
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? contenders : [...contenders].reverse();
        for (const c of order) samples.get(c.name)?.push(await scenario.run(c));
      }
      console.log(scenario.name);
      const rates: number[] = [];
      for (const c of contenders) {
        const runs = samples.get(c.name) ?? [];
        const perRound = runs.map((s) => (s.ops / s.wallMs) * 1000).sort((a, b) => a - b);
        const rate = perRound[Math.floor(perRound.length / 2)] ?? NaN;
        rates.push(rate);
        const all = runs.flatMap((s) => s.ms).sort((a, b) => a - b);
        console.log(
          `  ${c.name.padEnd(20)} ${rate.toFixed(0).padStart(7)} ${scenario.unit}` +
            `   p50 ${percentile(all, 50).toFixed(3)} ms   p99 ${percentile(all, 99).toFixed(3)} ms`,
        );
      }
      const [a = NaN, b = NaN] = rates;
      console.log(`  ratio undici / @cerbos/http: ${(a / b).toFixed(2)}x\n`);
    }
  } finally {
    await Promise.all(contenders.map((c) => c.close()));
    await server.close();
  }
}

await main();
