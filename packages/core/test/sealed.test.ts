import { describe, expect, it } from "vitest";
import { isSealed, seal, sealedCopy } from "../src/sealed.js";

describe("seal", () => {
  it("freezes a value through and through and records every object in it as sealed", () => {
    const value = { a: { b: [1, { c: "x" }] } };
    const sealed = seal(value);
    expect(sealed).toBe(value);
    expect(Object.isFrozen(value.a.b[1])).toBe(true);
    expect(isSealed(value)).toBe(true);
    expect(isSealed(value.a.b)).toBe(true);
    expect(isSealed({})).toBe(false);
  });

  it("freezes but does not seal what is not plain data, nor what holds it", () => {
    const value = { map: new Map([["a", 1]]), list: [() => 1] };
    seal(value);
    expect(Object.isFrozen(value.map)).toBe(true);
    expect(isSealed(value.map)).toBe(false);
    expect(isSealed(value.list)).toBe(false);
    expect(isSealed(value)).toBe(false);
  });
});

describe("seal: only what can never change", () => {
  it("does not seal objects with a getter, a symbol key or a hidden property, subclassed or holed arrays", () => {
    let role = "admin";
    const withGetter = {
      get role() {
        return role;
      },
    };
    class List extends Array<number> {}
    // eslint-disable-next-line no-sparse-arrays -- a hole is the point
    const holed = [, 1];
    for (const odd of [
      withGetter,
      { [Symbol("s")]: 1 },
      Object.defineProperty({}, "hidden", { value: 1, enumerable: false }),
      new List(),
      holed,
    ]) {
      seal(odd);
      expect(isSealed(odd)).toBe(false);
    }
    role = "guest";
    expect(withGetter.role).toBe("guest");
  });
});

describe("sealedCopy", () => {
  it("copies plain data, leaving the original the caller's and unfrozen", () => {
    const original = { annotations: { readOnlyHint: true }, tags: ["a"], n: null, u: undefined };
    const copy = sealedCopy(original);
    expect(copy).toEqual(original);
    expect(copy).not.toBe(original);
    expect(Object.isFrozen(original.annotations)).toBe(false);
    expect(copy && isSealed(copy.annotations)).toBe(true);
  });

  it("keeps a __proto__ key as plain data instead of a prototype", () => {
    const original = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    const copy = sealedCopy(original) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.hasOwn(copy, "__proto__")).toBe(true);
    expect((copy as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it("gives up on values that are not plain data", () => {
    class Point {
      x = 1;
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const odd of [
      { f: () => 1 },
      { p: new Point() },
      { m: new Map() },
      cyclic,
      { s: Symbol("s") },
    ]) {
      expect(sealedCopy(odd)).toBeUndefined();
    }
  });
});
