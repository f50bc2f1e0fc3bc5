/**
 * Keys of the decision cache without building strings: a 32-bit hash of every field a PDP can see,
 * computed by walking the request, and an exact comparison with the request the cached decision was
 * made for. A hash only picks the slot; a decision is reused only when the comparison finds the two
 * requests equal, so a collision costs a miss, never a wrong answer.
 *
 * Equality is canonical: object key order does not matter, roles and scopes are sets, and values
 * JSON would conflate (`undefined`, `NaN`, `-0`, dates, bigints) stay distinct. Anything that is
 * not plain data (functions, class instances, maps, cycles) makes a request uncacheable rather than
 * risk two different values comparing equal. Not part of the public surface.
 */
import type { AuthorizationRequest, Subject } from "../model.js";
import { isSealed } from "../sealed.js";

const MAX_DEPTH = 32;

class Uncacheable extends Error {}
const UNCACHEABLE = new Uncacheable("value cannot be part of a cache key");

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

function mix(h: number, v: number): number {
  const x = Math.imul(h ^ v, 0x9e3779b1);
  return x ^ (x >>> 15);
}

/** FNV-1a over the UTF-16 code units. */
function hashString(s: string): number {
  let h = 0x811c9dc5 ^ s.length;
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

/**
 * Whether an object is plain data: its prototype is `Object.prototype`, none, or an empty object
 * with none (the mapping's flattened attributes, which inherit nothing yet stay fast objects).
 */
function isPlainRecord(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto === Object.prototype || proto === null || proto === lastEmpty) return true;
  let empty = emptyPrototypes.get(proto);
  if (empty === undefined) {
    empty = Object.getPrototypeOf(proto) === null && Reflect.ownKeys(proto).length === 0;
    // Only a frozen prototype is sure to stay as it is (the mapping's is frozen).
    if (Object.isFrozen(proto)) emptyPrototypes.set(proto, empty);
  }
  if (empty && Object.isFrozen(proto)) lastEmpty = proto;
  return empty;
}
const emptyPrototypes = new WeakMap<object, boolean>();
/** The frozen empty prototype seen last (the mapping's): most records have it or Object's. */
let lastEmpty: object | undefined;

const sealedHashes = new WeakMap<object, number>();

function hashValue(value: unknown, depth: number): number {
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
      if (Array.isArray(value)) {
        h = mix(ARRAY, value.length);
        for (const item of value as unknown[]) h = mix(h, hashValue(item, depth + 1));
      } else if (value instanceof Date) {
        h = mix(DATE, hashNumber(value.getTime()));
      } else if (isPlainRecord(value)) {
        // Order-independent: the sum of the entries' hashes.
        let sum = 0;
        let count = 0;
        const record = value as Record<string, unknown>;
        // for-in with an own-key test: Object.keys would allocate an array per object.
        for (const key in record) {
          if (!Object.hasOwn(record, key)) continue;
          sum = (sum + mix(hashString(key), hashValue(record[key], depth + 1))) | 0;
          count++;
        }
        h = mix(mix(RECORD, count), sum);
      } else {
        throw UNCACHEABLE;
      }
      if (sealed) sealedHashes.set(value, h);
      return h;
    }
    default:
      throw UNCACHEABLE;
  }
}

/** Roles and scopes are sets: their hash ignores order. */
function hashSet(values: readonly string[] | undefined): number {
  if (values === undefined) return UNDEFINED;
  if (!Array.isArray(values)) return hashValue(values, 1);
  let sum = 0;
  for (const v of values) sum = (sum + hashValue(v, 1)) | 0;
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
 * The hash of the fields that tell requests apart, or `undefined` when the request holds values
 * that cannot be compared unambiguously (it is then decided by the PDP every time). Fields the
 * mapping derives from these (the resource's attributes, the method, the component, the server)
 * and the component's declared metadata are left out of the hash, not out of the comparison: two
 * requests differing only there share a slot and are still told apart by {@link sameRequest}.
 * `subjects` remembers subjects' hashes across the requests of one bulk check (a page repeats one
 * subject).
 */
export function requestHash(
  request: AuthorizationRequest,
  subjects?: Map<Subject, number>,
): number | undefined {
  const { resource: r, operation: o } = request;
  try {
    let h = hashSubject(request.subject, subjects);
    h = mix(h, hashValue(r.type, 1));
    h = mix(h, hashValue(r.key, 1));
    h = mix(h, hashValue(r.tenant, 1));
    h = mix(h, hashValue(request.action, 1));
    h = mix(h, hashValue(o.phase, 1));
    h = mix(h, hashValue(o.name, 1));
    h = mix(h, hashValue(o.uri, 1));
    h = mix(h, hashValue(o.arguments, 1));
    return mix(h, hashValue(request.context, 1));
  } catch (error) {
    if (error === UNCACHEABLE) return undefined;
    throw error;
  }
}

/**
 * Canonical equality of a value of a cached snapshot (`a`, plain data) and one of a new request
 * (`b`, anything). Whatever is not plain data in `b` compares unequal, so a function, a map or a
 * class instance never matches the plain copy the snapshot holds.
 */
function same(a: unknown, b: unknown): boolean {
  if (typeof a !== "object" || a === null) {
    return Object.is(a, b) && typeof a !== "function" && typeof a !== "symbol";
  }
  if (a === b) return true; // a sealed object, shared by the snapshot
  if (typeof b !== "object" || b === null) return false;
  // The snapshot's objects are plain records, arrays and dates of its own making.
  const proto: unknown = Object.getPrototypeOf(a);
  if (proto === Object.prototype || proto === null) {
    return isPlainRecord(b) && sameRecord(a as Record<string, unknown>, b);
  }
  if (proto === Array.prototype) {
    if (!Array.isArray(b)) return false;
    const x = a as unknown[];
    if (x.length !== b.length) return false;
    for (let i = 0; i < x.length; i++) if (!same(x[i], b[i])) return false;
    return true;
  }
  if (a instanceof Date) return b instanceof Date && Object.is(a.getTime(), b.getTime());
  return false;
}

function sameRecord(x: Record<string, unknown>, b: object): boolean {
  const y = b as Record<string, unknown>;
  let count = 0;
  for (const key in x) {
    if (!Object.hasOwn(x, key)) continue;
    const v = x[key];
    const w = y[key];
    // An inherited w is never equal to v (the snapshot holds no functions), and the key counts
    // below catch a key y lacks; only an undefined w needs the own-key test.
    if (w === undefined && !Object.hasOwn(y, key)) return false;
    // Strings, the usual value, compare directly.
    if (typeof v === "string" ? v !== w : !same(v, w)) return false;
    count++;
  }
  for (const key in y) if (Object.hasOwn(y, key)) count--;
  return count === 0;
}

function sameSet(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  if (same(a, b)) return true; // the usual case: the same roles in the same order
  return same([...a].sort(), [...b].sort());
}

function sameSubject(a: Subject, b: Subject): boolean {
  return (
    a === b ||
    (a.id === b.id &&
      a.authenticated === b.authenticated &&
      sameSet(a.roles, b.roles) &&
      a.tenant === b.tenant &&
      sameSet(a.scopes, b.scopes) &&
      same(a.attributes, b.attributes) &&
      a.idIsCredential === b.idIsCredential)
  );
}

/**
 * Whether a PDP could tell `stored` (a {@link snapshotRequest}) and `request` apart: true only when
 * every field it can see is canonically equal.
 */
export function sameRequest(stored: AuthorizationRequest, request: AuthorizationRequest): boolean {
  const { resource: r, operation: o } = request;
  const { resource: sr, operation: so } = stored;
  return (
    sameSubject(stored.subject, request.subject) &&
    sr.type === r.type &&
    sr.key === r.key &&
    sr.tenant === r.tenant &&
    stored.action === request.action &&
    so.method === o.method &&
    so.phase === o.phase &&
    so.component === o.component &&
    so.name === o.name &&
    so.uri === o.uri &&
    so.server === o.server &&
    same(sr.attributes, r.attributes) &&
    same(so.arguments, o.arguments) &&
    same(so.metadata, o.metadata) &&
    same(stored.context, request.context)
  );
}

/**
 * A copy of plain data that later changes to the original cannot reach. Sealed objects never
 * change, so they are shared rather than copied. Anything else makes the request uncacheable.
 */
function copy<T>(value: T, depth: number): T {
  if (typeof value === "function" || typeof value === "symbol") throw UNCACHEABLE;
  if (typeof value !== "object" || value === null || isSealed(value)) return value;
  if (depth >= MAX_DEPTH) throw UNCACHEABLE;
  if (Array.isArray(value)) return value.map((item: unknown) => copy(item, depth + 1)) as T;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (!isPlainRecord(value)) throw UNCACHEABLE;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    // defineProperty, not assignment: a "__proto__" key stays an own data property.
    Object.defineProperty(out, key, {
      value: copy((value as Record<string, unknown>)[key], depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out as T;
}

/**
 * What the cache keeps of a request to compare later ones with: the fields a PDP can see, copied,
 * so a caller that mutates its request (or its arguments) afterwards cannot change a cached key.
 * `undefined` when a field holds something other than plain data: such a request is not cached.
 */
export function snapshotRequest(request: AuthorizationRequest): AuthorizationRequest | undefined {
  const { subject: s, resource: r, operation: o } = request;
  try {
    return {
      subject: isSealed(s)
        ? s
        : {
            id: copy(s.id, 1),
            authenticated: copy(s.authenticated, 1),
            roles: copy(s.roles, 1),
            tenant: copy(s.tenant, 1),
            scopes: copy(s.scopes, 1),
            attributes: copy(s.attributes, 1),
            idIsCredential: copy(s.idIsCredential, 1),
          },
      resource: {
        type: copy(r.type, 1),
        key: copy(r.key, 1),
        tenant: copy(r.tenant, 1),
        attributes: copy(r.attributes, 1),
      },
      action: copy(request.action, 1),
      operation: {
        method: copy(o.method, 1),
        phase: copy(o.phase, 1),
        component: copy(o.component, 1),
        name: copy(o.name, 1),
        uri: copy(o.uri, 1),
        arguments: copy(o.arguments, 1),
        server: copy(o.server, 1),
        metadata: copy(o.metadata, 1),
      },
      context: copy(request.context, 1),
    } as AuthorizationRequest;
  } catch (error) {
    if (error === UNCACHEABLE) return undefined;
    throw error;
  }
}
