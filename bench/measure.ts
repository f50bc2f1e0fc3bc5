/**
 * Side-by-side measurement: a baseline and a subject run in alternating rounds of one process, so
 * drift (CPU frequency, other load on the machine, JIT state, GC pressure) hits both alike. The
 * order inside a round rotates too, so no side always runs right after another.
 */
import { performance } from "node:perf_hooks";

/** Something timed: one call runs one batch of work. */
export type Work = () => Promise<unknown> | undefined;

/** One side of a comparison: a batch of work and how many operations it holds. */
export interface Side {
  readonly run: Work;
  /** Operations in one batch; a sample is the batch time divided by it. @defaultValue 1 */
  readonly per?: number;
  /**
   * Batches run (and sampled) back to back in each round, for a side much faster than the others.
   * @defaultValue 1
   */
  readonly batches?: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Times one run of `work`, in milliseconds. */
export async function time(work: Work): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/** Options of {@link interleave}. */
export interface InterleaveOptions {
  /** Rounds whose samples are thrown away (JIT warm-up, connection pools, caches). */
  readonly warmup: number;
  /** Rounds kept; each gives one sample per side. */
  readonly rounds: number;
  /** Runs before every batch, untimed (resetting a fake's records, for instance). */
  readonly between?: () => Promise<void> | void;
}

/** Samples of every side, in milliseconds per operation. */
export type Samples = Record<string, number[]>;

/**
 * Runs the sides in alternating rounds (the order rotates each round) and returns each side's
 * samples: the batch time divided by the side's `per`.
 */
export async function interleave(
  sides: Readonly<Record<string, Side>>,
  options: InterleaveOptions,
): Promise<Samples> {
  const names = Object.keys(sides);
  const samples: Samples = Object.fromEntries(names.map((n) => [n, [] as number[]]));
  for (let round = 0; round < options.warmup + options.rounds; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length] as string;
      const side = sides[name] as Side;
      for (let b = 0; b < (side.batches ?? 1); b++) {
        await options.between?.();
        const ms = await time(side.run);
        if (round >= options.warmup) samples[name]?.push(ms / (side.per ?? 1));
      }
    }
  }
  return samples;
}

/** Medians of paired samples' ratios (subject / baseline of the same round). */
export function pairedRatio(baseline: readonly number[], subject: readonly number[]): number {
  return median(baseline.map((b, i) => (subject[i] as number) / b));
}

/** Runs `fn` over every item with at most `limit` calls in flight. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Repeats `fn` `times` times in sequence. */
export function repeat(times: number, fn: () => Promise<unknown>): Work {
  return async () => {
    for (let i = 0; i < times; i++) await fn();
  };
}

/** Milliseconds as a readable duration. */
export function formatMs(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(1)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** A rate as a readable number. */
export function formatRate(perSecond: number, unit: string): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M ${unit}/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)} k ${unit}/s`;
  return `${perSecond.toFixed(0)} ${unit}/s`;
}

/** Rounds to a few significant digits for results.json. */
export function round(value: number, digits = 4): number {
  return Number.isFinite(value) ? Number(value.toPrecision(digits)) : value;
}
