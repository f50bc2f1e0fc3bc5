import { describe, expect, it } from "vitest";
import { withBatching } from "../src/decorators/batching.js";
import { ConfigError } from "../src/errors.js";
import type { AuthorizationRequest, Decision, PolicyDecisionPoint } from "../src/model.js";
import { functionPdp, recordingPdp } from "../src/testing.js";
import { callTool, listItem, manualPdp, tick, until } from "./decorators-support.js";

/** Allows tools whose name starts with "ok". */
const policy = () => functionPdp((r) => (r.operation.name ?? "").startsWith("ok"), "policy");

describe("withBatching over a PDP with checkMany", () => {
  it("gathers concurrent checks into one checkMany and answers each in order", async () => {
    const inner = recordingPdp(policy());
    const pdp = withBatching()(inner);
    const names = ["ok-1", "no-1", "ok-2", "no-2", "ok-3"];
    const decisions = await Promise.all(names.map((n) => pdp.check(callTool(n))));
    expect(decisions.map((d) => d.allow)).toEqual([true, false, true, false, true]);
    expect(inner.bulkCalls).toEqual([5]);
    expect(inner.checkCalls).toBe(0);
  });

  it("sends a batch as soon as it holds maxBatchSize requests", async () => {
    const inner = recordingPdp(policy());
    const pdp = withBatching({ maxBatchSize: 2, maxWaitMs: 1000 })(inner);
    const decisions = await Promise.all(
      ["ok-a", "no-b", "ok-c", "no-d"].map((n) => pdp.check(callTool(n))),
    );
    expect(decisions.map((d) => d.allow)).toEqual([true, false, true, false]);
    expect(inner.bulkCalls).toEqual([2, 2]);
  });

  it("sends a lone check at once as a single check, without waiting maxWaitMs", async () => {
    const inner = recordingPdp(policy());
    const pdp = withBatching({ maxBatchSize: 10, maxWaitMs: 1000 })(inner);
    const started = performance.now();
    expect(await pdp.check(callTool("ok-1"))).toMatchObject({ allow: true });
    expect(performance.now() - started).toBeLessThan(200);
    expect(inner.checkCalls).toBe(1);
    expect(inner.bulkCalls).toEqual([]);
  });

  it("sends checks awaited one after another each at once", async () => {
    const inner = recordingPdp(policy());
    const pdp = withBatching({ maxWaitMs: 1000 })(inner);
    const started = performance.now();
    for (const name of ["ok-1", "no-1", "ok-2", "no-2", "ok-3"]) {
      expect((await pdp.check(callTool(name))).allow).toBe(name.startsWith("ok"));
    }
    expect(performance.now() - started).toBeLessThan(500);
    expect(inner.checkCalls).toBe(5);
  });

  it("gathers the checks that arrive while a batch is in flight and sends them when it returns", async () => {
    const inner = manualPdp();
    const pdp = withBatching({ maxWaitMs: 1000 })(inner);
    const first = pdp.check(callTool("first"));
    await until(() => inner.pending.length === 1);
    const later = ["a", "b", "c"].map((n) => pdp.check(callTool(n)));
    await tick(20);
    expect(inner.calls).toBe(1);
    inner.pending[0]?.resolve({ allow: true, source: "pdp" });
    expect(await first).toMatchObject({ allow: true });
    await until(() => inner.bulk.length === 1);
    expect(inner.bulk[0]?.requests.map((r) => r.operation.name)).toEqual(["a", "b", "c"]);
    inner.bulk[0]?.resolve([true, false, true].map((allow) => ({ allow, source: "pdp" })));
    expect((await Promise.all(later)).map((d) => d.allow)).toEqual([true, false, true]);
  });

  it("sends the checks gathered behind a slow batch after maxWaitMs", async () => {
    const inner = manualPdp();
    const pdp = withBatching({ maxWaitMs: 10 })(inner);
    const first = pdp.check(callTool("slow"));
    await until(() => inner.pending.length === 1);
    const later = ["a", "b"].map((n) => pdp.check(callTool(n)));
    await until(() => inner.bulk.length === 1);
    expect(inner.bulk[0]?.requests.map((r) => r.operation.name)).toEqual(["a", "b"]);
    inner.bulk[0]?.resolve([
      { allow: true, source: "pdp" },
      { allow: false, source: "pdp" },
    ]);
    expect((await Promise.all(later)).map((d) => d.allow)).toEqual([true, false]);
    inner.pending[0]?.resolve({ allow: false, source: "pdp" });
    expect(await first).toMatchObject({ allow: false });
  });

  it("splits a checkMany larger than maxBatchSize and keeps the order", async () => {
    const inner = recordingPdp(policy());
    const pdp = withBatching({ maxBatchSize: 3 })(inner);
    const names = ["ok-1", "no-1", "ok-2", "no-2", "ok-3", "no-3", "ok-4"];
    const decisions = await pdp.checkMany!(names.map((n) => listItem(n)));
    expect(decisions.map((d) => d.allow)).toEqual([true, false, true, false, true, false, true]);
    expect(inner.bulkCalls).toEqual([3, 3, 1]);
  });

  it("leaves an aborted check out of its batch and answers it PDP_ABORTED", async () => {
    const inner = recordingPdp(policy());
    const pdp = withBatching({ maxWaitMs: 10 })(inner);
    const controller = new AbortController();
    const dropped = pdp.check(callTool("ok-dropped"), { signal: controller.signal });
    const kept = pdp.check(callTool("ok-kept"));
    controller.abort();
    expect(await dropped).toMatchObject({
      allow: false,
      source: "error",
      errorCode: "PDP_ABORTED",
    });
    expect(await kept).toMatchObject({ allow: true });
    expect(inner.requests.map((r) => r.operation.name)).toEqual(["ok-kept"]);
  });

  it("answers a check aborted while its batch runs at once, and aborts the batch when no item waits", async () => {
    const inner = manualPdp();
    const pdp = withBatching({ maxWaitMs: 0 })(inner);
    const c1 = new AbortController();
    const c2 = new AbortController();
    const a = pdp.check(callTool("a"), { signal: c1.signal });
    const b = pdp.check(callTool("b"), { signal: c2.signal });
    await until(() => inner.bulk.length === 1);
    c1.abort();
    expect(await a).toMatchObject({ errorCode: "PDP_ABORTED" });
    expect(inner.bulk[0]?.signal?.aborted).toBe(false);
    c2.abort();
    expect(await b).toMatchObject({ errorCode: "PDP_ABORTED" });
    expect(inner.bulk[0]?.signal?.aborted).toBe(true);
  });

  it("gives every item of a failing batch an error deny instead of rejecting", async () => {
    const inner: PolicyDecisionPoint = {
      name: "broken",
      check: () => Promise.resolve({ allow: true, source: "pdp" }),
      checkMany: () => Promise.reject(new Error("503 Service Unavailable")),
    };
    const pdp = withBatching()(inner);
    const decisions = await Promise.all([pdp.check(callTool("a")), pdp.check(callTool("b"))]);
    for (const d of decisions) {
      expect(d).toMatchObject({ allow: false, source: "error" });
      expect(d.reason).toContain("503");
    }
  });

  it("gives error denies when the inner checkMany answers the wrong number of decisions", async () => {
    const inner: PolicyDecisionPoint = {
      name: "short",
      check: () => Promise.resolve({ allow: true, source: "pdp" }),
      checkMany: () => Promise.resolve([{ allow: true, source: "pdp" }]),
    };
    const pdp = withBatching()(inner);
    const decisions = await Promise.all([pdp.check(callTool("a")), pdp.check(callTool("b"))]);
    expect(decisions.every((d) => !d.allow && d.errorCode === "PDP_BAD_RESPONSE")).toBe(true);
  });

  it("answers an already aborted check without queueing it", async () => {
    const inner = recordingPdp(policy());
    const pdp = withBatching()(inner);
    const d = await pdp.check(callTool("ok"), { signal: AbortSignal.abort() });
    expect(d).toMatchObject({ errorCode: "PDP_ABORTED" });
    await tick(10);
    expect(inner.requests).toHaveLength(0);
  });
});

describe("withBatching over a PDP without checkMany", () => {
  function gauge() {
    let running = 0;
    let peak = 0;
    const release: (() => void)[] = [];
    const pdp: PolicyDecisionPoint = {
      name: "slow",
      check: (request: AuthorizationRequest) => {
        running++;
        peak = Math.max(peak, running);
        return new Promise<Decision>((resolve) => {
          release.push(() => {
            running--;
            resolve({ allow: request.operation.name === "ok", source: "pdp" });
          });
        });
      },
    };
    return { pdp, release, peak: () => peak };
  }

  it("fans out single checks with at most maxConcurrency running", async () => {
    const g = gauge();
    const pdp = withBatching({ maxConcurrency: 3 })(g.pdp);
    const names = ["ok", "no", "ok", "no", "ok", "no", "ok"];
    const all = pdp.checkMany!(names.map((n) => callTool(n)));
    for (let served = 0; served < names.length; served++) {
      await until(() => g.release.length > served);
      g.release[served]?.();
    }
    const decisions = await all;
    expect(decisions.map((d) => d.allow)).toEqual(names.map((n) => n === "ok"));
    expect(g.peak()).toBe(3);
  });

  it("drops a check aborted while it waits for a slot", async () => {
    const g = gauge();
    const pdp = withBatching({ maxConcurrency: 1 })(g.pdp);
    const first = pdp.check(callTool("ok"));
    const controller = new AbortController();
    const second = pdp.check(callTool("ok"), { signal: controller.signal });
    await until(() => g.release.length === 1);
    controller.abort();
    expect(await second).toMatchObject({ errorCode: "PDP_ABORTED" });
    g.release[0]?.();
    expect(await first).toMatchObject({ allow: true });
    await tick(5);
    expect(g.release).toHaveLength(1);
  });

  it("keeps a PDP without checkMany free of a bulk call it never had", async () => {
    const inner = recordingPdp(policy());
    const single: PolicyDecisionPoint = { name: "single", check: inner.check };
    const pdp = withBatching()(single);
    const decisions = await Promise.all([pdp.check(callTool("ok")), pdp.check(callTool("no"))]);
    expect(decisions.map((d) => d.allow)).toEqual([true, false]);
    expect(inner.checkCalls).toBe(2);
  });
});

describe("withBatching options", () => {
  it("rejects invalid options with a ConfigError naming the option", () => {
    expect(() => withBatching({ maxBatchSize: 0 })).toThrow(ConfigError);
    expect(() => withBatching({ maxConcurrency: 0 })).toThrow(/maxConcurrency/);
    expect(() => withBatching({ maxWaitMs: -1 })).toThrow(/maxWaitMs/);
  });
});
