/**
 * Values known to be deeply immutable. A sealed object never changes, so whatever is derived from
 * it (a cache hash, for instance) can be kept by identity and reused.
 */

const sealed = new WeakSet<object>();
const NOT_PLAIN = Symbol("not plain data");
const MAX_DEPTH = 32;

/**
 * Whether `value` was sealed by {@link seal}: frozen plain data (objects and arrays of strings,
 * numbers, booleans, null and other sealed values) that can never change.
 */
export function isSealed(value: object): boolean {
  return sealed.has(value);
}

/**
 * Freezes `value` and every object it holds, and records the plain data among them as sealed (a
 * function, a class instance or a map is frozen but not sealed: its contents can still change).
 * Only for values this library built or copied: freezing someone else's objects would break
 * their code.
 */
export function seal<T>(value: T): T {
  sealPlain(value, 0);
  return value;
}

/**
 * Freezes `value` deeply; true when it is primitive or plain data, now sealed. Plain data here is
 * what JSON makes: records (prototype `Object.prototype` or none) and dense arrays (of
 * `Array.prototype`), whose properties are all enumerable data properties with string keys. A
 * getter could answer differently each time, so an object with one is frozen but never sealed.
 */
function sealPlain(value: unknown, depth: number): boolean {
  if (typeof value === "function" || typeof value === "symbol") return false;
  if (typeof value !== "object" || value === null) return true;
  if (sealed.has(value)) return true;
  if (depth >= MAX_DEPTH) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  const array = Array.isArray(value);
  let plain = array ? proto === Array.prototype : isPlainPrototype(proto);
  const descriptors = Object.getOwnPropertyDescriptors(value);
  for (const key of Reflect.ownKeys(descriptors)) {
    const d = descriptors[key as keyof typeof descriptors] as PropertyDescriptor;
    if (typeof key === "symbol" || !("value" in d)) {
      plain = false; // a symbol key or an accessor
      continue;
    }
    if (array && key === "length") continue;
    if (d.enumerable !== true) plain = false;
    plain = sealPlain(d.value, depth + 1) && plain;
  }
  if (array && Object.keys(value).length !== (value as unknown[]).length) plain = false; // holes
  Object.freeze(value);
  if (plain) sealed.add(value);
  return plain;
}

function isPlainPrototype(proto: unknown): boolean {
  return proto === Object.prototype || proto === null;
}

/**
 * A sealed copy of plain data (objects, arrays, strings, numbers, booleans, null), or `undefined`
 * when `value` holds anything else (functions, class instances, cycles), which the caller then
 * uses as it is.
 */
export function sealedCopy<T>(value: T): T | undefined {
  const copy = plainCopy(value, 0);
  return copy === NOT_PLAIN ? undefined : seal(copy as T);
}

function plainCopy(value: unknown, depth: number): unknown {
  if (typeof value !== "object" || value === null) {
    return typeof value === "function" || typeof value === "symbol" ? NOT_PLAIN : value;
  }
  if (depth >= MAX_DEPTH) return NOT_PLAIN;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return NOT_PLAIN;
    const out: unknown[] = [];
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) return NOT_PLAIN; // a hole
      const c = plainCopy((value as unknown[])[i], depth + 1);
      if (c === NOT_PLAIN) return NOT_PLAIN;
      out.push(c);
    }
    return out;
  }
  if (!isPlainPrototype(Object.getPrototypeOf(value))) return NOT_PLAIN;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const c = plainCopy((value as Record<string, unknown>)[key], depth + 1);
    if (c === NOT_PLAIN) return NOT_PLAIN;
    // defineProperty, not assignment: a "__proto__" key stays an own data property.
    Object.defineProperty(out, key, {
      value: c,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
