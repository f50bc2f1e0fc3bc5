/**
 * Keys of the decision cache without building strings: a 32-bit hash of the fields that tell
 * requests apart, computed by walking the request, and an exact comparison with a copy of the
 * request the cached decision was made for. A hash only picks the slot; a decision is reused only
 * when the comparison finds the two requests equal, so a collision costs a miss, never a wrong
 * answer. The hash is seeded at random per process, so colliding requests cannot be computed ahead.
 *
 * Equality is canonical: object key order does not matter, roles and scopes are sets, and values
 * JSON would conflate (`undefined`, `NaN`, `-0`, dates, bigints) stay distinct. Only plain data
 * takes part: strings, numbers, booleans, bigints, `null`, `undefined`, arrays (of
 * `Array.prototype`, without holes), dates (of `Date.prototype`, with no own properties) and
 * records (prototype `Object.prototype`, none, or an empty frozen one such as the mapping's),
 * compared on their own enumerable string keys. Anything else (functions, symbols, maps, class
 * instances, subclasses, cycles, more than {@link MAX_NODES} values) makes a request uncacheable
 * or unequal, never equal to something it is not. Accessors, symbol keys and non-enumerable
 * properties are not looked for (JSON never makes them, and the requests the Authorizer builds
 * come from JSON; looking costs more than the rest of a cache hit): a request built in process
 * must be plain data to be cached. Not part of the public surface.
 */
import { randomBytes } from "node:crypto";
import type { AuthorizationRequest, Subject } from "../model.js";
import {
  ARRAY_KIND,
  DATE_KIND,
  NOT_PLAIN,
  RECORD_KIND,
  copyPlain,
  dateTime,
  isSealed,
  plainKind,
  seal,
} from "../sealed.js";

const MAX_DEPTH = 32;
/** Values one hash, copy or comparison may visit; a larger request is not cached. */
export const MAX_NODES = 4096;
/**
 * Characters of strings and keys one snapshot may copy; a request holding more is not cached (it
 * is decided by the PDP every time), so no cached entry keeps a large request alive.
 */
export const MAX_SNAPSHOT_CHARS = 65_536;

/** What each snapshot cost to copy: its characters and values, for the cache's size bound. */
const snapshotSizes = new WeakMap<AuthorizationRequest, number>();

/** The size of a snapshot made by {@link snapshotRequest}: characters copied plus values copied. */
export function snapshotSize(snapshot: AuthorizationRequest): number {
  return snapshotSizes.get(snapshot) ?? 1;
}

/** Thrown (and caught) when a request cannot take part in the cache. */
const UNCACHEABLE = NOT_PLAIN;

// Tags keep values of different kinds apart (the string "1" and the number 1, [] and {}).
const STRING = 0x1b873593;
const NUMBER = 0x2c1b3c6d;
const BIGINT = 0x297a2d39;
const DATE = 0x3e2a7f1d;
const ARRAY = 0x68e31da4;
const RECORD = 0x4cf5ad43;
const SET = 0x1d8e4e27;
const TRUE = 0x7feb352d;
const FALSE = 0x4ed1a5c1;
const NULL = 0x27d4eb2f;
const UNDEFINED = 0x165667b1;
const NAN = 0x61c88647;

/** Different in every process: which requests share a slot cannot be worked out in advance. */
const SEED = randomBytes(4).readInt32LE(0);

function mix(h: number, v: number): number {
  const x = Math.imul(h ^ v, 0x9e3779b1);
  return x ^ (x >>> 15);
}

/** FNV-1a over the UTF-16 code units, from the seed. */
function hashString(s: string): number {
  let h = SEED ^ 0x811c9dc5 ^ s.length;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix(STRING, h);
}

const float = new Float64Array(1);
const words = new Uint32Array(float.buffer);

function hashNumber(n: number): number {
  if (Number.isNaN(n)) return NAN; // every NaN is the same value
  if ((n | 0) === n && !Object.is(n, -0)) return mix(NUMBER, n);
  float[0] = n;
  return mix(mix(NUMBER, words[0] as number), words[1] as number);
}

/** Values the current walk may still visit. */
let budget = 0;

/**
 * `Object.prototype.hasOwnProperty`, called on the object a `for-in` walks with the key it gave:
 * V8 answers that from the loop's own key cache, where `Object.hasOwn` does a full lookup each
 * time (a third of the walk of a small record).
 */
const hasOwnProperty = Object.prototype.hasOwnProperty; // eslint-disable-line @typescript-eslint/unbound-method

const sealedHashes = new WeakMap<object, number>();

function hashValue(value: unknown, depth: number): number {
  if (--budget < 0) throw UNCACHEABLE;
  switch (typeof value) {
    case "string":
      return hashString(value);
    case "number":
      return hashNumber(value);
    case "boolean":
      return value ? TRUE : FALSE;
    case "undefined":
      return UNDEFINED;
    case "bigint":
      return mix(BIGINT, hashString(value.toString()));
    case "object": {
      if (value === null) return NULL;
      if (depth >= MAX_DEPTH) throw UNCACHEABLE;
      // Sealed objects are frozen: the cheap test first.
      const sealed = Object.isFrozen(value) && isSealed(value);
      if (sealed) {
        const known = sealedHashes.get(value);
        if (known !== undefined) return known;
      }
      let h: number;
      switch (plainKind(value)) {
        case RECORD_KIND: {
          // Order-independent: the sum of the entries' hashes.
          let sum = 0;
          let count = 0;
          const record = value as Record<string, unknown>;
          // for-in with an own-key test: Object.keys would allocate an array per object.
          for (const key in record) {
            if (!hasOwnProperty.call(record, key)) continue;
            sum = (sum + mix(hashString(key), hashValue(record[key], depth + 1))) | 0;
            count++;
          }
          h = mix(mix(RECORD, count), sum);
          break;
        }
        case ARRAY_KIND: {
          const array = value as readonly unknown[];
          h = mix(ARRAY, array.length);
          for (let i = 0; i < array.length; i++) {
            if (!(i in array)) throw UNCACHEABLE;
            h = mix(h, hashValue(array[i], depth + 1));
          }
          break;
        }
        case DATE_KIND:
          h = mix(DATE, hashNumber(dateTime(value)));
          break;
        default:
          throw UNCACHEABLE;
      }
      if (sealed) sealedHashes.set(value, h);
      return h;
    }
    default:
      throw UNCACHEABLE;
  }
}

/**
 * The roles or scopes of a subject as a set: `undefined`, or a dense array of strings (anything
 * else is not cacheable). Their hash ignores order.
 */
function hashSet(values: readonly string[] | undefined): number {
  if (values === undefined) return UNDEFINED;
  if (plainKind(values) !== ARRAY_KIND) throw UNCACHEABLE;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v: unknown = values[i];
    if (typeof v !== "string" || !(i in values)) throw UNCACHEABLE;
    budget--;
    sum = (sum + hashString(v)) | 0;
  }
  return mix(mix(SET, values.length), sum);
}

const sealedSubjects = new WeakMap<Subject, number>();

/** The sealed subject hashed last: most servers see one or a few callers over and over. */
let lastSubject: Subject | undefined;
let lastSubjectHash = 0;

function hashSubject(s: Subject, memo?: Map<Subject, number>): number {
  if (s === lastSubject) return lastSubjectHash;
  const sealed = Object.isFrozen(s) && isSealed(s);
  const known = sealed ? sealedSubjects.get(s) : memo?.get(s);
  if (known !== undefined) {
    if (sealed) {
      lastSubject = s;
      lastSubjectHash = known;
    }
    return known;
  }
  let h = hashValue(s.id, 1);
  h = mix(h, hashValue(s.authenticated, 1));
  h = mix(h, hashSet(s.roles));
  h = mix(h, hashValue(s.tenant, 1));
  h = mix(h, hashSet(s.scopes));
  h = mix(h, hashValue(s.attributes, 1));
  h = mix(h, hashValue(s.idIsCredential, 1));
  if (sealed) {
    sealedSubjects.set(s, h);
    lastSubject = s;
    lastSubjectHash = h;
  } else {
    memo?.set(s, h);
  }
  return h;
}

/**
 * {@link hashValue} of a field of the request itself: most are strings or absent, and are hashed
 * here without a call into the general walk (the same value, counted against the same budget).
 */
function hashField(value: unknown): number {
  if (typeof value === "string") {
    if (--budget < 0) throw UNCACHEABLE;
    return hashString(value);
  }
  if (value === undefined) {
    if (--budget < 0) throw UNCACHEABLE;
    return UNDEFINED;
  }
  return hashValue(value, 1);
}

/**
 * The hash of the fields that tell requests apart, or `undefined` when the request holds values
 * that are not plain data (it is then decided by the PDP every time). Fields the mapping derives
 * from these (the resource's attributes, the method, the component, the server, the argument
 * limits) and the component's declared metadata are left out of the hash, not out of the
 * comparison: two requests differing only there share a slot and are still told apart by
 * {@link sameRequest}. `subjects` remembers subjects' hashes across the requests of one bulk
 * check (a page repeats one subject). Never throws.
 */
export function requestHash(
  request: AuthorizationRequest,
  subjects?: Map<Subject, number>,
): number | undefined {
  budget = MAX_NODES;
  try {
    const { resource: r, operation: o } = request;
    let h = hashSubject(request.subject, subjects);
    h = mix(h, hashField(r.type));
    h = mix(h, hashField(r.key));
    h = mix(h, hashField(r.tenant));
    h = mix(h, hashField(request.action));
    h = mix(h, hashField(o.phase));
    h = mix(h, hashField(o.name));
    h = mix(h, hashField(o.uri));
    h = mix(h, hashField(o.arguments));
    return mix(h, hashField(request.context));
  } catch {
    // Not plain data, too large, or a getter that threw: decided by the PDP every time.
    return undefined;
  }
}

/**
 * Canonical equality of a value of a cached snapshot (`a`, plain data of its own making) and one
 * of a new request (`b`, anything). Whatever is not plain data in `b` compares unequal.
 */
function same(a: unknown, b: unknown): boolean {
  if (--budget < 0) throw UNCACHEABLE;
  if (typeof a !== "object" || a === null) {
    return Object.is(a, b) && typeof a !== "function" && typeof a !== "symbol";
  }
  if (a === b) return true; // a sealed object, shared by the snapshot
  if (typeof b !== "object" || b === null) return false;
  // The snapshot kept each object's prototype, which it accepted as plain data: b must have the
  // same one (so `"toString" in record` cannot differ either).
  const proto = Object.getPrototypeOf(a) as object | null;
  if (Object.getPrototypeOf(b) !== proto) return false;
  if (proto === Array.prototype) {
    const x = a as readonly unknown[];
    const y = b as readonly unknown[];
    if (!Array.isArray(y) || Object.hasOwn(y, "toJSON") || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!(i in y) || !same(x[i], y[i])) return false;
    return true;
  }
  if (proto === Date.prototype) {
    return Reflect.ownKeys(b).length === 0 && Object.is(dateTime(a), dateTime(b));
  }
  return sameRecord(a as Record<string, unknown>, b);
}

/**
 * Record equality, in one pass when `b` holds its keys in the order of the snapshot `x` (the usual
 * case: both were built by the same code, and the snapshot copies keys in order): each key `b`'s
 * own `for-in` gives must be `x`'s next, own to `b` (an inherited key never stands in), with an
 * equal value, and none may be left over. Anything else is decided by {@link sameRecordAnyOrder}.
 */
function sameRecord(x: Record<string, unknown>, b: object): boolean {
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  let i = 0;
  for (const key in y) {
    if (key !== keys[i] || !hasOwnProperty.call(y, key)) return sameRecordAnyOrder(x, y);
    const v = x[key];
    // Strings, the usual value, compare directly.
    if (typeof v === "string" ? v !== y[key] : !same(v, y[key])) return false;
    i++;
  }
  return i === keys.length;
}

function sameRecordAnyOrder(x: Record<string, unknown>, y: Record<string, unknown>): boolean {
  let count = 0;
  for (const key in x) {
    if (!Object.hasOwn(x, key)) continue;
    // Own keys only: an inherited value (Object.prototype for "__proto__") never stands in.
    if (!Object.hasOwn(y, key)) return false;
    const v = x[key];
    if (typeof v === "string" ? v !== y[key] : !same(v, y[key])) return false;
    count++;
  }
  // Every own enumerable key of y was matched: none left over.
  for (const key in y) if (Object.hasOwn(y, key)) count--;
  return count === 0;
}

/** Set equality of the snapshot's roles or scopes (a dense string array) and a request's. */
function sameSet(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  if (same(a, b)) return true; // the usual case: the same roles in the same order
  if (plainKind(b) !== ARRAY_KIND) return false;
  const x: string[] = [];
  const y: unknown[] = [];
  for (let i = 0; i < a.length; i++) {
    x.push(a[i] as string);
    y.push(b[i]);
  }
  x.sort();
  y.sort();
  return same(x, y);
}

function sameSubject(a: Subject, b: Subject): boolean {
  return (
    a === b ||
    (Object.is(a.id, b.id) &&
      Object.is(a.authenticated, b.authenticated) &&
      sameSet(a.roles, b.roles) &&
      Object.is(a.tenant, b.tenant) &&
      sameSet(a.scopes, b.scopes) &&
      same(a.attributes, b.attributes) &&
      Object.is(a.idIsCredential, b.idIsCredential))
  );
}

/**
 * Whether a PDP could tell `stored` (a {@link snapshotRequest}) and `request` apart: true only when
 * every field it can see is canonically equal. Never throws (a getter that throws is unequal).
 */
export function sameRequest(stored: AuthorizationRequest, request: AuthorizationRequest): boolean {
  budget = MAX_NODES;
  try {
    const { resource: r, operation: o } = request;
    const { resource: sr, operation: so } = stored;
    return (
      sameSubject(stored.subject, request.subject) &&
      Object.is(sr.type, r.type) &&
      Object.is(sr.key, r.key) &&
      Object.is(sr.tenant, r.tenant) &&
      Object.is(stored.action, request.action) &&
      Object.is(so.method, o.method) &&
      Object.is(so.phase, o.phase) &&
      Object.is(so.component, o.component) &&
      Object.is(so.name, o.name) &&
      Object.is(so.uri, o.uri) &&
      Object.is(so.server, o.server) &&
      same(sr.attributes, r.attributes) &&
      same(so.arguments, o.arguments) &&
      same(so.argumentLimits, o.argumentLimits) &&
      same(so.metadata, o.metadata) &&
      same(stored.context, request.context)
    );
  } catch {
    return false;
  }
}

/** A copy of roles or scopes: a dense array of strings. */
function copySet(values: readonly string[] | undefined): readonly string[] | undefined {
  if (values === undefined) return undefined;
  if (plainKind(values) !== ARRAY_KIND) throw UNCACHEABLE;
  const out: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const v: unknown = values[i];
    if (typeof v !== "string" || !(i in values)) throw UNCACHEABLE;
    out.push(v);
  }
  return out;
}

/** Sets `key` on `target` when `value` is not undefined (a snapshot has no explicit undefineds). */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== undefined) target[key] = value;
}

/**
 * What the cache keeps of a request to compare later ones with: the fields a PDP can see, copied,
 * so a caller that mutates its request (or its arguments) afterwards cannot change a cached key.
 * The PDP is then asked with the snapshot, not with the caller's request, so the decision cached
 * for it is a decision about exactly it (the model's fields, as the caller's request held them
 * when the check began). `undefined` when a field holds something other than plain data, or more
 * than {@link MAX_NODES} values or {@link MAX_SNAPSHOT_CHARS} characters: such a request is
 * neither copied nor cached. Never throws.
 */
export function snapshotRequest(request: AuthorizationRequest): AuthorizationRequest | undefined {
  const budget = { left: MAX_NODES, chars: MAX_SNAPSHOT_CHARS };
  const copy = (value: unknown) => copyPlain(value, budget);
  try {
    const { subject: s, resource: r, operation: o } = request;
    let subject: Subject = s;
    if (!(Object.isFrozen(s) && isSealed(s))) {
      const copied: Record<string, unknown> = {};
      put(copied, "id", copy(s.id));
      put(copied, "authenticated", copy(s.authenticated));
      put(copied, "roles", copySet(s.roles));
      put(copied, "tenant", copy(s.tenant));
      put(copied, "scopes", copySet(s.scopes));
      put(copied, "attributes", copy(s.attributes));
      put(copied, "idIsCredential", copy(s.idIsCredential));
      subject = copied as unknown as Subject;
    }
    const resource: Record<string, unknown> = {};
    put(resource, "type", copy(r.type));
    put(resource, "key", copy(r.key));
    put(resource, "tenant", copy(r.tenant));
    put(resource, "attributes", copy(r.attributes));
    const operation: Record<string, unknown> = {};
    put(operation, "method", copy(o.method));
    put(operation, "phase", copy(o.phase));
    put(operation, "component", copy(o.component));
    put(operation, "name", copy(o.name));
    put(operation, "uri", copy(o.uri));
    put(operation, "arguments", copy(o.arguments));
    put(operation, "argumentLimits", copy(o.argumentLimits));
    put(operation, "server", copy(o.server));
    put(operation, "metadata", copy(o.metadata));
    const snapshot: Record<string, unknown> = { subject, resource, operation };
    put(snapshot, "action", copy(request.action));
    put(snapshot, "context", copy(request.context));
    // Sealed: the PDP is asked with it, and must not be able to change what is cached.
    const sealedSnapshot = seal(snapshot as unknown as AuthorizationRequest);
    snapshotSizes.set(
      sealedSnapshot,
      1 + MAX_SNAPSHOT_CHARS - budget.chars + (MAX_NODES - budget.left),
    );
    return sealedSnapshot;
  } catch {
    return undefined;
  }
}
