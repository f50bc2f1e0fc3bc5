import { createHash } from "node:crypto";
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
  /** Most decisions kept; the least recently used go first. @defaultValue `10_000` */
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

/** Canonical keys longer than this are replaced by their SHA-256 digest to bound memory. */
const MAX_KEY_LENGTH = 512;
const MAX_DEPTH = 32;

class Uncacheable extends Error {}
const UNCACHEABLE = new Uncacheable("value cannot be part of a cache key");

/** Characters JSON.stringify escapes: quotes, backslashes, control characters, lone surrogates. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * `JSON.stringify(text)`, skipping the call for the usual text with nothing to escape (cache keys
 * are built on every check, and most of their strings are plain names).
 */
function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/**
 * Whether an object is plain data: its prototype is `Object.prototype`, none, or an empty object
 * with none (the mapping's flattened attributes, which inherit nothing yet stay fast objects).
 */
function isPlainRecord(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) return true;
  return (
    typeof proto === "object" &&
    Object.getPrototypeOf(proto) === null &&
    Reflect.ownKeys(proto).length === 0
  );
}

/**
 * An injective text encoding of JSON-like values: strings are JSON-quoted, object keys are sorted,
 * and values JSON cannot tell apart (`undefined`, `NaN`, dates, bigints) get tokens of their own.
 * Anything else (functions, class instances, maps, cycles) makes the request uncacheable rather
 * than risk two different values sharing a key.
 */
function encode(value: unknown, depth: number): string {
  switch (typeof value) {
    case "string":
      return quote(value);
    case "number":
      // NaN and ±Infinity keep their names (JSON would turn them all into null).
      return String(value);
    case "boolean":
      return value ? "true" : "false";
    case "undefined":
      return "undefined";
    case "bigint":
      return `${value.toString()}n`;
    case "object": {
      if (value === null) return "null";
      if (depth >= MAX_DEPTH) throw UNCACHEABLE;
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ",";
          out += encode(value[i], depth + 1);
        }
        return out + "]";
      }
      if (value instanceof Date) return `D${String(value.getTime())}`;
      if (!isPlainRecord(value)) throw UNCACHEABLE;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record);
      if (keys.length > 1) keys.sort();
      let out = "{";
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        if (i > 0) out += ",";
        out += quote(k) + ":" + encode(record[k], depth + 1);
      }
      return out + "}";
    }
    default:
      throw UNCACHEABLE;
  }
}

function sortedCopy(values: readonly string[] | undefined): readonly string[] | undefined {
  return values === undefined || values.length < 2 ? values : [...values].sort();
}

/**
 * The cache key of a request, or `undefined` when the request holds values that cannot be encoded
 * unambiguously (it is then decided by the PDP every time).
 *
 * The key is a canonical encoding of every field a PDP can see: the whole subject (id,
 * authenticated, roles and scopes sorted since they are sets, tenant, attributes), the resource
 * (type, key, tenant, attributes), the action, the operation (method, phase, component, name, uri,
 * arguments, server, declared metadata) and the context. Fields sit at fixed positions and object
 * keys are sorted, so key order never matters and two requests share a key only when a PDP cannot
 * tell them apart. Keys longer than 512 characters are replaced by their SHA-256 digest, whose
 * collision resistance keeps them unambiguous while bounding the cache's memory.
 */
export function cacheKey(
  request: AuthorizationRequest,
  subjects?: Map<Subject, string>,
): string | undefined {
  const { subject: s, resource: r, operation: o } = request;
  let key: string;
  try {
    // The subject's part is a complete canonical array; a raw \u0001 never occurs inside an
    // encoding (control characters are escaped), so joining on it stays unambiguous.
    key =
      subjectPart(s, subjects) +
      "\u0001" +
      encode(
        [
          r.type,
          r.key,
          r.tenant,
          r.attributes,
          request.action,
          o.method,
          o.phase,
          o.component,
          o.name,
          o.uri,
          o.arguments,
          o.server,
          o.metadata,
          request.context,
        ],
        0,
      );
  } catch {
    return undefined;
  }
  // A canonical key starts with "[", so a digest (starting with "#") never equals one.
  return key.length > MAX_KEY_LENGTH
    ? "#" + createHash("sha256").update(key).digest("base64url")
    : key;
}

const frozenSubjects = new WeakMap<Subject, string>();

/**
 * The canonical encoding of a subject. A subject frozen together with its roles, scopes and
 * attributes (as `fixedIdentity` makes it) is encoded once; others once per bulk check (`memo`).
 */
function subjectPart(s: Subject, memo?: Map<Subject, string>): string {
  const immutable =
    Object.isFrozen(s) &&
    (s.roles === undefined || Object.isFrozen(s.roles)) &&
    (s.scopes === undefined || Object.isFrozen(s.scopes)) &&
    (s.attributes === undefined || Object.isFrozen(s.attributes));
  const known = immutable ? frozenSubjects.get(s) : memo?.get(s);
  if (known !== undefined) return known;
  const part = encode(
    [
      s.id,
      s.authenticated,
      sortedCopy(s.roles),
      s.tenant,
      sortedCopy(s.scopes),
      s.attributes,
      s.idIsCredential,
    ],
    0,
  );
  if (immutable) frozenSubjects.set(s, part);
  else memo?.set(s, part);
  return part;
}

interface Entry {
  readonly decision: Decision;
  readonly subject: string;
  readonly resourceType: string;
  readonly resourceKey: string | undefined;
}

interface Flight {
  readonly promise: Promise<Decision>;
  readonly call: SharedCall;
  readonly request: AuthorizationRequest;
}

function matches(filter: CacheInvalidation, request: Entry | AuthorizationRequest): boolean {
  const subject = "decision" in request ? request.subject : request.subject.id;
  const type = "decision" in request ? request.resourceType : request.resource.type;
  const key = "decision" in request ? request.resourceKey : request.resource.key;
  return (
    (filter.subject === undefined || filter.subject === subject) &&
    (filter.resourceType === undefined || filter.resourceType === type) &&
    (filter.resourceKey === undefined || filter.resourceKey === key)
  );
}

/**
 * Caches decisions in an LRU with separate allow and deny lifetimes. Concurrent identical checks
 * share one PDP call (single-flight). Error decisions are never cached, and a failed or abandoned
 * call leaves nothing behind, so the next check asks the PDP again. Answers from the cache carry
 * `source: "cache"`. Keys are built by {@link cacheKey}; a decision cached for one subject never
 * answers another.
 *
 * Place it outermost, so cached checks cost neither a batch slot, a retry budget nor a span:
 * `compose(withCache(), withBatching(), withResilience(), withTelemetry())(pdp)`.
 */
export function withCache(options: CacheOptions = {}): (pdp: PolicyDecisionPoint) => CachedPdp {
  const allowTtl = integerOption("withCache", "allowTtlMs", options.allowTtlMs, 300_000, 0);
  const denyTtl = integerOption("withCache", "denyTtlMs", options.denyTtlMs, 30_000, 0);
  const max = integerOption("withCache", "max", options.max, 10_000, 1);
  const instruments = instrumentsFor(options.meterProvider);

  return (inner) => {
    const cache = new LRUCache<string, Entry>({ max });
    const inflight = new Map<string, Flight>();
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

    const store = (key: string, request: AuthorizationRequest, decision: Decision): void => {
      if (decision.source === "error") return;
      const ttl = decision.allow ? allowTtl : denyTtl;
      if (ttl === 0) return;
      cache.set(
        key,
        {
          decision: { ...decision, source: "cache" },
          subject: request.subject.id,
          resourceType: request.resource.type,
          resourceKey: request.resource.key,
        },
        { ttl },
      );
    };

    /** Registers a flight for `key` whose answer comes from `answer`. */
    const fly = (
      key: string,
      request: AuthorizationRequest,
      call: SharedCall,
      answer: Promise<Decision>,
    ): Flight => {
      const started = generation;
      const flight: Flight = {
        call,
        request,
        promise: answer.then((decision) => {
          if (inflight.get(key) === flight) inflight.delete(key);
          if (started === generation) store(key, request, decision);
          return decision;
        }),
      };
      inflight.set(key, flight);
      return flight;
    };

    const dropFlights = (call: SharedCall): void => {
      for (const [key, flight] of inflight) if (flight.call === call) inflight.delete(key);
    };

    const check = (request: AuthorizationRequest, opts?: CheckOptions): Promise<Decision> => {
      const signal = opts?.signal;
      if (signal?.aborted) return Promise.resolve(aborted());
      const key = cacheKey(request);
      if (key === undefined) {
        count(1, 0);
        return safeCheck(inner, request, opts);
      }
      const hit = cache.get(key);
      count(1, hit ? 1 : 0);
      if (hit) return Promise.resolve(hit.decision);
      const running = inflight.get(key);
      if (running) {
        shared++;
        return running.call.join(running.promise, signal, aborted);
      }
      const call: SharedCall = new SharedCall(() => {
        dropFlights(call);
      });
      const flight = fly(
        key,
        request,
        call,
        safeCheck(inner, request, { signal: call.controller.signal }),
      );
      return call.join(flight.promise, signal, aborted);
    };

    /** A cache hit, or the inner PDP's own synchronous answer (then cached); else undefined. */
    const checkSync = (request: AuthorizationRequest): Decision | undefined => {
      const key = cacheKey(request);
      const hit = key === undefined ? undefined : cache.get(key);
      if (hit) {
        count(1, 1);
        return hit.decision;
      }
      const now = safeCheckSync(inner, request);
      if (now === undefined) return undefined; // check() will count the miss
      count(1, 0);
      if (key !== undefined) store(key, request, now);
      return now;
    };

    const checkMany = async (
      requests: readonly AuthorizationRequest[],
      opts?: CheckOptions,
    ): Promise<Decision[]> => {
      if (requests.length === 0) return [];
      const signal = opts?.signal;
      if (signal?.aborted) return requests.map(aborted);
      // A page usually repeats one subject: its encoding is shared by every item's key.
      const subjects = new Map<Subject, string>();
      const keys = requests.map((request) => cacheKey(request, subjects));
      // Every item cached: answer without a promise per item.
      const cached: Decision[] = [];
      for (const key of keys) {
        const hit = key === undefined ? undefined : cache.get(key);
        if (!hit) break;
        cached.push(hit.decision);
      }
      if (cached.length === requests.length) {
        count(requests.length, requests.length);
        return cached;
      }
      const answers: Promise<Decision>[] = new Array<Promise<Decision>>(requests.length);
      const missRequests: AuthorizationRequest[] = [];
      const missKeys: (string | undefined)[] = [];
      const missSlots: number[][] = [];
      const positionOfKey = new Map<string, number>();
      let hitCount = 0;
      requests.forEach((request, i) => {
        const key = keys[i];
        if (key !== undefined) {
          const hit = i < cached.length ? { decision: cached[i] as Decision } : cache.get(key);
          if (hit) {
            hitCount++;
            answers[i] = Promise.resolve(hit.decision);
            return;
          }
          const running = inflight.get(key);
          if (running) {
            shared++;
            answers[i] = running.call.join(running.promise, signal, aborted);
            return;
          }
          const position = positionOfKey.get(key);
          if (position !== undefined) {
            shared++;
            missSlots[position]?.push(i);
            return;
          }
          positionOfKey.set(key, missRequests.length);
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
        const bulk = safeCheckMany(inner, missRequests, { signal: call.controller.signal });
        missRequests.forEach((request, m) => {
          const one = bulk.then((ds) => ds[m] ?? aborted());
          const key = missKeys[m];
          const promise = key === undefined ? one : fly(key, request, call, one).promise;
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
        const doomed: string[] = [];
        for (const [key, entry] of cache.entries()) if (matches(filter, entry)) doomed.push(key);
        for (const key of doomed) cache.delete(key);
        for (const [key, flight] of inflight)
          if (matches(filter, flight.request)) inflight.delete(key);
        return doomed.length;
      },
      clear() {
        generation++;
        cache.clear();
        inflight.clear();
      },
      stats: () => ({ hits, misses, shared, size: cache.size }),
      async close() {
        cache.clear();
        inflight.clear();
        await inner.close?.();
      },
    };
  };
}
