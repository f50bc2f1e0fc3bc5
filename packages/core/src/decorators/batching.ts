import { safeCheck, safeCheckMany } from "../authorizer.js";
import type {
  AuthorizationRequest,
  CheckOptions,
  Decision,
  PdpDecorator,
  PolicyDecisionPoint,
} from "../model.js";
import { integerOption } from "../errors.js";
import { Limiter, errorDecision } from "../http.js";
import { abortedDecision, raceAbort } from "./internal.js";

/** Options of {@link withBatching}. */
export interface BatchingOptions {
  /**
   * How long the first check of a batch waits for others, in milliseconds.
   * @defaultValue `2`
   */
  readonly maxWaitMs?: number;
  /** Most requests in one `checkMany` of the inner PDP; a full batch is sent at once. @defaultValue `100` */
  readonly maxBatchSize?: number;
  /**
   * Most inner PDP calls running at once (batches, or single checks when the inner PDP has no
   * `checkMany`); further calls wait for a free slot.
   * @defaultValue `16`
   */
  readonly maxConcurrency?: number;
}

interface Batch {
  readonly controller: AbortController;
  /** Items still waiting for this batch's answer. */
  waiting: number;
}

interface Item {
  readonly request: AuthorizationRequest;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (decision: Decision) => void;
  readonly onAbort: () => void;
  batch?: Batch;
  aborted: boolean;
}

function chunks<T>(values: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += size) out.push(values.slice(i, i + size));
  return out;
}

/**
 * Gathers concurrent single checks into one `checkMany` of the inner PDP: the first check of a
 * batch waits up to `maxWaitMs` for others, and a batch is sent as soon as it holds
 * `maxBatchSize` requests. An inner PDP without `checkMany` gets a fan-out of single checks with
 * at most `maxConcurrency` running at once. A check whose signal fires drops out of its batch (the
 * inner call is aborted once no item waits for it) and resolves to an error deny with
 * `errorCode: "PDP_ABORTED"`. A failing batch gives every item an error deny; answers keep the
 * order of the requests.
 */
export function withBatching(options: BatchingOptions = {}): PdpDecorator {
  const maxWaitMs = integerOption("withBatching", "maxWaitMs", options.maxWaitMs, 2, 0, 60_000);
  const maxBatchSize = integerOption("withBatching", "maxBatchSize", options.maxBatchSize, 100, 1);
  const maxConcurrency = integerOption(
    "withBatching",
    "maxConcurrency",
    options.maxConcurrency,
    16,
    1,
  );
  return (inner) =>
    inner.checkMany
      ? bulkBatching(inner, maxWaitMs, maxBatchSize, maxConcurrency)
      : fanOut(inner, maxConcurrency);
}

function fanOut(inner: PolicyDecisionPoint, maxConcurrency: number): PolicyDecisionPoint {
  const limiter = new Limiter(maxConcurrency);
  const aborted = () => abortedDecision(inner.name);
  const check = async (request: AuthorizationRequest, opts?: CheckOptions): Promise<Decision> => {
    const signal = opts?.signal;
    if (!(await limiter.acquire(signal))) return aborted();
    const answer = safeCheck(inner, request, opts);
    // The slot is held until the inner call ends, even when its caller stopped waiting.
    void answer.then(() => {
      limiter.release();
    });
    return raceAbort(answer, signal, aborted);
  };
  return {
    name: inner.name,
    check,
    checkMany: (requests, opts) => Promise.all(requests.map((r) => check(r, opts))),
    close: () => inner.close?.() ?? Promise.resolve(),
  };
}

function bulkBatching(
  inner: PolicyDecisionPoint,
  maxWaitMs: number,
  maxBatchSize: number,
  maxConcurrency: number,
): PolicyDecisionPoint {
  const limiter = new Limiter(maxConcurrency);
  const aborted = () => abortedDecision(inner.name);
  let queue: Item[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;

  const finish = (item: Item, decision: Decision): void => {
    item.signal?.removeEventListener("abort", item.onAbort);
    item.resolve(decision);
  };

  const run = async (items: Item[], batch: Batch): Promise<void> => {
    if (!(await limiter.acquire(batch.controller.signal))) return;
    // Items aborted while the batch waited for a slot are left out of it.
    const live = items.filter((item) => !item.aborted);
    if (live.length === 0) {
      limiter.release();
      return;
    }
    let decisions: Decision[];
    try {
      decisions = await safeCheckMany(
        inner,
        live.map((item) => item.request),
        { signal: batch.controller.signal },
      );
    } finally {
      limiter.release();
    }
    live.forEach((item, k) => {
      finish(
        item,
        decisions[k] ?? errorDecision(`PDP ${inner.name} gave no answer`, "PDP_BAD_RESPONSE"),
      );
    });
  };

  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    while (queue.length > 0) {
      const items = queue.slice(0, maxBatchSize);
      queue = queue.slice(maxBatchSize);
      const batch: Batch = { controller: new AbortController(), waiting: items.length };
      for (const item of items) item.batch = batch;
      run(items, batch).catch((error: unknown) => {
        const failed = errorDecision(
          `batch for PDP ${inner.name} failed: ${error instanceof Error ? error.message : String(error)}`,
          "PDP_ERROR",
        );
        for (const item of items) finish(item, failed);
      });
    }
  };

  const check = (request: AuthorizationRequest, opts?: CheckOptions): Promise<Decision> => {
    const signal = opts?.signal;
    if (signal?.aborted) return Promise.resolve(aborted());
    return new Promise<Decision>((resolve) => {
      const item: Item = {
        request,
        signal,
        resolve,
        aborted: false,
        onAbort: () => {
          item.aborted = true;
          const batch = item.batch;
          if (batch) {
            batch.waiting--;
            if (batch.waiting === 0) batch.controller.abort();
          } else {
            queue = queue.filter((other) => other !== item);
            if (queue.length === 0 && timer !== undefined) {
              clearTimeout(timer);
              timer = undefined;
            }
          }
          resolve(aborted());
        },
      };
      signal?.addEventListener("abort", item.onAbort, { once: true });
      queue.push(item);
      if (queue.length >= maxBatchSize) flush();
      else timer ??= setTimeout(flush, maxWaitMs);
    });
  };

  const checkChunk = async (
    chunk: readonly AuthorizationRequest[],
    signal: AbortSignal | undefined,
  ): Promise<Decision[]> => {
    if (!(await limiter.acquire(signal))) return chunk.map(aborted);
    const answer = safeCheckMany(inner, chunk, signal ? { signal } : undefined);
    void answer.then(() => {
      limiter.release();
    });
    return raceAbort(answer, signal, () => chunk.map(aborted));
  };

  return {
    name: inner.name,
    check,
    async checkMany(requests, opts) {
      const signal = opts?.signal;
      if (signal?.aborted) return requests.map(aborted);
      const parts = await Promise.all(
        chunks(requests, maxBatchSize).map((chunk) => checkChunk(chunk, signal)),
      );
      return parts.flat();
    },
    async close() {
      flush();
      await inner.close?.();
    },
  };
}
