import { afterEach, describe, expect, it, vi } from "vitest";
import { type ResilienceErrorEvent, withResilience } from "../src/decorators/resilience.js";
import { ConfigError, PdpError } from "../src/errors.js";
import type {
  AuthorizationRequest,
  CheckOptions,
  Decision,
  PolicyDecisionPoint,
} from "../src/model.js";
import { functionPdp, memoryAuditSink, recordingPdp } from "../src/testing.js";
import {
  callTool,
  coarse,
  listItem,
  manualPdp,
  readResource,
  until,
} from "./decorators-support.js";

const unavailable: Decision = {
  allow: false,
  source: "error",
  errorCode: "PDP_UNAVAILABLE",
  reason: "PDP opa unreachable: connect ECONNREFUSED",
};

/** A PDP answering from a script, one entry per call (the last one repeats). */
function scripted(...answers: (Decision | Error)[]) {
  return recordingPdp(
    functionPdp(() => {
      const next = answers.length > 1 ? answers.shift() : answers[0];
      if (next instanceof Error) throw next;
      return next ?? { allow: true, source: "pdp" };
    }, "scripted"),
  );
}

/** A PDP that never answers until its signal fires (then rejects as fetch does). */
function blackHole() {
  const signals: AbortSignal[] = [];
  const pdp: PolicyDecisionPoint = {
    name: "black-hole",
    check: (_r: AuthorizationRequest, options?: CheckOptions) =>
      new Promise<Decision>((_resolve, reject) => {
        if (options?.signal) signals.push(options.signal);
        options?.signal?.addEventListener("abort", () => {
          reject(new Error("aborted"));
        });
      }),
  };
  return { pdp, signals };
}

const fast = { retryBaseMs: 1, retryMaxMs: 2 } as const;

afterEach(() => {
  vi.useRealTimers();
});

describe("withResilience: timeout", () => {
  it("denies with PDP_TIMEOUT naming the limit, and aborts the inner call", async () => {
    const hole = blackHole();
    const pdp = withResilience({ timeoutMs: 20, retries: 0 })(hole.pdp);
    const d = await pdp.check(callTool("greet"));
    expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_TIMEOUT" });
    expect(d.reason).toContain("timed out after 20 ms");
    expect(hole.signals).toHaveLength(1);
    expect(hole.signals[0]?.aborted).toBe(true);
  });

  it("retries a timed out call and says how many attempts were made", async () => {
    const hole = blackHole();
    const pdp = withResilience({ timeoutMs: 10, retries: 2, ...fast })(hole.pdp);
    const d = await pdp.check(callTool("greet"));
    expect(d.errorCode).toBe("PDP_TIMEOUT");
    expect(d.reason).toContain("(3 attempts)");
    expect(hole.signals).toHaveLength(3);
  });
});

describe("withResilience: retries", () => {
  it("retries transport failures until the PDP answers", async () => {
    const inner = scripted(unavailable, new Error("socket hang up"), {
      allow: true,
      source: "pdp",
      decisionId: "ok",
    });
    const pdp = withResilience({ retries: 2, ...fast })(inner);
    expect(await pdp.check(callTool("greet"))).toEqual({
      allow: true,
      source: "pdp",
      decisionId: "ok",
    });
    expect(inner.checkCalls).toBe(3);
  });

  it("gives up after retries + 1 attempts with the last failure", async () => {
    const inner = scripted(unavailable);
    const pdp = withResilience({ retries: 1, ...fast })(inner);
    const d = await pdp.check(callTool("greet"));
    expect(d).toMatchObject({ allow: false, errorCode: "PDP_UNAVAILABLE" });
    expect(d.reason).toContain("ECONNREFUSED");
    expect(inner.checkCalls).toBe(2);
  });

  it.each<[string, Decision | Error]>([
    ["a deny", { allow: false, source: "pdp", reason: "no rule" }],
    ["PDP_BAD_RESPONSE", { allow: false, source: "error", errorCode: "PDP_BAD_RESPONSE" }],
    ["PDP_UNAUTHORIZED", { allow: false, source: "error", errorCode: "PDP_UNAUTHORIZED" }],
    ["a thrown PDP_BAD_RESPONSE", new PdpError("PDP_BAD_RESPONSE", "not JSON")],
    ["a thrown PDP_UNAUTHORIZED", new PdpError("PDP_UNAUTHORIZED", "401")],
  ])("never retries %s", async (_label, answer) => {
    const inner = scripted(answer);
    const pdp = withResilience({ retries: 3, ...fast })(inner);
    const d = await pdp.check(callTool("greet"));
    expect(d.allow).toBe(false);
    expect(inner.checkCalls).toBe(1);
  });

  it("keeps the code of a thrown mcp-pdp error and turns other exceptions into PDP_UNAVAILABLE", async () => {
    const thrownUnauthorized = withResilience({ retries: 0 })(
      scripted(new PdpError("PDP_UNAUTHORIZED", "401 from PDP")),
    );
    expect(await thrownUnauthorized.check(callTool("x"))).toMatchObject({
      errorCode: "PDP_UNAUTHORIZED",
    });
    const thrownPlain = withResilience({ retries: 0 })(scripted(new TypeError("fetch failed")));
    const d = await thrownPlain.check(callTool("x"));
    expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_UNAVAILABLE" });
    expect(d.reason).toContain("fetch failed");
  });

  it("stops retrying when the caller aborts, answering PDP_ABORTED", async () => {
    const inner = scripted(unavailable);
    const pdp = withResilience({ retries: 5, retryBaseMs: 10_000, retryMaxMs: 10_000 })(inner);
    const controller = new AbortController();
    const answer = pdp.check(callTool("greet"), { signal: controller.signal });
    await until(() => inner.checkCalls === 1);
    controller.abort();
    expect(await answer).toMatchObject({ allow: false, errorCode: "PDP_ABORTED" });
    expect(inner.checkCalls).toBe(1);
    expect(pdp.circuit).toBe("closed");
  });

  it("passes the caller's abort on to the running call", async () => {
    const inner = manualPdp(false);
    const pdp = withResilience()(inner);
    const controller = new AbortController();
    const answer = pdp.check(callTool("greet"), { signal: controller.signal });
    await until(() => inner.pending.length === 1);
    controller.abort();
    expect(await answer).toMatchObject({ errorCode: "PDP_ABORTED" });
    expect(inner.pending[0]?.signal?.aborted).toBe(true);
  });
});

describe("withResilience: circuit breaker", () => {
  it("opens after failureThreshold failed calls and then denies without calling the PDP", async () => {
    const inner = scripted(unavailable);
    const pdp = withResilience({ retries: 0, failureThreshold: 3 })(inner);
    for (let i = 0; i < 3; i++) await pdp.check(callTool("greet"));
    expect(pdp.circuit).toBe("open");
    const d = await pdp.check(callTool("greet"));
    expect(d).toMatchObject({ allow: false, source: "error", errorCode: "CIRCUIT_OPEN" });
    expect(d.reason).toMatch(/circuit open .* after 3 consecutive failures; next probe in \d+ ms/);
    expect(inner.checkCalls).toBe(3);
  });

  it("does not count denies or successes towards opening", async () => {
    const inner = scripted(
      unavailable,
      unavailable,
      { allow: false, source: "pdp" },
      unavailable,
      unavailable,
      unavailable,
    );
    const pdp = withResilience({ retries: 0, failureThreshold: 3 })(inner);
    for (let i = 0; i < 5; i++) await pdp.check(callTool("greet"));
    expect(pdp.circuit).toBe("closed");
    await pdp.check(callTool("greet"));
    expect(pdp.circuit).toBe("open");
  });

  it("lets one probe through after resetTimeoutMs; its success closes the circuit", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const inner = scripted(unavailable, unavailable, { allow: true, source: "pdp" });
    const pdp = withResilience({ retries: 0, failureThreshold: 2, resetTimeoutMs: 5000 })(inner);
    await pdp.check(callTool("a"));
    await pdp.check(callTool("a"));
    expect(pdp.circuit).toBe("open");
    vi.setSystemTime(Date.now() + 4000);
    expect((await pdp.check(callTool("a"))).errorCode).toBe("CIRCUIT_OPEN");
    vi.setSystemTime(Date.now() + 2000);
    expect(await pdp.check(callTool("a"))).toMatchObject({ allow: true, source: "pdp" });
    expect(pdp.circuit).toBe("closed");
    expect(inner.checkCalls).toBe(3);
  });

  it("reopens when the probe fails, and makes the probe a single attempt", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const inner = scripted(unavailable);
    const pdp = withResilience({
      retries: 2,
      failureThreshold: 1,
      resetTimeoutMs: 1000,
      ...fast,
    })(inner);
    await pdp.check(callTool("a"));
    expect(inner.checkCalls).toBe(3);
    expect(pdp.circuit).toBe("open");
    vi.setSystemTime(Date.now() + 1500);
    expect((await pdp.check(callTool("a"))).errorCode).toBe("PDP_UNAVAILABLE");
    expect(inner.checkCalls).toBe(4);
    expect(pdp.circuit).toBe("open");
    expect((await pdp.check(callTool("a"))).errorCode).toBe("CIRCUIT_OPEN");
  });

  it("rejects other calls fast while the half-open probe runs", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const inner = manualPdp(false);
    const pdp = withResilience({ retries: 0, failureThreshold: 1, resetTimeoutMs: 1000 })(inner);
    const first = pdp.check(callTool("a"));
    await until(() => inner.pending.length === 1);
    inner.pending[0]?.resolve(unavailable);
    await first;
    vi.setSystemTime(Date.now() + 2000);
    const probe = pdp.check(callTool("a"));
    await until(() => inner.pending.length === 2);
    expect(pdp.circuit).toBe("half-open");
    const other = await pdp.check(callTool("b"));
    expect(other).toMatchObject({ errorCode: "CIRCUIT_OPEN" });
    expect(other.reason).toContain("probe");
    inner.pending[1]?.resolve({ allow: true, source: "pdp" });
    expect(await probe).toMatchObject({ allow: true });
    expect(pdp.circuit).toBe("closed");
  });
});

describe("withResilience: audit and hooks", () => {
  it("audits every error decision with its cause and calls onError", async () => {
    const audit = memoryAuditSink();
    const events: ResilienceErrorEvent[] = [];
    const boom = new Error("ECONNRESET");
    const pdp = withResilience({
      retries: 1,
      failureThreshold: 1,
      ...fast,
      audit,
      onError: (e) => events.push(e),
    })(scripted(boom));
    const d = await pdp.check(callTool("greet"));
    await pdp.check(callTool("greet"));
    expect(audit.events).toHaveLength(2);
    expect(audit.events[0]).toMatchObject({
      type: "decision",
      pdp: "recording(scripted)",
      subject: { id: "alice" },
      method: "tools/call",
      action: "greet",
      allow: false,
      source: "error",
      errorCode: "PDP_UNAVAILABLE",
    });
    expect(audit.events[0]?.reason).toContain("ECONNRESET");
    expect(audit.events[1]).toMatchObject({ errorCode: "CIRCUIT_OPEN" });
    expect(audit.events[1]?.reason).toContain("circuit open");
    expect(events[0]).toMatchObject({ attempts: 2, errorCode: "PDP_UNAVAILABLE", circuit: "open" });
    expect(events[0]?.cause).toBe(boom);
    expect(events[0]?.decision).toEqual(d);
    expect(events[1]).toMatchObject({ attempts: 0, errorCode: "CIRCUIT_OPEN" });
  });

  it("does not audit allows or denies", async () => {
    const audit = memoryAuditSink();
    const pdp = withResilience({ audit })(functionPdp((r) => r.action === "greet"));
    await pdp.check(callTool("greet"));
    await pdp.check(callTool("other"));
    expect(audit.events).toHaveLength(0);
  });

  it("still answers when onError or the audit sink throws", async () => {
    const pdp = withResilience({
      retries: 0,
      audit: {
        write() {
          throw new Error("disk full");
        },
      },
      onError: () => {
        throw new Error("hook bug");
      },
    })(scripted(unavailable));
    expect(await pdp.check(callTool("greet"))).toMatchObject({ allow: false, source: "error" });
  });
});

describe("withResilience: failure modes", () => {
  it("denies every request by default when the PDP is down", async () => {
    const pdp = withResilience({ retries: 0 })(scripted(unavailable));
    for (const r of [listItem("a"), coarse("tools/list"), callTool("a")]) {
      expect((await pdp.check(r)).allow).toBe(false);
    }
  });

  it("allow-list-only shows list items and lists but never allows a call, read or get", async () => {
    const pdp = withResilience({ retries: 0, failureMode: "allow-list-only" })(
      scripted(unavailable),
    );
    const shown = await pdp.check(listItem("a"));
    expect(shown).toMatchObject({ allow: true, source: "error", errorCode: "PDP_UNAVAILABLE" });
    expect(shown.reason).toContain("allow-list-only");
    expect((await pdp.check(coarse("tools/list"))).allow).toBe(true);
    expect((await pdp.check(coarse("prompts/list"))).allow).toBe(true);
    expect((await pdp.check(callTool("a"))).allow).toBe(false);
    expect((await pdp.check(readResource("file:///etc/passwd"))).allow).toBe(false);
    expect((await pdp.check(coarse("prompts/get"))).allow).toBe(false);
  });

  it("allow-list-only does not override a PDP's deny or a malformed answer", async () => {
    const deny = withResilience({ failureMode: "allow-list-only" })(
      scripted({ allow: false, source: "pdp" }),
    );
    expect((await deny.check(listItem("a"))).allow).toBe(false);
    const bad = withResilience({ failureMode: "allow-list-only" })(
      scripted({ allow: false, source: "error", errorCode: "PDP_BAD_RESPONSE" }),
    );
    expect((await bad.check(listItem("a"))).allow).toBe(false);
  });

  it("rejects an unknown failure mode and bad numbers with a ConfigError", () => {
    expect(() => withResilience({ failureMode: "allow" as never })).toThrow(ConfigError);
    expect(() => withResilience({ timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => withResilience({ retries: -1 })).toThrow(/retries/);
    expect(() => withResilience({ failureThreshold: 0 })).toThrow(/failureThreshold/);
  });
});

describe("withResilience: checkMany", () => {
  it("retries only the items that failed in transport", async () => {
    let round = 0;
    const inner = recordingPdp({
      name: "bulk",
      check: () => Promise.resolve({ allow: true, source: "pdp" }),
      checkMany: (requests) => {
        round++;
        return Promise.resolve(
          requests.map((r): Decision =>
            round === 1 && r.operation.name === "b" ? unavailable : { allow: true, source: "pdp" },
          ),
        );
      },
    });
    const pdp = withResilience({ ...fast })(inner);
    const decisions = await pdp.checkMany!([listItem("a"), listItem("b"), listItem("c")]);
    expect(decisions.map((d) => d.allow)).toEqual([true, true, true]);
    expect(inner.bulkCalls).toEqual([3, 1]);
  });

  it("times out a bulk call as a whole", async () => {
    const inner = manualPdp();
    const pdp = withResilience({ timeoutMs: 10, retries: 0 })(inner);
    const decisions = await pdp.checkMany!([listItem("a"), listItem("b")]);
    expect(decisions.every((d) => d.errorCode === "PDP_TIMEOUT")).toBe(true);
    expect(inner.bulk[0]?.signal?.aborted).toBe(true);
  });

  it("exposes checkMany only when the inner PDP has one", () => {
    expect(withResilience()({ name: "x", check: functionPdp(() => true).check }).checkMany).toBe(
      undefined,
    );
    expect(typeof withResilience()(functionPdp(() => true)).checkMany).toBe("function");
  });
});
