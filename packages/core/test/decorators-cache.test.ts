import { describe, expect, it } from "vitest";
import { Authorizer } from "../src/authorizer.js";
import { cacheWith, withCache } from "../src/decorators/cache.js";
import { seal } from "../src/sealed.js";
import { ConfigError } from "../src/errors.js";
import type { AuthorizationRequest, Decision, Subject } from "../src/model.js";
import { functionPdp, recordingPdp } from "../src/testing.js";
import { alice, bob, callTool, listItem, manualPdp, tick, until } from "./decorators-support.js";

const allowAlice = () => recordingPdp(functionPdp((r) => r.subject.id === "alice", "policy"));

describe("withCache: answers", () => {
  it("answers a repeated check from the cache with source cache and the original decision id", async () => {
    const inner = recordingPdp(
      functionPdp(() => ({ allow: true, source: "pdp", decisionId: "d-1", reason: "rule 7" })),
    );
    const pdp = withCache()(inner);
    const first = await pdp.check(callTool("greet"));
    const second = await pdp.check(callTool("greet"));
    expect(first).toEqual({ allow: true, source: "pdp", decisionId: "d-1", reason: "rule 7" });
    expect(second).toEqual({ allow: true, source: "cache", decisionId: "d-1", reason: "rule 7" });
    expect(inner.checkCalls).toBe(1);
    expect(pdp.stats()).toMatchObject({ hits: 1, misses: 1, size: 1 });
  });

  it("never answers one subject with a decision cached for another: two users see different lists", async () => {
    const visible: Record<string, string[]> = { alice: ["search"], bob: ["delete"] };
    const inner = recordingPdp(
      functionPdp((r) => visible[r.subject.id]?.includes(r.operation.name ?? "") ?? false),
    );
    const cached = withCache()(inner);
    const authorizer = new Authorizer({ pdp: cached, audit: false });
    const page = { tools: [{ name: "search" }, { name: "delete" }] };
    const names = async (subject: Subject) => {
      const { result } = await authorizer.filterList("tools/list", page, {}, subject);
      return (result.tools as { name: string }[]).map((t) => t.name);
    };
    for (let round = 0; round < 2; round++) {
      expect(await names(alice)).toEqual(["search"]);
      expect(await names(bob)).toEqual(["delete"]);
    }
    // The second round came from the cache: four items asked once each.
    expect(inner.requests).toHaveLength(4);
    expect(cached.stats().hits).toBe(4);
  });

  it("keeps subjects apart that differ only in roles, tenant, scopes, attributes or authentication", async () => {
    const inner = recordingPdp(functionPdp(() => true));
    const pdp = withCache()(inner);
    const base: Subject = { id: "u", authenticated: true };
    const variants: Subject[] = [
      base,
      { ...base, authenticated: false },
      { ...base, roles: ["admin"] },
      { ...base, roles: ["user"] },
      { ...base, tenant: "t1" },
      { ...base, tenant: "t2" },
      { ...base, scopes: ["read"] },
      { ...base, attributes: { department: "sales" } },
      { ...base, attributes: { department: "legal" } },
    ];
    for (const subject of variants) await pdp.check(callTool("greet", subject));
    expect(inner.checkCalls).toBe(variants.length);
    expect(pdp.stats().size).toBe(variants.length);
  });

  it("keeps apart requests that differ in arguments, resource, action or context", async () => {
    const inner = recordingPdp(functionPdp(() => true));
    const pdp = withCache()(inner);
    const requests: AuthorizationRequest[] = [
      callTool("transfer", alice, { amount: 10 }),
      callTool("transfer", alice, { amount: 1000 }),
      callTool("transfer", alice, { amount: "10" }),
      callTool("transfer"),
      callTool("refund"),
      listItem("transfer"),
      { ...callTool("transfer"), context: { ip: "10.0.0.1" } },
      { ...callTool("transfer"), resource: { ...callTool("transfer").resource, key: "k" } },
    ];
    for (const r of requests) await pdp.check(r);
    expect(inner.checkCalls).toBe(requests.length);
  });

  it("keeps apart requests that differ only in argumentLimits, and asks the PDP with them", async () => {
    const inner = recordingPdp(functionPdp(() => true));
    const pdp = withCache()(inner);
    const base = callTool("transfer", alice, { memo: "x" });
    const raised = {
      ...base,
      operation: { ...base.operation, argumentLimits: { maxStringLength: 65_536 } },
    };
    await pdp.check(base);
    await pdp.check(raised);
    await pdp.check(raised);
    expect(inner.checkCalls).toBe(2);
    expect(inner.requests.map((r) => r.operation.argumentLimits)).toEqual([
      base.operation.argumentLimits,
      { maxStringLength: 65_536 },
    ]);
  });

  it("shares an entry between requests that differ only in role order or attribute key order", async () => {
    const inner = recordingPdp(functionPdp(() => true));
    const pdp = withCache()(inner);
    await pdp.check(
      callTool("greet", {
        id: "u",
        authenticated: true,
        roles: ["a", "b"],
        attributes: { x: 1, y: 2 },
      }),
    );
    const again = await pdp.check(
      callTool("greet", {
        id: "u",
        authenticated: true,
        roles: ["b", "a"],
        attributes: { y: 2, x: 1 },
      }),
    );
    expect(again.source).toBe("cache");
    expect(inner.checkCalls).toBe(1);
  });

  it("caches denies for denyTtlMs and allows for allowTtlMs", async () => {
    const inner = allowAlice();
    const pdp = withCache({ allowTtlMs: 60_000, denyTtlMs: 20 })(inner);
    await pdp.check(callTool("greet", alice));
    await pdp.check(callTool("greet", bob));
    await tick(60);
    expect((await pdp.check(callTool("greet", alice))).source).toBe("cache");
    const bobAgain = await pdp.check(callTool("greet", bob));
    expect(bobAgain).toMatchObject({ allow: false, source: "pdp" });
    expect(inner.checkCalls).toBe(3);
  });

  it("never caches a kind of decision whose TTL is 0", async () => {
    const inner = allowAlice();
    const pdp = withCache({ allowTtlMs: 0 })(inner);
    await pdp.check(callTool("greet", alice));
    await pdp.check(callTool("greet", alice));
    await pdp.check(callTool("greet", bob));
    await pdp.check(callTool("greet", bob));
    expect(inner.checkCalls).toBe(3);
  });

  it("keeps at most max decisions", async () => {
    const pdp = withCache({ max: 2 })(functionPdp(() => true));
    for (const tool of ["a", "b", "c", "d"]) await pdp.check(callTool(tool));
    expect(pdp.stats().size).toBe(2);
  });

  it("rejects invalid options with a ConfigError naming the option", () => {
    expect(() => withCache({ max: 0 })).toThrow(ConfigError);
    expect(() => withCache({ denyTtlMs: -1 })).toThrow(/denyTtlMs/);
    expect(() => withCache({ allowTtlMs: 1.5 })).toThrow(/allowTtlMs/);
  });
});

describe("withCache: a request repeating the last one found", () => {
  // The entry found last answers an equal request without hashing it: these pin that it answers
  // only what a lookup would, through check and checkSync alike.
  it("answers the same request again, and nothing that differs from it", async () => {
    const inner = recordingPdp(functionPdp((r) => r.operation.arguments?.id !== "secret"));
    const pdp = withCache()(inner);
    await pdp.check(callTool("read", alice, { id: "n1" }));
    expect(pdp.checkSync?.(callTool("read", alice, { id: "n1" }))?.source).toBe("cache");
    expect((await pdp.check(callTool("read", alice, { id: "n1" }))).source).toBe("cache");
    // Right after that hit: another argument, subject or tool is not answered by it.
    expect(pdp.checkSync?.(callTool("read", alice, { id: "secret" }))).toBeUndefined();
    expect(await pdp.check(callTool("read", alice, { id: "secret" }))).toMatchObject({
      allow: false,
      source: "pdp",
    });
    await pdp.check(callTool("read", alice, { id: "n1" }));
    expect((await pdp.check(callTool("read", bob, { id: "n1" }))).source).toBe("pdp");
    await pdp.check(callTool("read", alice, { id: "n1" }));
    expect((await pdp.check(callTool("write", alice, { id: "n1" }))).source).toBe("pdp");
    expect(inner.checkCalls).toBe(4);
  });

  it("stops answering once the entry expired, was invalidated or cleared", async () => {
    const inner = recordingPdp(functionPdp(() => false));
    const pdp = withCache({ denyTtlMs: 20 })(inner);
    await pdp.check(callTool("greet"));
    expect((await pdp.check(callTool("greet"))).source).toBe("cache");
    await tick(40);
    expect(pdp.checkSync?.(callTool("greet"))).toBeUndefined();
    expect((await pdp.check(callTool("greet"))).source).toBe("pdp");
    expect((await pdp.check(callTool("greet"))).source).toBe("cache");
    pdp.invalidate({ subject: "alice" });
    expect((await pdp.check(callTool("greet"))).source).toBe("pdp");
    expect((await pdp.check(callTool("greet"))).source).toBe("cache");
    pdp.clear();
    expect((await pdp.check(callTool("greet"))).source).toBe("pdp");
    expect(inner.checkCalls).toBe(4);
  });

  it("stops answering once another request took the entry's slot", async () => {
    const inner = recordingPdp(functionPdp((r) => r.operation.name === "greet"));
    // One slot for every request: the second request replaces the first one's entry.
    const pdp = cacheWith({}, () => 7)(inner);
    await pdp.check(callTool("greet"));
    expect((await pdp.check(callTool("greet"))).source).toBe("cache");
    expect(await pdp.check(callTool("delete"))).toMatchObject({ allow: false, source: "pdp" });
    expect(await pdp.check(callTool("greet"))).toMatchObject({ allow: true, source: "pdp" });
    expect(inner.checkCalls).toBe(3);
  });
});

describe("withCache: errors", () => {
  it("never caches an error decision", async () => {
    let n = 0;
    const inner = recordingPdp(
      functionPdp((): Decision => {
        n++;
        return n === 1
          ? { allow: false, source: "error", errorCode: "PDP_UNAVAILABLE", reason: "down" }
          : { allow: true, source: "pdp" };
      }),
    );
    const pdp = withCache()(inner);
    expect(await pdp.check(callTool("greet"))).toMatchObject({ source: "error" });
    expect(await pdp.check(callTool("greet"))).toMatchObject({ allow: true, source: "pdp" });
    expect(await pdp.check(callTool("greet"))).toMatchObject({ allow: true, source: "cache" });
    expect(inner.checkCalls).toBe(2);
  });

  it("turns a throwing PDP into an error deny and asks again next time", async () => {
    let fail = true;
    const pdp = withCache()({
      name: "flaky",
      check: () => {
        if (fail) throw new Error("boom");
        return Promise.resolve({ allow: true, source: "pdp" });
      },
    });
    const failed = await pdp.check(callTool("greet"));
    expect(failed).toMatchObject({ allow: false, source: "error" });
    expect(failed.reason).toContain("boom");
    fail = false;
    expect(await pdp.check(callTool("greet"))).toMatchObject({ allow: true, source: "pdp" });
  });

  it("lets a failed shared call answer its waiters with the error, then asks afresh", async () => {
    const inner = manualPdp();
    const pdp = withCache()(inner);
    const waiting = [pdp.check(callTool("greet")), pdp.check(callTool("greet"))];
    await until(() => inner.pending.length === 1);
    inner.pending[0]?.reject(new Error("connection reset"));
    const answers = await Promise.all(waiting);
    expect(answers.every((d) => d.source === "error" && !d.allow)).toBe(true);
    const next = pdp.check(callTool("greet"));
    await until(() => inner.pending.length === 2);
    inner.pending[1]?.resolve({ allow: true, source: "pdp" });
    expect(await next).toMatchObject({ allow: true, source: "pdp" });
  });
});

describe("withCache: single-flight", () => {
  it("makes one PDP call for concurrent identical checks", async () => {
    const inner = manualPdp();
    const pdp = withCache()(inner);
    const answers = Array.from({ length: 10 }, () => pdp.check(callTool("greet")));
    await until(() => inner.pending.length === 1);
    inner.pending[0]?.resolve({ allow: true, source: "pdp", decisionId: "x" });
    const decisions = await Promise.all(answers);
    expect(decisions.every((d) => d.allow && d.decisionId === "x")).toBe(true);
    expect(inner.calls).toBe(1);
    expect(pdp.stats()).toMatchObject({ misses: 10, shared: 9 });
  });

  it("keeps a shared call running for the others when one caller aborts", async () => {
    const inner = manualPdp();
    const pdp = withCache()(inner);
    const controller = new AbortController();
    const impatient = pdp.check(callTool("greet"), { signal: controller.signal });
    const patient = pdp.check(callTool("greet"));
    await until(() => inner.pending.length === 1);
    controller.abort();
    expect(await impatient).toMatchObject({ allow: false, errorCode: "PDP_ABORTED" });
    expect(inner.pending[0]?.signal?.aborted).toBe(false);
    inner.pending[0]?.resolve({ allow: true, source: "pdp" });
    expect(await patient).toMatchObject({ allow: true });
  });

  it("aborts the PDP call when its only caller aborts, and caches nothing", async () => {
    const inner = manualPdp();
    const pdp = withCache()(inner);
    const controller = new AbortController();
    const answer = pdp.check(callTool("greet"), { signal: controller.signal });
    await until(() => inner.pending.length === 1);
    controller.abort();
    expect(await answer).toMatchObject({ errorCode: "PDP_ABORTED" });
    expect(inner.pending[0]?.signal?.aborted).toBe(true);
    // A new check does not join the abandoned call.
    const next = pdp.check(callTool("greet"));
    await until(() => inner.pending.length === 2);
    inner.pending[1]?.resolve({ allow: true, source: "pdp" });
    expect(await next).toMatchObject({ allow: true, source: "pdp" });
  });

  it("answers an already aborted check without asking the PDP", async () => {
    const inner = recordingPdp(functionPdp(() => true));
    const pdp = withCache()(inner);
    const answer = await pdp.check(callTool("greet"), { signal: AbortSignal.abort() });
    expect(answer).toMatchObject({ allow: false, source: "error", errorCode: "PDP_ABORTED" });
    expect(inner.checkCalls).toBe(0);
  });
});

describe("withCache: checkMany", () => {
  it("sends only the misses, in one inner checkMany, and keeps the order", async () => {
    const inner = allowAlice();
    const pdp = withCache()(inner);
    await pdp.check(listItem("a", alice));
    await pdp.check(listItem("b", bob));
    inner.reset();
    const requests = [
      listItem("a", alice),
      listItem("c", bob),
      listItem("b", bob),
      listItem("d", alice),
      listItem("c", bob),
    ];
    const decisions = await pdp.checkMany(requests);
    expect(decisions.map((d) => [d.allow, d.source])).toEqual([
      [true, "cache"],
      [false, "pdp"],
      [false, "cache"],
      [true, "pdp"],
      [false, "pdp"],
    ]);
    expect(inner.bulkCalls).toEqual([2]);
    expect(inner.checkCalls).toBe(0);
    const again = await pdp.checkMany(requests);
    expect(again.every((d) => d.source === "cache")).toBe(true);
    expect(inner.bulkCalls).toEqual([2]);
  });

  it("lets a single check join an item of a running bulk call", async () => {
    const inner = manualPdp();
    const pdp = withCache()(inner);
    const bulk = pdp.checkMany([listItem("a"), listItem("b")]);
    await until(() => inner.bulk.length === 1);
    const single = pdp.check(listItem("b"));
    inner.bulk[0]?.resolve([
      { allow: true, source: "pdp" },
      { allow: false, source: "pdp" },
    ]);
    expect((await bulk).map((d) => d.allow)).toEqual([true, false]);
    expect(await single).toMatchObject({ allow: false });
    expect(inner.calls).toBe(1);
  });

  it("gives error denies for a failing bulk call and caches none of them", async () => {
    const inner = manualPdp();
    const pdp = withCache()(inner);
    const bulk = pdp.checkMany([listItem("a"), listItem("b")]);
    await until(() => inner.bulk.length === 1);
    inner.bulk[0]?.reject(new Error("502"));
    expect((await bulk).every((d) => !d.allow && d.source === "error")).toBe(true);
    expect(pdp.stats().size).toBe(0);
  });

  it("works over a PDP without checkMany", async () => {
    const inner = {
      name: "single",
      check: () => Promise.resolve({ allow: true, source: "pdp" as const }),
    };
    const pdp = withCache()(inner);
    const decisions = await pdp.checkMany([listItem("a"), listItem("b")]);
    expect(decisions.map((d) => d.allow)).toEqual([true, true]);
  });
});

describe("withCache: invalidation", () => {
  it("drops entries by subject, resource type and resource key", async () => {
    const pdp = withCache()(functionPdp(() => true));
    const requests = [
      callTool("greet", alice),
      callTool("greet", bob),
      { ...callTool("greet", alice), resource: { type: "doc", key: "1", attributes: {} } },
      { ...callTool("greet", alice), resource: { type: "doc", key: "2", attributes: {} } },
    ];
    for (const r of requests) await pdp.check(r);
    expect(pdp.stats().size).toBe(4);
    expect(pdp.invalidate({ resourceType: "doc", resourceKey: "1" })).toBe(1);
    expect(pdp.invalidate({ subject: "bob" })).toBe(1);
    expect(pdp.stats().size).toBe(2);
    expect((await pdp.check(requests[0]!)).source).toBe("cache");
    expect((await pdp.check(requests[1]!)).source).toBe("pdp");
    expect(pdp.invalidate({ resourceType: "doc" })).toBe(1);
    pdp.clear();
    expect(pdp.stats().size).toBe(0);
  });

  it("does not store the answer of a call that was running when the cache was invalidated", async () => {
    const inner = manualPdp();
    const pdp = withCache()(inner);
    const answer = pdp.check(callTool("greet"));
    await until(() => inner.pending.length === 1);
    pdp.invalidate({ subject: "alice" });
    inner.pending[0]?.resolve({ allow: true, source: "pdp" });
    expect(await answer).toMatchObject({ allow: true });
    expect(pdp.stats().size).toBe(0);
  });
});

describe("withCache: which requests share a decision", () => {
  const subjectWith = (attributes: Record<string, unknown>): AuthorizationRequest =>
    callTool("greet", { id: "u", authenticated: true, attributes });

  /** How many of `requests` reached the PDP after each was checked twice. */
  const distinctCalls = async (requests: AuthorizationRequest[], hash = withCache) => {
    const inner = recordingPdp(functionPdp(() => true));
    const pdp = hash()(inner);
    for (const request of requests) await pdp.check(request);
    for (const request of requests) await pdp.check(request);
    return inner.checkCalls;
  };

  it("keeps apart values JSON would conflate", async () => {
    const values: unknown[] = [
      "1",
      1,
      null,
      undefined,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      0,
      -0,
      true,
      "true",
      [],
      {},
      [undefined],
      10n,
      new Date(0),
    ];
    const requests = [...values.map((v) => subjectWith({ v })), subjectWith({})];
    expect(await distinctCalls(requests)).toBe(requests.length);
  });

  it("shares a decision between requests that differ only in key order or role order", async () => {
    const inner = recordingPdp(functionPdp(() => true));
    const pdp = withCache()(inner);
    await pdp.check(
      callTool(
        "greet",
        { id: "u", authenticated: true, roles: ["a", "b"] },
        { x: 1, y: { p: 1, q: 2 } },
      ),
    );
    const again = await pdp.check(
      callTool(
        "greet",
        { id: "u", authenticated: true, roles: ["b", "a"] },
        { y: { q: 2, p: 1 }, x: 1 },
      ),
    );
    expect(again.source).toBe("cache");
    expect(inner.checkCalls).toBe(1);
  });

  it("keeps apart requests that differ in any argument, however deep", async () => {
    const requests = [
      callTool("greet", alice, { who: "ada", n: 1 }),
      callTool("greet", alice, { who: "bob", n: 1 }),
      callTool("greet", alice, { who: "ada", n: 2 }),
      callTool("greet", alice, { who: "ada", n: 1, deep: { a: [1, { b: "x" }] } }),
      callTool("greet", alice, { who: "ada", n: 1, deep: { a: [1, { b: "y" }] } }),
      callTool("greet", alice, { who: "ada", n: 1, deep: { a: [{ b: "x" }, 1] } }),
    ];
    expect(await distinctCalls(requests)).toBe(requests.length);
  });

  it("cannot be confused by separators inside strings", async () => {
    const a = callTool("greet", { id: 'a","b', authenticated: true });
    const b = callTool("greet", { id: "a", authenticated: true, roles: ["b"] });
    expect(await distinctCalls([a, b])).toBe(2);
  });

  it("keeps long arguments apart that differ only at the end", async () => {
    const long = "x".repeat(20_000);
    const requests = [
      callTool("greet", alice, { text: long + "1" }),
      callTool("greet", alice, { text: long + "2" }),
    ];
    expect(await distinctCalls(requests)).toBe(2);
  });

  it("never answers a request with another's decision when their hashes collide", async () => {
    const inner = recordingPdp(functionPdp((r) => r.operation.name === "greet"));
    const pdp = cacheWith({}, () => 42)(inner);
    expect((await pdp.check(callTool("greet"))).allow).toBe(true);
    expect((await pdp.check(callTool("delete"))).allow).toBe(false);
    expect((await pdp.check(callTool("greet"))).allow).toBe(true);
    expect(inner.checkCalls).toBe(3);
    // Concurrent colliding checks do not join each other's PDP call either.
    pdp.clear();
    const [greet, remove] = await Promise.all([
      pdp.check(callTool("greet")),
      pdp.check(callTool("delete")),
    ]);
    expect(greet.allow).toBe(true);
    expect(remove.allow).toBe(false);
    // And a bulk check with colliding items asks for each of them.
    pdp.clear();
    const decisions = await pdp.checkMany([
      callTool("greet"),
      callTool("delete"),
      callTool("greet"),
    ]);
    expect(decisions.map((d) => d.allow)).toEqual([true, false, true]);
  });

  it("is not changed by a caller mutating its request after the decision was cached", async () => {
    const inner = recordingPdp(functionPdp((r) => r.operation.arguments?.path !== "/etc"));
    // One slot for every request: only the comparison with the cached copy keeps them apart.
    const pdp = cacheWith({}, () => 7)(inner);
    const request = callTool("read", alice, { path: "/tmp" });
    expect((await pdp.check(request)).allow).toBe(true);
    // The decided request, changed afterwards into a request for /etc.
    (request.operation.arguments as Record<string, unknown>).path = "/etc";
    (request.resource.attributes as Record<string, unknown>).arg_path = "/etc";
    expect((await pdp.check(callTool("read", alice, { path: "/etc" }))).allow).toBe(false);
    expect(inner.checkCalls).toBe(2);
  });

  it("reuses the hash of a sealed subject and still tells sealed subjects apart", async () => {
    const ada = seal({ id: "ada", authenticated: true, roles: ["user"], attributes: { level: 3 } });
    const ada4 = seal({
      id: "ada",
      authenticated: true,
      roles: ["user"],
      attributes: { level: 4 },
    });
    const inner = recordingPdp(functionPdp((r) => r.subject.attributes?.level === 3));
    const pdp = withCache()(inner);
    expect((await pdp.check(callTool("greet", ada))).allow).toBe(true);
    expect((await pdp.check(callTool("greet", ada4))).allow).toBe(false);
    expect((await pdp.check(callTool("greet", ada))).source).toBe("cache");
    expect(inner.checkCalls).toBe(2);
  });

  it("refuses values it cannot compare unambiguously, and such requests always reach the PDP", async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const withProperty = Object.create({ inherited: true }) as Record<string, unknown>;
    const base = callTool("greet");
    // Also in the fields the hash leaves out (resource attributes, declared metadata).
    const inAttributes: AuthorizationRequest = {
      ...base,
      resource: { ...base.resource, attributes: { groups: new Map([["a", 1]]) } },
    };
    const inMetadata: AuthorizationRequest = {
      ...base,
      operation: { ...base.operation, metadata: { annotations: { check: () => true } } },
    };
    for (const odd of [
      subjectWith({ groups: new Map([["a", 1]]) }),
      subjectWith(cyclic),
      subjectWith({ v: withProperty }),
      subjectWith({ f: () => 1 }),
      inAttributes,
      inMetadata,
    ]) {
      const inner = recordingPdp(functionPdp(() => true));
      const pdp = withCache()(inner);
      await pdp.check(odd);
      await pdp.check(odd);
      expect(inner.checkCalls).toBe(2);
    }
  });
});

describe("withCache: requests that are not plain data", () => {
  const base = callTool("greet");
  const withAttributes = (attributes: Record<string, unknown>): AuthorizationRequest => ({
    ...base,
    resource: { ...base.resource, attributes },
  });
  const withContext = (context: Record<string, unknown>): AuthorizationRequest => ({
    ...base,
    context,
  });
  const withRoles = (roles: unknown): AuthorizationRequest => ({
    ...base,
    subject: { id: "u", authenticated: true, roles: roles as string[] },
  });

  /** Whether `b` was answered with the decision cached for `a` (a constant hash forces one slot). */
  const shares = async (a: AuthorizationRequest, b: AuthorizationRequest, collide = true) => {
    const inner = recordingPdp(functionPdp(() => true));
    const pdp = (collide ? cacheWith({}, () => 1) : withCache())(inner);
    await pdp.check(a);
    const second = await pdp.check(b);
    return second.source === "cache" && inner.checkCalls === 1;
  };

  it("never lets an inherited value stand in for a missing own key", async () => {
    const ownProto = JSON.parse('{"__proto__": {}}') as Record<string, unknown>;
    expect(await shares(withAttributes(ownProto), withAttributes({ owner: "x" }), false)).toBe(
      false,
    );
    const polluted = Object.prototype as Record<string, unknown>;
    polluted.role = "user";
    try {
      expect(await shares(withAttributes({ role: "user" }), withAttributes({ x: 1 }))).toBe(false);
    } finally {
      delete polluted.role;
    }
  });

  it("matches records key for key in either order, with no key missing, extra or inherited", async () => {
    const a = { tool_name: "t", arg_x: "1", arg_y: 2 };
    expect(await shares(withAttributes(a), withAttributes({ ...a }))).toBe(true);
    expect(
      await shares(withAttributes(a), withAttributes({ arg_y: 2, tool_name: "t", arg_x: "1" })),
    ).toBe(true);
    expect(await shares(withAttributes(a), withAttributes({ ...a, arg_z: 3 }))).toBe(false);
    expect(await shares(withAttributes(a), withAttributes({ tool_name: "t", arg_x: "1" }))).toBe(
      false,
    );
    expect(await shares(withAttributes(a), withAttributes({ ...a, arg_y: 3 }))).toBe(false);
    // The same keys in the same order, the last one inherited rather than own.
    const polluted = Object.prototype as Record<string, unknown>;
    polluted.arg_y = 2;
    try {
      expect(await shares(withAttributes(a), withAttributes({ tool_name: "t", arg_x: "1" }))).toBe(
        false,
      );
    } finally {
      delete polluted.arg_y;
    }
  });

  it("tells apart records with another prototype", async () => {
    const bare = Object.create(null) as Record<string, unknown>;
    expect(await shares(withContext({}), withContext(bare))).toBe(false);
    expect(await shares(withContext(bare), withContext({}))).toBe(false);
  });

  it("takes arrays only as JSON makes them: no holes, no subclasses, no toJSON or map of their own", async () => {
    class List extends Array<string> {}
    const ownMap = ["admin"];
    Object.defineProperty(ownMap, "map", { value: () => ["guest"], enumerable: false });
    const ownToJson = ["a"] as string[] & { toJSON?: unknown };
    ownToJson.toJSON = () => ["evil"];
    // eslint-disable-next-line no-sparse-arrays -- a hole is the point
    const holed = [, 1];
    expect(await shares(withContext({ l: [undefined, 1] }), withContext({ l: holed }))).toBe(false);
    const list = new List();
    list.push("a");
    expect(await shares(withContext({ l: ["a"] }), withContext({ l: list }))).toBe(false);
    expect(await shares(withContext({ l: ["a"] }), withContext({ l: ownToJson }))).toBe(false);
    // A lying map cannot poison what is cached for the genuine value.
    expect(await shares(withAttributes({ g: ownMap }), withAttributes({ g: ["guest"] }))).toBe(
      false,
    );
  });

  it("takes dates only of Date itself, and never throws on a fake one", async () => {
    class Stamp extends Date {}
    const ownToJson = new Date(0) as Date & { toJSON?: unknown };
    ownToJson.toJSON = () => "evil";
    for (const odd of [new Stamp(0), ownToJson, Object.create(Date.prototype) as object]) {
      expect(await shares(withContext({ at: new Date(0) }), withContext({ at: odd }))).toBe(false);
    }
  });

  it("compares roles as a set of strings by index, whatever their iterator says", async () => {
    const lying = ["guest"];
    (lying as unknown as Record<symbol, unknown>)[Symbol.iterator] = function* () {
      yield "admin";
    };
    expect(await shares(withRoles(["admin"]), withRoles(lying), false)).toBe(false);
    expect(await shares(withRoles("admin"), withRoles("nimda"))).toBe(false);
    expect(await shares(withRoles({ length: 1, 0: "a" }), withRoles({ length: 1, 0: "b" }))).toBe(
      false,
    );
  });

  it("tells -0 from 0 in every field", async () => {
    const id = (n: number): AuthorizationRequest => ({
      ...base,
      subject: { id: n as unknown as string, authenticated: true },
    });
    expect(await shares(id(0), id(-0))).toBe(false);
    expect(await shares(withContext({ n: 0 }), withContext({ n: -0 }))).toBe(false);
  });

  it("resolves (uncached) for a getter that throws, and for a huge shared structure at once", async () => {
    const inner = recordingPdp(functionPdp(() => true));
    const pdp = withCache()(inner);
    const throwing = withContext({
      get x(): unknown {
        throw new Error("boom");
      },
    });
    await expect(pdp.check(throwing)).resolves.toMatchObject({ source: "pdp" });
    await expect(pdp.check(throwing)).resolves.toMatchObject({ source: "pdp" });
    let dag: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 40; i++) dag = { a: dag, b: dag };
    const started = performance.now();
    await pdp.check(withContext(dag));
    await pdp.check(withContext(dag));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(inner.checkCalls).toBe(4);
  });

  it("asks the PDP with its own copy, so changing the request during the check changes nothing cached", async () => {
    const inner = manualPdp();
    const pdp = withCache()(inner);
    const request = withRoles(["guest"]);
    const answer = pdp.check(request);
    (request.subject as unknown as { roles: string[] }).roles = ["admin"];
    await until(() => inner.pending.length === 1);
    const asked = inner.pending[0]?.request;
    expect(asked?.subject.roles).toEqual(["guest"]);
    inner.pending[0]?.resolve({ allow: false, source: "pdp" });
    expect((await answer).allow).toBe(false);
    expect((await pdp.check(withRoles(["guest"]))).source).toBe("cache");
  });
});
