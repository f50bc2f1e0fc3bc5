import { describe, expect, it } from "vitest";
import { withBatching } from "../src/decorators/batching.js";
import { withCache } from "../src/decorators/cache.js";
import { compose } from "../src/decorators/compose.js";
import { decoratorOptionsFromEnv, decoratorsFromEnv } from "../src/decorators/from-env.js";
import { withResilience } from "../src/decorators/resilience.js";
import { ConfigError } from "../src/errors.js";
import type { Decision, PdpDecorator, PolicyDecisionPoint } from "../src/model.js";
import { functionPdp, recordingPdp } from "../src/testing.js";
import { callTool, listItem } from "./decorators-support.js";

/** A decorator that logs when a check passes through it. */
function tracing(label: string, log: string[]): PdpDecorator {
  return (inner) => ({
    name: inner.name,
    check(request, options) {
      log.push(label);
      return inner.check(request, options);
    },
  });
}

const unavailable: Decision = {
  allow: false,
  source: "error",
  errorCode: "PDP_UNAVAILABLE",
  reason: "down",
};

/** A PDP that never answers until its signal fires. */
const silent: PolicyDecisionPoint = {
  name: "silent",
  check: (_r, options) =>
    new Promise<Decision>((resolve) => {
      options?.signal?.addEventListener("abort", () => {
        resolve(unavailable);
      });
    }),
};

describe("compose", () => {
  it("makes the first decorator the outermost", async () => {
    const log: string[] = [];
    const pdp = compose(
      tracing("outer", log),
      tracing("middle", log),
      tracing("inner", log),
    )(functionPdp(() => true));
    await pdp.check(callTool("greet"));
    expect(log).toEqual(["outer", "middle", "inner"]);
  });

  it("returns the PDP unchanged when given no decorators", () => {
    const pdp = functionPdp(() => true);
    expect(compose()(pdp)).toBe(pdp);
  });

  it("stacks the real decorators: cache answers before resilience and batching are reached", async () => {
    const inner = recordingPdp(functionPdp((r) => r.operation.name === "ok"));
    const pdp = compose(withCache(), withBatching(), withResilience())(inner);
    const first = await Promise.all([pdp.check(callTool("ok")), pdp.check(callTool("no"))]);
    expect(first.map((d) => [d.allow, d.source])).toEqual([
      [true, "pdp"],
      [false, "pdp"],
    ]);
    expect(inner.bulkCalls).toEqual([2]);
    const again = await pdp.check(callTool("ok"));
    expect(again.source).toBe("cache");
    expect(inner.requests).toHaveLength(2);
  });
});

describe("decoratorsFromEnv", () => {
  it("reads every variable into the decorators' options", () => {
    expect(
      decoratorOptionsFromEnv({
        MCP_PDP_CACHE_ALLOW_TTL_MS: "1000",
        MCP_PDP_CACHE_DENY_TTL_MS: "0",
        MCP_PDP_CACHE_MAX: "50",
        MCP_PDP_TIMEOUT_MS: "250",
        MCP_PDP_RETRIES: "0",
        MCP_PDP_BATCH_WAIT_MS: "5",
        MCP_PDP_BATCH_MAX: "20",
      }),
    ).toEqual({
      cache: { allowTtlMs: 1000, denyTtlMs: 0, max: 50 },
      batching: { maxWaitMs: 5, maxBatchSize: 20 },
      resilience: { timeoutMs: 250, retries: 0 },
    });
    expect(decoratorOptionsFromEnv({})).toEqual({ cache: {}, batching: {}, resilience: {} });
  });

  it.each([
    ["MCP_PDP_CACHE_ALLOW_TTL_MS", "five minutes"],
    ["MCP_PDP_CACHE_DENY_TTL_MS", "-1"],
    ["MCP_PDP_CACHE_MAX", "0"],
    ["MCP_PDP_TIMEOUT_MS", "1.5"],
    ["MCP_PDP_RETRIES", "100"],
    ["MCP_PDP_BATCH_WAIT_MS", "soon"],
    ["MCP_PDP_BATCH_MAX", "0"],
  ])("throws a ConfigError naming %s when it is %s", (name, value) => {
    const read = () => decoratorsFromEnv({}, { [name]: value });
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(name);
  });

  it("applies the environment: a timeout and no retries", async () => {
    const pdp = decoratorsFromEnv({}, { MCP_PDP_TIMEOUT_MS: "15", MCP_PDP_RETRIES: "0" })(silent);
    const d = await pdp.check(callTool("greet"));
    expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_TIMEOUT" });
    expect(d.reason).toContain("timed out after 15 ms");
    expect(d.reason).not.toContain("attempts");
  });

  it("applies the environment: batch size and cache lifetimes", async () => {
    const inner = recordingPdp(functionPdp(() => true));
    const pdp = decoratorsFromEnv(
      {},
      { MCP_PDP_BATCH_MAX: "2", MCP_PDP_CACHE_ALLOW_TTL_MS: "0" },
    )(inner);
    await Promise.all(["a", "b", "c"].map((n) => pdp.check(listItem(n))));
    // A batch of two, and the one left over as a single check.
    expect(inner.bulkCalls).toEqual([2]);
    expect(inner.checkCalls).toBe(1);
    await pdp.check(listItem("a"));
    expect(inner.requests).toHaveLength(4);
  });

  it("lets code options win over the environment and leaves out decorators set to false", async () => {
    const inner = recordingPdp(functionPdp(() => true));
    const pdp = decoratorsFromEnv(
      { cache: { allowTtlMs: 60_000 }, batching: false },
      { MCP_PDP_CACHE_ALLOW_TTL_MS: "0" },
    )(inner);
    await Promise.all([pdp.check(listItem("a")), pdp.check(listItem("b"))]);
    expect(inner.bulkCalls).toEqual([]);
    expect(inner.checkCalls).toBe(2);
    expect((await pdp.check(listItem("a"))).source).toBe("cache");
  });

  it("fails closed through the whole stack when the PDP is down", async () => {
    const down = functionPdp(() => unavailable);
    const pdp = decoratorsFromEnv({ resilience: { retryBaseMs: 0 } }, {})(down);
    const decisions = await Promise.all([pdp.check(callTool("a")), pdp.check(listItem("b"))]);
    expect(decisions.every((d) => !d.allow && d.source === "error")).toBe(true);
    expect((await pdp.check(callTool("a"))).source).toBe("error");
  });
});

describe("public surface", () => {
  it("exports the decorators and telemetry from the package entry", async () => {
    const core = (await import("../src/index.js")) as Record<string, unknown>;
    for (const name of [
      "withCache",

      "withBatching",
      "withResilience",
      "withTelemetry",
      "compose",
      "decoratorsFromEnv",
      "decoratorOptionsFromEnv",
    ]) {
      expect(typeof core[name], name).toBe("function");
    }
  });
});
