/**
 * Runs every figure (or those named on the command line), prints the table and writes
 * results.json. Exits 0 when a target is missed: this is a measurement, not a test. It exits 1
 * only when a figure could not be measured (engines that disagree, a client that fails).
 *
 *   pnpm bench                       all figures
 *   pnpm bench call-local list-cached   some of them
 */
import { fileURLToPath } from "node:url";
import { engineVsPeers, loneCheckBatched, permitVsPermitio, singleflight } from "./figures-pdp.js";
import { callLocal, callRemoteCached, listBatched, listCached } from "./figures-mcp.js";
import { type RemotePdp, startRemotePdp } from "./remote.js";
import { type Figure, passes, table, writeResults } from "./report.js";

type Runner = (remote: RemotePdp) => Promise<Figure>;

const FIGURES: Record<string, Runner> = {
  "call-local": () => callLocal(1000),
  "call-remote-cached": (remote) => callRemoteCached(remote, 1000),
  "list-batched": (remote) => listBatched(remote, 3),
  "list-cached": (remote) => listCached(remote, 200),
  "engine-vs-peers": () => engineVsPeers(3),
  singleflight: (remote) => singleflight(remote),
  "permit-vs-permitio": (remote) => permitVsPermitio(remote),
  "lone-check-batched": (remote) => loneCheckBatched(remote, 200),
};

const wanted = process.argv.slice(2).filter((a) => a !== "--");
const unknown = wanted.filter((name) => !(name in FIGURES));
if (unknown.length > 0) {
  console.error(
    `unknown figure ${unknown.join(", ")}; figures: ${Object.keys(FIGURES).join(", ")}`,
  );
  process.exit(2);
}
const names = wanted.length > 0 ? wanted : Object.keys(FIGURES);

const started = performance.now();
const remote = await startRemotePdp();
const figures: Figure[] = [];
try {
  for (const name of names) {
    process.stdout.write(`${name} ... `);
    const t = performance.now();
    const figure = await (FIGURES[name] as Runner)(remote);
    figures.push(figure);
    console.log(`${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
} finally {
  await remote.close();
}

console.log(`\n${table(figures)}\n`);
const missed = figures.filter((f) => !passes(f));
console.log(
  missed.length === 0
    ? `All ${figures.length} targets met.`
    : `Missed ${missed.length} of ${figures.length} targets: ${missed.map((f) => f.name).join(", ")}.`,
);
console.log(`Total ${((performance.now() - started) / 1000).toFixed(1)} s.`);

if (wanted.length === 0) {
  writeResults(fileURLToPath(new URL("./results.json", import.meta.url)), figures);
  console.log("Wrote bench/results.json.");
} else {
  console.log("Some figures only: results.json left as it was.");
}
