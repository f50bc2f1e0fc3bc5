import { describe, expect, it } from "vitest";
import { allOf, anyOf, firstApplicable } from "../src/combine.js";
import { ConfigError } from "../src/errors.js";
import { mapRequest, resolveMapping } from "../src/mapping.js";
import type { AuthorizationRequest, Decision, PolicyDecisionPoint } from "../src/model.js";
import { allowAll, denyAll, functionPdp, recordingPdp } from "../src/testing.js";

const mapping = resolveMapping();

function request(name: string): AuthorizationRequest {
  const m = mapRequest("tools/call", { name }, mapping);
  return { subject: { id: "ada", authenticated: true }, ...m };
}

const reqs = ["a", "b", "c", "d"].map(request);

function throwing(name = "throwing"): PolicyDecisionPoint {
  return {
    name,
    check: () => Promise.reject(new Error(`${name} is down`)),
    checkMany: () => Promise.reject(new Error(`${name} is down`)),
  };
}

/** Allows the named tools; every other decision is a deny marked not applicable. */
function only(names: string[], label = "only"): PolicyDecisionPoint {
  return functionPdp(
    (r): Decision =>
      names.includes(r.operation.name ?? "")
        ? { allow: true, source: "pdp", reason: label }
        : { allow: false, source: "pdp", reason: label, applicable: false },
    label,
  );
}

describe("allOf", () => {
  it("allows when every PDP allows", async () => {
    const d = await allOf(
      allowAll(),
      functionPdp(() => ({ allow: true, source: "pdp", reason: "last" })),
    ).check(reqs[0]!);
    expect(d).toMatchObject({ allow: true, reason: "last" });
  });

  it("denies with the first deny and never asks the next PDP", async () => {
    const second = recordingPdp();
    const d = await allOf(denyAll("first says no"), second).check(reqs[0]!);
    expect(d).toMatchObject({ allow: false, reason: "first says no" });
    expect(second.requests).toHaveLength(0);
  });

  it("denies with source error when a PDP fails, and never asks the next one", async () => {
    const second = recordingPdp();
    const d = await allOf(throwing(), second).check(reqs[0]!);
    expect(d).toMatchObject({ allow: false, source: "error" });
    expect(second.requests).toHaveLength(0);
  });

  it("denies when a later PDP denies", async () => {
    expect((await allOf(allowAll(), denyAll()).check(reqs[0]!)).allow).toBe(false);
  });

  it("denies when a PDP answers a non-boolean allow", async () => {
    const odd: PolicyDecisionPoint = {
      name: "odd",
      check: () => Promise.resolve({ allow: "yes" } as unknown as Decision),
    };
    expect((await allOf(odd).check(reqs[0]!)).allow).toBe(false);
    expect((await allOf(allowAll(), odd).check(reqs[0]!)).allow).toBe(false);
  });

  it("checks many: sends only what the first allowed to the second, in order", async () => {
    const first = recordingPdp(only(["a", "b", "c"], "first"));
    const second = recordingPdp(only(["b", "c", "d"], "second"));
    const out = await allOf(first, second).checkMany!(reqs);
    expect(out.map((d) => d.allow)).toEqual([false, true, true, false]);
    expect(first.bulkCalls).toEqual([4]);
    expect(second.bulkCalls).toEqual([3]);
    expect(second.requests.map((r) => r.operation.name)).toEqual(["a", "b", "c"]);
    expect(out[3]?.reason).toBe("first");
    expect(out[0]?.reason).toBe("second");
  });

  it("checks many: stops asking once every request is denied", async () => {
    const second = recordingPdp();
    const out = await allOf(denyAll(), second).checkMany!(reqs);
    expect(out.every((d) => !d.allow)).toBe(true);
    expect(second.requests).toHaveLength(0);
  });

  it("checks many: a failing PDP denies everything it was asked", async () => {
    const out = await allOf(allowAll(), throwing()).checkMany!(reqs);
    expect(out.map((d) => [d.allow, d.source])).toEqual(reqs.map(() => [false, "error"]));
  });

  it("checks many with PDPs that have no checkMany", async () => {
    const out = await allOf(allowAll(), denyAll()).checkMany!(reqs.slice(0, 2));
    expect(out.map((d) => d.allow)).toEqual([false, false]);
  });

  it("checks many: an empty batch asks nobody", async () => {
    const pdp = recordingPdp();
    expect(await allOf(pdp).checkMany!([])).toEqual([]);
    expect(pdp.bulkCalls).toEqual([]);
  });
});

describe("anyOf", () => {
  it("allows with the first allow and never asks the next PDP", async () => {
    const second = recordingPdp();
    const d = await anyOf(
      functionPdp(() => ({ allow: true, source: "pdp", reason: "one" })),
      second,
    ).check(reqs[0]!);
    expect(d).toMatchObject({ allow: true, reason: "one" });
    expect(second.requests).toHaveLength(0);
  });

  it("asks the next PDP after a deny", async () => {
    const d = await anyOf(denyAll(), allowAll()).check(reqs[0]!);
    expect(d.allow).toBe(true);
  });

  it("denies with the last deny when nobody allows", async () => {
    const d = await anyOf(denyAll("first"), denyAll("last")).check(reqs[0]!);
    expect(d).toMatchObject({ allow: false, reason: "last" });
  });

  it("never allows because of errors", async () => {
    const d = await anyOf(throwing("x"), throwing("y")).check(reqs[0]!);
    expect(d).toMatchObject({ allow: false, source: "error" });
  });

  it("checks many: sends only the denied requests to the next PDP, in order", async () => {
    const first = recordingPdp(only(["a", "c"], "first"));
    const second = recordingPdp(only(["d"], "second"));
    const out = await anyOf(first, second).checkMany!(reqs);
    expect(out.map((d) => d.allow)).toEqual([true, false, true, true]);
    expect(second.requests.map((r) => r.operation.name)).toEqual(["b", "d"]);
    expect(out.map((d) => d.reason)).toEqual(["first", "second", "first", "second"]);
  });

  it("checks many: stops asking once every request is allowed", async () => {
    const second = recordingPdp();
    await anyOf(allowAll(), second).checkMany!(reqs);
    expect(second.requests).toHaveLength(0);
  });

  it("checks many: errors never allow", async () => {
    const out = await anyOf(throwing(), denyAll()).checkMany!(reqs);
    expect(out.every((d) => !d.allow)).toBe(true);
  });
});

describe("firstApplicable", () => {
  it("decides with the first PDP whose decision applies", async () => {
    const second = recordingPdp(denyAll("second"));
    const d = await firstApplicable(only(["a"], "first"), second).check(reqs[0]!);
    expect(d).toMatchObject({ allow: true, reason: "first" });
    expect(second.requests).toHaveLength(0);
  });

  it("falls through a deny marked applicable false", async () => {
    const d = await firstApplicable(only(["x"], "first"), allowAll()).check(reqs[0]!);
    expect(d.allow).toBe(true);
  });

  it("stops at an applicable deny", async () => {
    const third = recordingPdp();
    const d = await firstApplicable(only(["x"], "first"), denyAll("stop"), third).check(reqs[0]!);
    expect(d).toMatchObject({ allow: false, reason: "stop" });
    expect(third.requests).toHaveLength(0);
  });

  it("denies when no PDP applies", async () => {
    const d = await firstApplicable(only([], "a"), only([], "b")).check(reqs[0]!);
    expect(d).toMatchObject({ allow: false, applicable: false });
  });

  it("stops at an error instead of falling through to an allow", async () => {
    const d = await firstApplicable(throwing(), allowAll()).check(reqs[0]!);
    expect(d).toMatchObject({ allow: false, source: "error" });
  });

  it("checks many: sends only the requests that did not apply to the next PDP", async () => {
    const first = recordingPdp(only(["a"], "first"));
    const second = recordingPdp(only(["b", "c"], "second"));
    const out = await firstApplicable(first, second).checkMany!(reqs);
    expect(second.requests.map((r) => r.operation.name)).toEqual(["b", "c", "d"]);
    expect(out.map((d) => [d.allow, d.reason])).toEqual([
      [true, "first"],
      [true, "second"],
      [true, "second"],
      [false, "no PDP applied"],
    ]);
  });

  it("checks many: errors never allow and stop the chain", async () => {
    const second = recordingPdp();
    const out = await firstApplicable(throwing(), second).checkMany!(reqs);
    expect(out.map((d) => [d.allow, d.source])).toEqual(reqs.map(() => [false, "error"]));
    expect(second.requests).toHaveLength(0);
  });
});

describe("combinators in general", () => {
  it("need at least one PDP", () => {
    expect(() => allOf()).toThrow(ConfigError);
    expect(() => anyOf()).toThrow(/at least one PDP/);
    expect(() => firstApplicable()).toThrow(ConfigError);
  });

  it("are named after their PDPs", () => {
    expect(allOf(allowAll(), denyAll()).name).toBe("allOf(allow-all,deny-all)");
    expect(anyOf(allowAll()).name).toBe("anyOf(allow-all)");
    expect(firstApplicable(denyAll()).name).toBe("firstApplicable(deny-all)");
  });

  it("close every PDP", async () => {
    for (const combine of [allOf, anyOf, firstApplicable]) {
      const closed: string[] = [];
      const closing = (name: string): PolicyDecisionPoint => ({
        ...allowAll(),
        name,
        close: () => {
          closed.push(name);
          return Promise.resolve();
        },
      });
      await combine(closing("a"), allowAll(), closing("b")).close?.();
      expect(closed.sort()).toEqual(["a", "b"]);
    }
  });

  it("pass the abort signal to every PDP", async () => {
    const seen: (AbortSignal | undefined)[] = [];
    const spy = functionPdp((_, options) => {
      seen.push(options?.signal);
      return true;
    });
    const controller = new AbortController();
    await allOf(spy, spy).check(reqs[0]!, { signal: controller.signal });
    await allOf(spy).checkMany!(reqs.slice(0, 1), { signal: controller.signal });
    expect(seen).toEqual([controller.signal, controller.signal, controller.signal]);
  });
});
