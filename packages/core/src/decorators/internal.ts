/**
 * Helpers shared by the PDP decorators. Not part of the public surface.
 */
import type {
  Counter,
  Histogram,
  Meter,
  MeterProvider,
  Tracer,
  TracerProvider,
} from "@opentelemetry/api";
import { errorDecision } from "../http.js";
import type { Decision } from "../model.js";
import { type OtelApi, otelApi } from "../otel.js";

/** The answer given to a caller whose abort signal fired. */
export function abortedDecision(pdp: string): Decision {
  return errorDecision(`check of PDP ${pdp} aborted by the caller`, "PDP_ABORTED");
}

/**
 * Resolves with `promise`, or with `onAbort()` as soon as `signal` fires. The promise must not
 * reject; the listener is removed either way so long-lived signals do not accumulate listeners.
 */
export function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  onAbort: () => T,
): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.resolve(onAbort());
  return new Promise<T>((resolve) => {
    const abort = () => {
      resolve(onAbort());
    };
    signal.addEventListener("abort", abort, { once: true });
    void promise.then((value) => {
      signal.removeEventListener("abort", abort);
      resolve(value);
    });
  });
}

/**
 * An inner PDP call shared by several waiters (single-flight, batches). Its controller aborts the
 * call only when every waiter has gone, so one impatient caller never cancels an answer others wait
 * for.
 */
export class SharedCall {
  readonly controller = new AbortController();
  #waiters = 0;
  readonly #onAbandon: (() => void) | undefined;

  /** `onAbandon` runs when the last waiter leaves before the answer came. */
  constructor(onAbandon?: () => void) {
    this.#onAbandon = onAbandon;
  }

  /** Waits for `promise` on behalf of one caller with its own `signal`. */
  join<T>(promise: Promise<T>, signal: AbortSignal | undefined, onAbort: () => T): Promise<T> {
    if (signal?.aborted) return Promise.resolve(onAbort());
    this.#waiters++;
    let left = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      this.#waiters--;
      if (this.#waiters === 0) {
        this.#onAbandon?.();
        this.controller.abort();
      }
    };
    return raceAbort(promise, signal, () => {
      leave();
      return onAbort();
    });
  }
}

/** Waits `ms`, or less when `signal` fires; resolves `false` when aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const done = () => {
      signal?.removeEventListener("abort", abort);
      resolve(true);
    };
    const timer = setTimeout(done, ms);
    const abort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/** The instrumentation scope of every span and metric mcp-pdp records. */
export const INSTRUMENTATION_SCOPE = "@mcp-pdp/core";

/** Instruments of one meter provider. */
export interface Instruments {
  readonly decisions: Counter;
  readonly duration: Histogram;
  readonly cacheRequests: Counter;
  readonly cacheHits: Counter;
}

function createInstruments(meter: Meter): Instruments {
  return {
    decisions: meter.createCounter("authz.decisions", {
      description: "Decisions answered by a PDP, by outcome (allow, deny, error).",
      unit: "{decision}",
    }),
    duration: meter.createHistogram("authz.pdp.duration", {
      description: "Time spent in one PDP call (check or check_many).",
      unit: "ms",
      advice: {
        explicitBucketBoundaries: [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
      },
    }),
    cacheRequests: meter.createCounter("authz.cache.requests", {
      description: "Decisions looked up in the decision cache.",
      unit: "{request}",
    }),
    cacheHits: meter.createCounter("authz.cache.hits", {
      description: "Decisions answered from the decision cache.",
      unit: "{hit}",
    }),
  };
}

const noopInstrument = { add: () => undefined, record: () => undefined };

/** What records nothing, where `@opentelemetry/api` is not installed. */
const NOOP_INSTRUMENTS: Instruments = {
  decisions: noopInstrument,
  duration: noopInstrument,
  cacheRequests: noopInstrument,
  cacheHits: noopInstrument,
};

/**
 * Instruments for an explicit meter provider, or for whichever provider is global at the time of
 * the call. The metrics API has no proxy provider (a meter taken before the SDK is registered stays
 * a no-op forever), so the global provider is looked up on each use and instruments are rebuilt
 * when it changes.
 */
export function instrumentsFor(explicit: MeterProvider | undefined): () => Instruments {
  let provider: MeterProvider | undefined;
  let instruments: Instruments | undefined;
  return () => {
    const current = explicit ?? otelApi()?.metrics.getMeterProvider();
    if (current === undefined) return NOOP_INSTRUMENTS;
    if (current !== provider || instruments === undefined) {
      provider = current;
      instruments = createInstruments(current.getMeter(INSTRUMENTATION_SCOPE));
    }
    return instruments;
  };
}

/** The tracer of an explicit provider, or of the global one (followed when it changes). */
export function tracerFor(
  explicit: TracerProvider | undefined,
  api: OtelApi,
): () => Tracer {
  let provider: TracerProvider | undefined;
  let tracer: Tracer | undefined;
  return () => {
    const current = explicit ?? api.trace.getTracerProvider();
    if (current !== provider || tracer === undefined) {
      provider = current;
      tracer = current.getTracer(INSTRUMENTATION_SCOPE);
    }
    return tracer;
  };
}
