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
   * How long a check waits for others while an earlier batch is still in flight, in milliseconds.
   * A check that finds nothing in flight is sent at once (with whatever was queued in the same
   * turn of the event loop), so a caller that awaits one check at a time never waits for this.
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
  /**
   * Aborts the inner call once no item waits for it. A batch of one has none: its item's own
   * signal does that, and reading a controller's first `signal` costs microseconds per check.
   */
  readonly controller: AbortController | undefined;
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
 * Gathers concurrent single checks into one `checkMany` of the inner PDP. When no batch is in
 * flight, the checks queued in the current turn of the event loop go out at once (a lone check as
 * the inner PDP's own `check`, so it costs what it would without batching); checks arriving while
 * a batch is in flight are gathered and sent when a batch returns or after `maxWaitMs`, whichever
 * comes first. A batch is sent as soon as it holds `maxBatchSize` requests. An inner PDP without `checkMany` gets a fan-out of single checks with
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
  // Set when the queue will be flushed once the current job's microtasks have run: every check
  // started meanwhile (a Promise.all over a list) still joins the batch. A timer would make each
  // lone check wait for the event loop's next turn (tens of microseconds on a loopback PDP).
  let flushQueued = false;
  /** Batches sent and not yet answered. */
  let inFlight = 0;

  const cancelFlush = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    flushQueued = false;
  };

  const finish = (item: Item, decision: Decision): void => {
    item.signal?.removeEventListener("abort", item.onAbort);
    item.resolve(decision);
  };

  /** Asks the inner PDP about the items still waiting: their decisions, in order. */
  const ask = async (items: Item[], batch: Batch): Promise<[Item[], Decision[]]> => {
    const waitSignal = batch.controller ? batch.controller.signal : (items[0] as Item).signal;
    if (!(await limiter.acquire(waitSignal))) return [[], []];
    // Items aborted while the batch waited for a slot are left out of it.
    const live = items.filter((item) => !item.aborted);
    if (live.length === 0) {
      limiter.release();
      return [[], []];
    }
    try {
      const lone = live.length === 1 ? (live[0] as Item) : undefined;
      // One request goes as a single check under its caller's own signal: the same call, and the
      // same cost, as without batching.
      return [
        live,
        lone
          ? [
              await safeCheck(
                inner,
                lone.request,
                lone.signal ? { signal: lone.signal } : undefined,
              ),
            ]
          : await safeCheckMany(
              inner,
              live.map((item) => item.request),
              { signal: (batch.controller as AbortController).signal },
            ),
      ];
    } finally {
      limiter.release();
    }
  };

  const send = async (items: Item[], batch: Batch): Promise<void> => {
    let answered: Item[];
    let decisions: Decision[];
    try {
      [answered, decisions] = await ask(items, batch);
    } catch (error) {
      answered = items;
      const failed = errorDecision(
        `batch for PDP ${inner.name} failed: ${error instanceof Error ? error.message : String(error)}`,
        "PDP_ERROR",
      );
      decisions = items.map(() => failed);
    }
    // Counted as returned before its callers resume, so that a caller's next check finds the
    // batcher idle and goes out at once.
    inFlight--;
    answered.forEach((item, k) => {
      finish(
        item,
        decisions[k] ?? errorDecision(`PDP ${inner.name} gave no answer`, "PDP_BAD_RESPONSE"),
      );
    });
    // What gathered while this batch was out goes now rather than at the end of the window.
    if (queue.length > 0) flush();
  };

  const flush = (): void => {
    cancelFlush();
    while (queue.length > 0) {
      const items = queue.slice(0, maxBatchSize);
      queue = queue.slice(maxBatchSize);
      const batch: Batch = {
        controller: items.length > 1 ? new AbortController() : undefined,
        waiting: items.length,
      };
      for (const item of items) item.batch = batch;
      inFlight++;
      void send(items, batch);
    }
  };

  const flushIfQueued = (): void => {
    if (flushQueued) flush();
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
            if (batch.waiting === 0) batch.controller?.abort();
          } else {
            queue = queue.filter((other) => other !== item);
            if (queue.length === 0) cancelFlush();
          }
          resolve(aborted());
        },
      };
      signal?.addEventListener("abort", item.onAbort, { once: true });
      queue.push(item);
      if (queue.length >= maxBatchSize) flush();
      else if (inFlight === 0) {
        if (!flushQueued) {
          flushQueued = true;
          queueMicrotask(flushIfQueued);
        }
      } else timer ??= setTimeout(flush, maxWaitMs);
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
