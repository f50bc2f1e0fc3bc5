import type { MeterProvider } from "@opentelemetry/api";
import { LRUCache } from "lru-cache";
import { safeCheck, safeCheckMany, safeCheckSync } from "../authorizer.js";
import type {
  AuthorizationRequest,
  CheckOptions,
  Decision,
  PolicyDecisionPoint,
  Subject,
} from "../model.js";
import { integerOption } from "../errors.js";
import { SharedCall, abortedDecision, instrumentsFor } from "./internal.js";
import { requestHash, sameRequest, snapshotRequest, snapshotSize } from "./request-key.js";

/**
 * The characters (and values) all cached requests may hold together, per entry of `max`: a cache
 * full of large requests holds fewer of them, so its memory stays bounded whatever clients send.
 */
const SIZE_PER_ENTRY = 2048;

/** Options of {@link withCache}. */
export interface CacheOptions {
  /**
   * How long an allow is reused, in milliseconds; `0` never caches allows.
   * @defaultValue `300_000` (5 minutes, as the Kubernetes webhook authorizer)
   */
  readonly allowTtlMs?: number;
  /**
   * How long a deny is reused, in milliseconds; `0` never caches denies. Kept short so a newly
   * granted permission takes effect quickly.
   * @defaultValue `30_000`
   */
  readonly denyTtlMs?: number;
  /**
   * Most decisions kept; the least recently used go first. The requests they were made for also
   * share a size budget of `max × 2048` characters (strings and keys), and a request of more than
   * 64 Ki characters is never cached: large requests cannot make the cache large.
   * @defaultValue `10_000`
   */
  readonly max?: number;
  /**
   * Where the `authz.cache.requests` and `authz.cache.hits` counters go.
   * @defaultValue the global meter provider (a no-op until an OpenTelemetry SDK is registered)
   */
  readonly meterProvider?: MeterProvider;
}

/** Which cached decisions {@link CachedPdp.invalidate} drops: all given fields must match. */
export interface CacheInvalidation {
  /** The subject's `id`. */
  readonly subject?: string;
  readonly resourceType?: string;
  readonly resourceKey?: string;
}

/** Counters of a {@link CachedPdp}. */
export interface CacheStats {
  /** Checks answered from the cache. */
  readonly hits: number;
  /** Checks not in the cache (each one either asked the PDP or joined a call already running). */
  readonly misses: number;
  /** Misses that joined an identical PDP call already running instead of making their own. */
  readonly shared: number;
  /** Decisions held (expired ones may count until they are next looked up). */
  readonly size: number;
}

/** A PDP whose decisions are cached; returned by {@link withCache}. */
export interface CachedPdp extends PolicyDecisionPoint {
  checkMany(requests: readonly AuthorizationRequest[], options?: CheckOptions): Promise<Decision[]>;
  /**
   * Drops the cached decisions matching `filter` (all of them when it is empty) and returns how
   * many were dropped. PDP calls already running when it is called still answer their callers but
   * their answers are not cached, since they may predate the policy change.
   */
  invalidate(filter?: CacheInvalidation): number;
  /** Drops every cached decision. */
  clear(): void;
  stats(): CacheStats;
}

interface Entry {
  /** What the decision was made for (a snapshot): a later request must equal it to be answered. */
  readonly request: AuthorizationRequest;
  readonly decision: Decision;
}

interface Flight {
  readonly promise: Promise<Decision>;
  readonly call: SharedCall;
  readonly request: AuthorizationRequest;
}

function matches(filter: CacheInvalidation, request: AuthorizationRequest): boolean {
  return (
    (filter.subject === undefined || filter.subject === request.subject.id) &&
    (filter.resourceType === undefined || filter.resourceType === request.resource.type) &&
    (filter.resourceKey === undefined || filter.resourceKey === request.resource.key)
  );
}

/** How requests are hashed; tests swap it to force collisions. */
export type RequestHasher = (
  request: AuthorizationRequest,
  subjects?: Map<Subject, number>,
) => number | undefined;

/**
 * Caches decisions in an LRU with separate allow and deny lifetimes. Concurrent identical checks
 * share one PDP call (single-flight). Error decisions are never cached, and a failed or abandoned
 * call leaves nothing behind, so the next check asks the PDP again. Answers from the cache carry
 * `source: "cache"`.
 *
 * A cached decision answers only a request equal to the one it was made for in every field a PDP
 * can see: the whole subject (id, authenticated, roles and scopes as sets, tenant, attributes), the
 * resource (type, key, tenant, attributes), the action, the operation (method, phase, component,
 * name, uri, arguments and their limits, server, declared metadata) and the context. Requests are found by a hash
 * of those fields and then compared with a copy of the cached one, so a decision cached for one
 * subject never answers another, and the lookup builds no key strings.
 *
 * Place it outermost, so cached checks cost neither a batch slot, a retry budget nor a span:
 * `compose(withCache(), withBatching(), withResilience(), withTelemetry())(pdp)`.
 */
export function withCache(options: CacheOptions = {}): (pdp: PolicyDecisionPoint) => CachedPdp {
  return cacheWith(options, requestHash);
}

/** {@link withCache} with the request hash given (tests force collisions with a constant one). */
export function cacheWith(
  options: CacheOptions,
  hash: RequestHasher,
): (pdp: PolicyDecisionPoint) => CachedPdp {
  const allowTtl = integerOption("withCache", "allowTtlMs", options.allowTtlMs, 300_000, 0);
  const denyTtl = integerOption("withCache", "denyTtlMs", options.denyTtlMs, 30_000, 0);
  const max = integerOption("withCache", "max", options.max, 10_000, 1);
  const instruments = instrumentsFor(options.meterProvider);

  return (inner) => {
    // Keyed by the request's hash; an entry answers only a request equal to its own.
    // Bounded in count and in size: a request's snapshot counts its characters and values (one
    // over 64 Ki characters is not cached at all), and the least recently used go first.
    const cache = new LRUCache<number, Entry>({ max, maxSize: max * SIZE_PER_ENTRY });
    const inflight = new Map<number, Flight>();
    // Bumped by invalidate/clear: answers of calls started before are not stored.
    let generation = 0;
    let hits = 0;
    let misses = 0;
    let shared = 0;
    const attributes = { "authz.pdp": inner.name };
    const aborted = () => abortedDecision(inner.name);

    const count = (requests: number, hit: number): void => {
      hits += hit;
      misses += requests - hit;
      const m = instruments();
      m.cacheRequests.add(requests, attributes);
      if (hit > 0) m.cacheHits.add(hit, attributes);
    };

    /**
     * The entry found last, and its key. The same caller making the same call again is the common
     * case on a server: such a request is compared with that entry directly and found without being
     * hashed. It answers only while the cache still holds that very entry under its key (not
     * expired, invalidated or replaced), so it answers exactly what {@link lookup} would.
     */
    let lastKey = 0;
    let lastEntry: Entry | undefined;

    /** The cached decision for `request`, if one is held for an equal request. */
    const lookup = (key: number, request: AuthorizationRequest): Decision | undefined => {
      const entry = cache.get(key);
      if (entry === undefined || !sameRequest(entry.request, request)) return undefined;
      lastKey = key;
      lastEntry = entry;
      return entry.decision;
    };

    /** The decision of the entry found last, when `request` equals its request (see above). */
    const repeated = (request: AuthorizationRequest): Decision | undefined => {
      const entry = lastEntry;
      return entry !== undefined &&
        sameRequest(entry.request, request) &&
        cache.get(lastKey) === entry
        ? entry.decision
        : undefined;
    };

    /** The call running for an equal request, if any. */
    const running = (key: number, request: AuthorizationRequest): Flight | undefined => {
      const flight = inflight.get(key);
      return flight !== undefined && sameRequest(flight.request, request) ? flight : undefined;
    };

    const store = (key: number, snapshot: AuthorizationRequest, decision: Decision): void => {
      if (decision.source === "error") return;
      const ttl = decision.allow ? allowTtl : denyTtl;
      if (ttl === 0) return;
      cache.set(
        key,
        { request: snapshot, decision: { ...decision, source: "cache" } },
        { ttl, size: snapshotSize(snapshot) },
      );
    };

    /**
     * Registers a flight for `key` whose answer comes from `answer`, and caches the answer for
     * `snapshot` (taken before the PDP was asked). A request holding something other than plain
     * data has no snapshot: it is neither shared nor cached.
     */
    const fly = (
      key: number,
      snapshot: AuthorizationRequest | undefined,
      call: SharedCall,
      answer: Promise<Decision>,
    ): Promise<Decision> => {
      if (snapshot === undefined) return answer;
      const started = generation;
      const flight: Flight = {
        call,
        request: snapshot,
        promise: answer.then((decision) => {
          if (inflight.get(key) === flight) inflight.delete(key);
          if (started === generation) store(key, snapshot, decision);
          return decision;
        }),
      };
      inflight.set(key, flight);
      return flight.promise;
    };

    const dropFlights = (call: SharedCall): void => {
      for (const [key, flight] of inflight) if (flight.call === call) inflight.delete(key);
    };

    const check = (request: AuthorizationRequest, opts?: CheckOptions): Promise<Decision> => {
      const signal = opts?.signal;
      if (signal?.aborted) return Promise.resolve(aborted());
      const again = repeated(request);
      if (again) {
        count(1, 1);
        return Promise.resolve(again);
      }
      const key = hash(request);
      if (key === undefined) {
        count(1, 0);
        return safeCheck(inner, request, opts);
      }
      const hit = lookup(key, request);
      count(1, hit ? 1 : 0);
      if (hit) return Promise.resolve(hit);
      const joined = running(key, request);
      if (joined) {
        shared++;
        return joined.call.join(joined.promise, signal, aborted);
      }
      const call: SharedCall = new SharedCall(() => {
        dropFlights(call);
      });
      // The PDP decides the snapshot: what is cached is exactly what it saw.
      const snapshot = snapshotRequest(request);
      const answer = safeCheck(inner, snapshot ?? request, { signal: call.controller.signal });
      return call.join(fly(key, snapshot, call, answer), signal, aborted);
    };

    /** A cache hit, or the inner PDP's own synchronous answer (then cached); else undefined. */
    const checkSync = (request: AuthorizationRequest): Decision | undefined => {
      const again = repeated(request);
      if (again) {
        count(1, 1);
        return again;
      }
      const key = hash(request);
      const hit = key === undefined ? undefined : lookup(key, request);
      if (hit) {
        count(1, 1);
        return hit;
      }
      if (!inner.checkSync) return undefined; // check() will count the miss
      const snapshot = key === undefined ? undefined : snapshotRequest(request);
      const now = safeCheckSync(inner, snapshot ?? request);
      if (now === undefined) return undefined;
      count(1, 0);
      if (key !== undefined && snapshot !== undefined) store(key, snapshot, now);
      return now;
    };

    const checkMany = async (
      requests: readonly AuthorizationRequest[],
      opts?: CheckOptions,
    ): Promise<Decision[]> => {
      if (requests.length === 0) return [];
      const signal = opts?.signal;
      if (signal?.aborted) return requests.map(aborted);
      // A page usually repeats one subject: its hash is shared by every item's.
      const subjects = new Map<Subject, number>();
      const keys = requests.map((request) => hash(request, subjects));
      // Every item cached: answer without a promise per item.
      const cached: Decision[] = [];
      for (let i = 0; i < requests.length; i++) {
        const key = keys[i];
        const hit =
          key === undefined ? undefined : lookup(key, requests[i] as AuthorizationRequest);
        if (!hit) break;
        cached.push(hit);
      }
      if (cached.length === requests.length) {
        count(requests.length, requests.length);
        return cached;
      }
      const answers: Promise<Decision>[] = new Array<Promise<Decision>>(requests.length);
      const missRequests: AuthorizationRequest[] = [];
      const missKeys: (number | undefined)[] = [];
      const missSnapshots: (AuthorizationRequest | undefined)[] = [];
      const missSlots: number[][] = [];
      const firstMiss = new Map<number, number>();
      let hitCount = 0;
      requests.forEach((request, i) => {
        const key = keys[i];
        if (key !== undefined) {
          const hit = i < cached.length ? cached[i] : lookup(key, request);
          if (hit) {
            hitCount++;
            answers[i] = Promise.resolve(hit);
            return;
          }
          const joined = running(key, request);
          if (joined) {
            shared++;
            answers[i] = joined.call.join(joined.promise, signal, aborted);
            return;
          }
          // The same request twice in one page is asked once.
          const m = firstMiss.get(key);
          const first = m === undefined ? undefined : missSnapshots[m];
          if (m !== undefined && first !== undefined && sameRequest(first, request)) {
            shared++;
            missSlots[m]?.push(i);
            return;
          }
          const snapshot = snapshotRequest(request);
          if (m === undefined && snapshot !== undefined) firstMiss.set(key, missRequests.length);
          missSnapshots.push(snapshot);
        } else {
          missSnapshots.push(undefined);
        }
        missRequests.push(request);
        missKeys.push(key);
        missSlots.push([i]);
      });
      count(requests.length, hitCount);
      if (missRequests.length > 0) {
        const call: SharedCall = new SharedCall(() => {
          dropFlights(call);
        });
        const asked = missRequests.map((request, m) => missSnapshots[m] ?? request);
        const bulk = safeCheckMany(inner, asked, { signal: call.controller.signal });
        missRequests.forEach((request, m) => {
          const one = bulk.then((ds) => ds[m] ?? aborted());
          const key = missKeys[m];
          const promise = key === undefined ? one : fly(key, missSnapshots[m], call, one);
          for (const i of missSlots[m] ?? []) answers[i] = call.join(promise, signal, aborted);
        });
      }
      return Promise.all(answers);
    };

    return {
      name: inner.name,
      check,
      checkSync,
      checkMany,
      invalidate(filter = {}) {
        generation++;
        lastEntry = undefined;
        const doomed: number[] = [];
        for (const [key, entry] of cache.entries()) {
          if (matches(filter, entry.request)) doomed.push(key);
        }
        for (const key of doomed) cache.delete(key);
        for (const [key, flight] of inflight)
          if (matches(filter, flight.request)) inflight.delete(key);
        return doomed.length;
      },
      clear() {
        generation++;
        lastEntry = undefined;
        cache.clear();
        inflight.clear();
      },
      stats: () => ({ hits, misses, shared, size: cache.size }),
      async close() {
        lastEntry = undefined;
        cache.clear();
        inflight.clear();
        await inner.close?.();
      },
    };
  };
}
