import {
  type AuthorizationRequest,
  Authorizer,
  ConfigError,
  type PolicyDecisionPoint,
  type Subject,
  firstApplicable,
  mapRequest,
  resolveMapping,
  withCache,
} from "@mcp-pdp/core";
import { allowAll } from "@mcp-pdp/core/testing";
import { getEventListeners } from "node:events";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type OpaFake, startOpaFake } from "../../../test/fakes/opa.js";
import {
  type OpaInput,
  type OpaPdp,
  normalizeDecisionPath,
  opaFromEnv,
  opaPdp,
  toOpaInput,
} from "../src/index.js";

const TOKEN = "opa-token-1234567890";
let fake: OpaFake;
let secured: OpaFake;
const opened: OpaPdp[] = [];
function pdp(options: Parameters<typeof opaPdp>[0] = {}, at: OpaFake = fake) {
  const p = opaPdp({ url: at.url, ...options });
  opened.push(p);
  return p;
}

const bob: Subject = { id: "bob", authenticated: true, roles: ["user"], tenant: "acme" };
const mapping = resolveMapping({ serverName: "notes" });
const call = (name: string, args?: Record<string, unknown>): AuthorizationRequest => ({
  subject: bob,
  ...mapRequest("tools/call", { name, ...(args ? { arguments: args } : {}) }, mapping),
});
const inputOf = (i: unknown) => i as OpaInput;

/** The MaxListenersExceededWarnings the process emits while `run` runs. */
async function listenerWarnings(run: () => Promise<void>): Promise<string[]> {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on("warning", onWarning);
  try {
    await run();
    // Warnings are emitted on a later tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("warning", onWarning);
  }
  return warnings.filter((w) => w.name === "MaxListenersExceededWarning").map((w) => w.message);
}

beforeAll(async () => {
  fake = await startOpaFake();
  secured = await startOpaFake({ token: TOKEN, policy: () => true });
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((p) => p.close()));
  fake.reset();
  fake.setPolicy(() => undefined);
  fake.setEnterprise(false);
  fake.setRefuseBatch(undefined);
  secured.reset();
});
afterAll(async () => {
  await fake.close();
  await secured.close();
});

describe("opaPdp input and results", () => {
  it("posts {input} to /v1/data/<path> with subject, action, resource and operation", async () => {
    fake.setPolicy(() => true);
    await pdp().check(call("read_note", { id: "n1" }));
    const req = fake.requests[0]!;
    expect(req.path).toBe("/v1/data/mcp/authz/allow");
    expect(req.body).toEqual({
      input: {
        subject: { id: "bob", authenticated: true, roles: ["user"], tenant: "acme" },
        action: "read-note",
        resource: {
          type: "notes",
          attributes: { tool_name: "read_note", mcp_method: "tools/call", arg_id: "n1" },
        },
        operation: {
          method: "tools/call",
          phase: "call",
          component: "tool",
          name: "read_note",
          arguments: { id: "n1" },
          server: "notes",
        },
      },
    });
  });

  it("leaves out absent operation fields and carries metadata and context", () => {
    const list = { subject: bob, ...mapRequest("tools/list", {}, mapping) };
    expect(toOpaInput(list).operation).toEqual({
      method: "tools/list",
      phase: "call",
      server: "notes",
    });
    const withMeta = {
      ...call("x"),
      operation: { ...call("x").operation, metadata: { annotations: { readOnlyHint: true } } },
      context: { ip: "127.0.0.1" },
    };
    const input = toOpaInput(withMeta);
    expect(input.operation.metadata).toEqual({ annotations: { readOnlyHint: true } });
    expect(input.context).toEqual({ ip: "127.0.0.1" });
  });

  it("sends a 1 MB argument shortened and marked arguments_truncated", async () => {
    fake.setPolicy(() => true);
    const huge = "x".repeat(1024 * 1024);
    await pdp().check(call("write_note", { text: huge, title: "t" }));
    const body = fake.requests[0]!.body;
    expect(JSON.stringify(body).length).toBeLessThan(16 * 1024);
    const operation = inputOf((body as { input: unknown }).input).operation;
    expect(operation.arguments_truncated).toBe(true);
    expect(operation.arguments?.title).toBe("t");
    expect(String(operation.arguments?.text)).toMatch(/^x+$/);
    expect(toOpaInput(call("x", { a: 1 })).operation).not.toHaveProperty("arguments_truncated");
  });

  it("accepts a boolean result", async () => {
    fake.setPolicy((i) => inputOf(i).operation.name === "read_note");
    expect(await pdp().check(call("read_note"))).toEqual({ allow: true, source: "pdp" });
    expect(await pdp().check(call("delete_note"))).toEqual({ allow: false, source: "pdp" });
  });

  it("accepts an {allow, reason} result and carries the decision id", async () => {
    const fakeWithIds = await startOpaFake({
      decisionIds: true,
      policy: () => ({ allow: false, reason: "users may not delete" }),
    });
    try {
      expect(await pdp({}, fakeWithIds).check(call("delete_note"))).toEqual({
        allow: false,
        source: "pdp",
        reason: "users may not delete",
        decisionId: "fake-1",
      });
    } finally {
      await fakeWithIds.close();
    }
  });

  it("treats an undefined decision ({}) as a not-applicable deny, not an error", async () => {
    const d = await pdp().check(call("anything"));
    expect(d).toMatchObject({ allow: false, source: "pdp", applicable: false });
    expect(d.errorCode).toBeUndefined();
    const combined = firstApplicable(pdp(), allowAll());
    expect((await combined.check(call("anything"))).allow).toBe(true);
  });

  it("denies with PDP_BAD_RESPONSE for a result of another shape", async () => {
    for (const result of ["yes", 1, { allowed: true }, [true]]) {
      fake.setPolicy(() => result);
      expect(await pdp().check(call("x"))).toMatchObject({
        allow: false,
        source: "error",
        errorCode: "PDP_BAD_RESPONSE",
      });
    }
  });

  it("uses the configured decision path in any spelling", async () => {
    fake.setPolicy(() => true);
    await pdp({ decisionPath: "data.notes.authz.decision" }).check(call("x"));
    await pdp({ decisionPath: "/v1/data/notes/allow/" }).check(call("x"));
    expect(fake.requests.map((r) => r.path)).toEqual([
      "/v1/data/notes/authz/decision",
      "/v1/data/notes/allow",
    ]);
    expect(normalizeDecisionPath("a/b")).toBe("a/b");
    expect(() => normalizeDecisionPath("")).toThrow(ConfigError);
    expect(() => normalizeDecisionPath("a//b")).toThrow(ConfigError);
  });
});

describe("opaPdp authentication", () => {
  it("sends the token as a bearer token", async () => {
    expect((await pdp({ token: TOKEN }, secured).check(call("x"))).allow).toBe(true);
    expect(secured.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it("denies with PDP_UNAUTHORIZED on a wrong or missing token, without showing it", async () => {
    const wrong = "opa-WRONG-token-99999";
    const d = await pdp({ token: wrong }, secured).check(call("x"));
    expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_UNAUTHORIZED" });
    expect(JSON.stringify(d)).not.toContain(wrong);
    const many = await pdp({ token: wrong }, secured).checkMany([call("a"), call("b")]);
    expect(JSON.stringify(many)).not.toContain(wrong);
    expect((await pdp({}, secured).check(call("x"))).errorCode).toBe("PDP_UNAUTHORIZED");
    expect(() => opaPdp({ token: " " })).toThrow(ConfigError);
  });
});

describe("opaPdp bulk checks", () => {
  it("uses the Enterprise batch endpoint with one input per request, in order", async () => {
    fake.setEnterprise(true);
    fake.setPolicy((i) => inputOf(i).operation.name?.startsWith("read") === true);
    const p = pdp();
    const decisions = await p.checkMany([call("read_a"), call("write_b"), call("read_c")]);
    expect(decisions.map((d) => d.allow)).toEqual([true, false, true]);
    expect(p.batchSupported).toBe(true);
    expect(fake.batchAttempts()).toBe(1);
    expect(fake.singleCalls()).toBe(0);
    const body = fake.requests[0]!.body as { inputs: Record<string, unknown> };
    expect(fake.requests[0]!.path).toBe("/v1/batch/data/mcp/authz/allow");
    expect(Object.keys(body.inputs)).toEqual(["0", "1", "2"]);
  });

  it("tries the batch endpoint once, remembers a 404 and falls back to single calls", async () => {
    fake.setPolicy((i) => inputOf(i).operation.name !== "b");
    const p = pdp();
    expect(p.batchSupported).toBeUndefined();
    const first = p.checkMany([call("a"), call("b"), call("c")]);
    const second = p.checkMany([call("b"), call("d")]);
    expect((await first).map((d) => d.allow)).toEqual([true, false, true]);
    expect((await second).map((d) => d.allow)).toEqual([false, true]);
    expect(await p.checkMany([call("e"), call("f")])).toHaveLength(2);
    expect(p.batchSupported).toBe(false);
    expect(fake.batchAttempts()).toBe(1);
    expect(fake.singleCalls()).toBe(7);
  });

  it("bounds the fallback's parallel single calls", async () => {
    fake.setPolicy(() => true);
    fake.latency(20);
    const decisions = await pdp({ batch: "off", concurrency: 3 }).checkMany(
      Array.from({ length: 12 }, (_, i) => call(`t${i}`)),
    );
    expect(decisions.every((d) => d.allow)).toBe(true);
    expect(fake.batchAttempts()).toBe(0);
    expect(fake.maxInFlight()).toBeLessThanOrEqual(3);
    expect(fake.maxInFlight()).toBeGreaterThan(1);
  });

  it("keeps the fallback within concurrency across chunks and overlapping bulk checks", async () => {
    fake.setPolicy(() => true);
    fake.latency(20);
    const p = pdp({ batch: "off", concurrency: 3, maxBatchSize: 4 });
    const many = (prefix: string) =>
      p.checkMany(Array.from({ length: 16 }, (_, i) => call(`${prefix}${i}`)));
    const [a, b] = await Promise.all([many("a"), many("b")]);
    expect([...a, ...b].every((d) => d.allow)).toBe(true);
    expect(fake.singleCalls()).toBe(32);
    expect(fake.maxInFlight()).toBeLessThanOrEqual(3);
  });

  for (const status of [401, 403] as const) {
    it(`falls back to single calls when OPA's authorization refuses the batch endpoint (${status})`, async () => {
      fake.setEnterprise(true);
      fake.setRefuseBatch(status);
      fake.setPolicy((i) => inputOf(i).operation.name !== "b");
      const p = pdp();
      const decisions = await p.checkMany([call("a"), call("b"), call("c")]);
      expect(decisions.map((d) => d.allow)).toEqual([true, false, true]);
      expect(decisions.every((d) => d.source === "pdp")).toBe(true);
      expect(p.batchSupported).toBe(false);
      expect((await p.checkMany([call("d"), call("b")])).map((d) => d.allow)).toEqual([
        true,
        false,
      ]);
      expect(fake.batchAttempts()).toBe(1);
      expect(fake.singleCalls()).toBe(5);
    });
  }

  it("denies every item when the single calls of the fallback are refused too", async () => {
    const p = pdp({ token: "opa-WRONG-token-99999" }, secured);
    const decisions = await p.checkMany([call("a"), call("b"), call("c")]);
    expect(decisions).toHaveLength(3);
    for (const d of decisions) {
      expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_UNAUTHORIZED" });
    }
    expect(p.batchSupported).toBe(false);
    expect(secured.requests.filter((r) => r.path.startsWith("/v1/data"))).toHaveLength(3);
  });

  it('never probes the batch endpoint with batch: "off", even on Enterprise OPA', async () => {
    fake.setEnterprise(true);
    fake.setPolicy(() => true);
    const p = pdp({ batch: "off" });
    expect(p.batchSupported).toBe(false);
    const decisions = await p.checkMany(Array.from({ length: 5 }, (_, i) => call(`t${i}`)));
    expect(decisions.every((d) => d.allow)).toBe(true);
    expect(fake.batchAttempts()).toBe(0);
    expect(fake.singleCalls()).toBe(5);
    expect(() => opaPdp({ batch: "sometimes" as never })).toThrow(ConfigError);
  });

  it.each([
    [true, 'opa: batch must be "auto" or "off", got true (for true, write "auto")'],
    [false, 'opa: batch must be "auto" or "off", got false (for false, write "off")'],
    ["sometimes", 'opa: batch must be "auto" or "off", got "sometimes"'],
    [1, 'opa: batch must be "auto" or "off", got 1'],
  ])("refuses batch: %j, naming the option and the accepted values", (batch, message) => {
    expect(() => opaPdp({ batch: batch as never })).toThrow(ConfigError);
    expect(() => opaPdp({ batch: batch as never })).toThrow(message);
  });

  it("filters a 500-item list on open-source OPA without a MaxListenersExceededWarning", async () => {
    fake.setPolicy((i) => {
      const input = inputOf(i);
      return input.action === "list" || Number(input.operation.name?.slice(1)) % 2 === 0;
    });
    const warnings = await listenerWarnings(async () => {
      const authorizer = new Authorizer({
        pdp: pdp(),
        mapping: { serverName: "notes" },
        audit: false,
      });
      const tools = Array.from({ length: 500 }, (_, i) => ({ name: `t${i}` }));
      for (let page = 0; page < 2; page++) {
        const controller = new AbortController();
        const listed = await authorizer.filterList("tools/list", { tools }, {}, bob, {
          signal: controller.signal,
        });
        expect((listed.result as { tools: unknown[] }).tools).toHaveLength(250);
        // Nothing is left listening on the caller's signal once the page is decided.
        expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
      }
    });
    expect(warnings).toEqual([]);
    expect(fake.batchAttempts()).toBe(1);
  });

  it("keeps a concurrency above 10 free of listener warnings while bulk checks overlap", async () => {
    fake.setPolicy(() => true);
    fake.latency(5);
    const warnings = await listenerWarnings(async () => {
      const p = pdp({ batch: "off", concurrency: 24 });
      const signal = new AbortController().signal;
      const many = (prefix: string) =>
        p.checkMany(
          Array.from({ length: 120 }, (_, i) => call(`${prefix}${i}`)),
          { signal },
        );
      const results = await Promise.all([many("a"), many("b"), many("c")]);
      expect(results.flat().every((d) => d.allow)).toBe(true);
      expect(getEventListeners(signal, "abort")).toHaveLength(0);
    });
    expect(warnings).toEqual([]);
    expect(fake.maxInFlight()).toBeLessThanOrEqual(24);
  });

  it("stops the fallback's waiting single calls when the caller aborts", async () => {
    fake.setPolicy(() => true);
    fake.latency(300);
    const controller = new AbortController();
    const pending = pdp({ batch: "off", concurrency: 2 }).checkMany(
      Array.from({ length: 20 }, (_, i) => call(`t${i}`)),
      { signal: controller.signal },
    );
    setTimeout(() => {
      controller.abort();
    }, 10);
    const decisions = await pending;
    expect(decisions).toHaveLength(20);
    expect(decisions.every((d) => !d.allow && d.errorCode === "PDP_ABORTED")).toBe(true);
    expect(fake.singleCalls()).toBeLessThanOrEqual(2);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("does not remember a batch failure other than 404", async () => {
    fake.setEnterprise(true);
    fake.setPolicy(() => true);
    fake.errorStatus(503);
    const p = pdp();
    const failed = await p.checkMany([call("a"), call("b")]);
    expect(failed.every((d) => d.errorCode === "PDP_UNAVAILABLE")).toBe(true);
    expect(p.batchSupported).toBeUndefined();
    fake.errorStatus(undefined);
    expect((await p.checkMany([call("a"), call("b")])).every((d) => d.allow)).toBe(true);
    expect(p.batchSupported).toBe(true);
  });

  it("denies only the item whose batch evaluation failed (207)", async () => {
    fake.setEnterprise(true);
    fake.setPolicy((i) => {
      if (inputOf(i).operation.name === "conflict") throw new Error("eval_conflict_error");
      return true;
    });
    const decisions = await pdp().checkMany([call("a"), call("conflict"), call("c")]);
    expect(decisions.map((d) => d.allow)).toEqual([true, false, true]);
    expect(decisions[1]).toMatchObject({ source: "error", errorCode: "PDP_ERROR" });
    expect(await pdp().check(call("conflict"))).toMatchObject({
      allow: false,
      source: "error",
      errorCode: "PDP_ERROR",
    });
  });

  it("splits large batches", async () => {
    fake.setEnterprise(true);
    fake.setPolicy(() => true);
    await pdp({ maxBatchSize: 40 }).checkMany(Array.from({ length: 100 }, (_, i) => call(`t${i}`)));
    expect([...fake.bulkSizes()].sort((a, b) => a - b)).toEqual([20, 40, 40]);
  });

  it("filters a list through the Authorizer", async () => {
    fake.setPolicy((i) => {
      const input = inputOf(i);
      return input.action === "list" || input.operation.name === "read_note";
    });
    const authorizer = new Authorizer({
      pdp: pdp(),
      mapping: { serverName: "notes" },
      audit: false,
    });
    const listed = await authorizer.filterList(
      "tools/list",
      { tools: [{ name: "read_note" }, { name: "delete_note" }] },
      {},
      bob,
    );
    expect(listed.result).toEqual({ tools: [{ name: "read_note" }] });
    expect(fake.evaluations().map((e) => inputOf(e.input).operation.phase)).toEqual([
      "list",
      "list",
    ]);
  });
});

describe("opaPdp arguments and the mapping's argumentLimits", () => {
  // Past core's default cut (1024 characters), within the raised limit.
  const longPath = `allowed/${"a".repeat(1100)}/../secret`;
  const noDotDot = (i: unknown) => {
    const path = inputOf(i).operation.arguments?.path;
    return typeof path === "string" && !path.includes("..");
  };
  async function decide(pdpUnderTest: PolicyDecisionPoint, path: string) {
    const authorizer = new Authorizer({
      pdp: pdpUnderTest,
      identity: () => bob,
      mapping: { serverName: "notes", argumentLimits: { maxStringLength: 65_536 } },
      audit: false,
    });
    const outcome = await authorizer.authorize(
      "tools/call",
      { name: "read_file", arguments: { path } },
      {},
    );
    if (outcome.kind !== "decided") throw new Error("expected a decision");
    return outcome.decision;
  }

  it.each([
    ["the adapter alone", () => pdp()],
    ["a cache in front", () => withCache()(pdp())],
  ])(
    "sends a path the raised limits accepted whole, so a rule on its `..` denies (%s)",
    async (_what, make) => {
      fake.setPolicy(noDotDot);
      expect((await decide(make(), longPath)).allow).toBe(false);
      const input = inputOf(fake.evaluations()[0]!.input);
      expect(input.operation.arguments?.path).toBe(longPath);
      expect(input.operation).not.toHaveProperty("arguments_truncated");
      expect((await decide(make(), `allowed/${"a".repeat(1100)}/b`)).allow).toBe(true);
    },
  );

  it("bounds with the operation's argumentLimits in toOpaInput, core's defaults without them", () => {
    const raised = resolveMapping({ argumentLimits: { maxStringLength: 2048 } });
    const request = {
      subject: bob,
      ...mapRequest("tools/call", { name: "read_file", arguments: { path: longPath } }, raised),
    };
    expect(request.operation.argumentLimits).toBe(raised.argumentLimits);
    expect(toOpaInput(request).operation).toEqual({
      method: "tools/call",
      phase: "call",
      component: "tool",
      name: "read_file",
      arguments: { path: longPath },
      server: "mcp_server",
    });
    const { argumentLimits: _limits, ...bare } = request.operation;
    const cut = toOpaInput({ ...request, operation: bare }).operation;
    expect(cut.arguments_truncated).toBe(true);
    expect(String(cut.arguments?.path)).toHaveLength(1024);
  });
});

describe("opaFromEnv", () => {
  it("reads OPA_URL, OPA_DECISION_PATH, OPA_TOKEN and OPA_TIMEOUT_MS; options win", async () => {
    const p = opaFromEnv(
      {},
      {
        OPA_URL: secured.url,
        OPA_DECISION_PATH: "data.x.allow",
        OPA_TOKEN: TOKEN,
        OPA_TIMEOUT_MS: "300",
      },
    );
    opened.push(p);
    expect((await p.check(call("x"))).allow).toBe(true);
    expect(secured.requests[0]?.path).toBe("/v1/data/x/allow");
    const o = opaFromEnv({ url: secured.url, token: TOKEN }, { OPA_URL: "http://127.0.0.1:1" });
    opened.push(o);
    expect((await o.check(call("x"))).allow).toBe(true);
  });

  it("never probes the batch endpoint with OPA_BATCH=off", async () => {
    fake.setEnterprise(true);
    fake.setPolicy(() => true);
    const p = opaFromEnv({}, { OPA_URL: fake.url, OPA_BATCH: "off" });
    opened.push(p);
    expect((await p.checkMany([call("a"), call("b")])).every((d) => d.allow)).toBe(true);
    expect(fake.batchAttempts()).toBe(0);
    const auto = opaFromEnv({}, { OPA_URL: fake.url, OPA_BATCH: "auto" });
    opened.push(auto);
    await auto.checkMany([call("a"), call("b")]);
    expect(fake.batchAttempts()).toBe(1);
    expect(() => opaFromEnv({}, { OPA_BATCH: "no" })).toThrow(/OPA_BATCH/);
    for (const value of ["true", "false", "on", "AUTO"]) {
      expect(() => opaFromEnv({}, { OPA_BATCH: value })).toThrow(
        `Invalid environment variable: OPA_BATCH: expected one of auto, off, got "${value}"`,
      );
    }
  });

  it("names a bad variable, without showing the token", () => {
    expect(() => opaFromEnv({}, { OPA_URL: "opa:8181" })).toThrow(/OPA_URL/);
    expect(() => opaFromEnv({}, { OPA_DECISION_PATH: "a//b" })).toThrow(/OPA_DECISION_PATH/);
    expect(() => opaFromEnv({}, { OPA_TIMEOUT_MS: "fast", OPA_TOKEN: TOKEN })).toThrow(
      /OPA_TIMEOUT_MS/,
    );
    try {
      opaFromEnv({}, { OPA_TIMEOUT_MS: "fast", OPA_TOKEN: TOKEN });
    } catch (error) {
      expect(String(error)).not.toContain(TOKEN);
    }
  });
});
