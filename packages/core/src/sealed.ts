/**
 * Plain data, and values known to be deeply immutable. A sealed object never changes, so whatever
 * is derived from it (a cache hash, for instance) can be kept by identity and reused. The plain
 * data helpers (kinds, copies) serve `sealedCopy` and the decision cache alike.
 */

const sealed = new WeakSet<object>();
const MAX_DEPTH = 32;
/** Values one {@link sealedCopy} may copy. */
const MAX_COPY = 100_000;

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
 * when `value` holds anything else (functions, class instances, dates, cycles), which the caller
 * then uses as it is.
 */
export function sealedCopy<T>(value: T): T | undefined {
  let copy: unknown;
  try {
    copy = copyPlain(value, { left: MAX_COPY });
  } catch {
    return undefined; // not plain data, or a getter that threw
  }
  seal(copy);
  return typeof copy !== "object" || copy === null || isSealed(copy) ? (copy as T) : undefined;
}

/** Thrown by the functions below for a value that is not plain data. */
export const NOT_PLAIN = new Error("not plain data");

/** The kinds of plain objects {@link plainKind} tells apart. */
export const RECORD_KIND = 1;
export const ARRAY_KIND = 2;
export const DATE_KIND = 3;

/**
 * Which kind of plain data an object is, or 0 when it is none: records by their prototype
 * (`Object.prototype`, none, or an empty frozen prototype with none, like the mapping's flattened
 * attributes), arrays of `Array.prototype` itself without a `toJSON` of their own, dates of
 * `Date.prototype` itself with no own properties. Not part of the public surface.
 */
export function plainKind(value: object): number {
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto === Object.prototype || proto === null || proto === lastEmpty) return RECORD_KIND;
  if (proto === Array.prototype) {
    return Array.isArray(value) && !Object.hasOwn(value, "toJSON") ? ARRAY_KIND : 0;
  }
  if (proto === Date.prototype) return Reflect.ownKeys(value).length === 0 ? DATE_KIND : 0;
  let empty = emptyPrototypes.get(proto);
  if (empty === undefined) {
    empty =
      Object.isFrozen(proto) &&
      Object.getPrototypeOf(proto) === null &&
      Reflect.ownKeys(proto).length === 0;
    emptyPrototypes.set(proto, empty);
  }
  if (!empty) return 0;
  lastEmpty = proto;
  return RECORD_KIND;
}
/** Frozen prototypes stay as they are, so what was found about one holds. */
const emptyPrototypes = new WeakMap<object, boolean>();
/** The empty frozen prototype seen last (the mapping's): most records have it or Object's. */
let lastEmpty: object | undefined;

/** The time of a plain date; throws {@link NOT_PLAIN} for an object without a date's slot. */
export function dateTime(date: object): number {
  try {
    return Date.prototype.getTime.call(date);
  } catch {
    throw NOT_PLAIN;
  }
}

/** How much one {@link copyPlain} may copy: values, and (when given) characters of strings and keys. */
export interface CopyBudget {
  left: number;
  chars?: number;
}

/**
 * A copy of plain data (see {@link plainKind}) that later changes to the original cannot reach.
 * Records keep their prototype; sealed objects never change, so they are shared rather than
 * copied (and not counted). Throws {@link NOT_PLAIN} for anything else, once `budget.left` values
 * were copied, or once `budget.chars` (when set) characters of strings and keys were.
 * Not part of the public surface.
 */
export function copyPlain(value: unknown, budget: CopyBudget, depth = 0): unknown {
  if (--budget.left < 0) throw NOT_PLAIN;
  if (typeof value === "function" || typeof value === "symbol") throw NOT_PLAIN;
  if (typeof value === "string") {
    if (budget.chars !== undefined && (budget.chars -= value.length) < 0) throw NOT_PLAIN;
    return value;
  }
  if (typeof value !== "object" || value === null) return value;
  if (Object.isFrozen(value) && sealed.has(value)) return value;
  if (depth >= MAX_DEPTH) throw NOT_PLAIN;
  switch (plainKind(value)) {
    case RECORD_KIND: {
      const proto = Object.getPrototypeOf(value) as object | null;
      const out = (proto === Object.prototype ? {} : Object.create(proto)) as Record<
        string,
        unknown
      >;
      for (const key of Object.keys(value)) {
        if (budget.chars !== undefined && (budget.chars -= key.length) < 0) throw NOT_PLAIN;
        // defineProperty, not assignment: a "__proto__" key stays an own data property.
        Object.defineProperty(out, key, {
          value: copyPlain((value as Record<string, unknown>)[key], budget, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    case ARRAY_KIND: {
      const array = value as readonly unknown[];
      const out: unknown[] = [];
      for (let i = 0; i < array.length; i++) {
        if (!(i in array)) throw NOT_PLAIN;
        out.push(copyPlain(array[i], budget, depth + 1));
      }
      return out;
    }
    case DATE_KIND:
      return new Date(dateTime(value));
    default:
      throw NOT_PLAIN;
  }
}
