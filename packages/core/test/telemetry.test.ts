import { context, metrics, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it } from "vitest";
import { withCache } from "../src/decorators/cache.js";
import { compose } from "../src/decorators/compose.js";
import type { Decision, PolicyDecisionPoint } from "../src/model.js";
import { withTelemetry } from "../src/telemetry.js";
import { functionPdp } from "../src/testing.js";
import { callTool, listItem } from "./decorators-support.js";

class TestReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

function installSdk() {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  return { exporter, reader, tracerProvider, meterProvider };
}

async function points(reader: MetricReader, name: string): Promise<DataPoint<unknown>[]> {
  const { resourceMetrics } = await reader.collect();
  const found = resourceMetrics.scopeMetrics
    .flatMap((s) => s.metrics)
    .filter((m) => m.descriptor.name === name);
  return found.flatMap((m) => m.dataPoints as DataPoint<unknown>[]);
}

async function counter(reader: MetricReader, name: string, attribute?: [string, string]) {
  const all = await points(reader, name);
  return all
    .filter((p) => !attribute || p.attributes[attribute[0]] === attribute[1])
    .reduce((sum, p) => sum + (p.value as number), 0);
}

/** Allows tools whose name starts with "ok"; "broken" gives an error decision. */
const policy = (): PolicyDecisionPoint =>
  functionPdp((r): Decision => {
    const tool = r.operation.name ?? "";
    if (tool === "broken")
      return { allow: false, source: "error", errorCode: "PDP_UNAVAILABLE", reason: "down" };
    return { allow: tool.startsWith("ok"), source: "pdp", decisionId: `id-${tool}` };
  }, "opa");

afterEach(() => {
  trace.disable();
  metrics.disable();
  context.disable();
});

describe("withTelemetry without an SDK", () => {
  it("is a no-op: decisions pass through unchanged and no span records", async () => {
    let recording: boolean | undefined;
    const inner = functionPdp((r) => {
      recording = trace.getActiveSpan()?.isRecording() ?? false;
      return r.operation.name === "ok";
    });
    const pdp = withTelemetry()(inner);
    expect(await pdp.check(callTool("ok"))).toEqual({ allow: true, source: "pdp" });
    expect(await pdp.check(callTool("no"))).toEqual({ allow: false, source: "pdp" });
    expect(await pdp.checkMany!([callTool("ok"), callTool("no")])).toEqual([
      { allow: true, source: "pdp" },
      { allow: false, source: "pdp" },
    ]);
    expect(recording).toBe(false);
    const cached = withCache()(pdp);
    await cached.check(callTool("ok"));
    expect((await cached.check(callTool("ok"))).source).toBe("cache");
  });
});

describe("withTelemetry with an SDK", () => {
  it("records one authz.check span per call with the decision's attributes", async () => {
    const pdp = withTelemetry()(policy());
    const sdk = installSdk();
    await pdp.check(callTool("ok-read"));
    await pdp.check(callTool("write"));
    const spans = sdk.exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(["authz.check", "authz.check"]);
    expect(spans[0]?.attributes).toMatchObject({
      "authz.pdp": "opa",
      "authz.action": "ok-read",
      "authz.resource_type": "mcp_server",
      "authz.method": "tools/call",
      "authz.phase": "call",
      "authz.decision": "allow",
      "authz.source": "pdp",
      "authz.decision_id": "id-ok-read",
    });
    expect(spans[1]?.attributes).toMatchObject({ "authz.decision": "deny" });
    expect(spans[0]?.status.code).toBe(0);
  });

  it("marks a span of an error decision with error status and code", async () => {
    const pdp = withTelemetry()(policy());
    const sdk = installSdk();
    await pdp.check(callTool("broken"));
    const [span] = sdk.exporter.getFinishedSpans();
    expect(span?.attributes).toMatchObject({
      "authz.decision": "deny",
      "authz.source": "error",
      "authz.error_code": "PDP_UNAVAILABLE",
    });
    expect(span?.status).toMatchObject({ code: 2, message: "down" });
  });

  it("makes its span the active one during the call, so the PDP's own spans nest under it", async () => {
    const sdk = installSdk();
    let parent: string | undefined;
    const inner = functionPdp(() => {
      const child = trace.getTracer("http").startSpan("POST /v1/data");
      parent = child.spanContext().traceId;
      child.end();
      return true;
    });
    await withTelemetry()(inner).check(callTool("ok"));
    const spans = sdk.exporter.getFinishedSpans();
    const authz = spans.find((s) => s.name === "authz.check");
    const http = spans.find((s) => s.name === "POST /v1/data");
    expect(http?.parentSpanContext?.spanId).toBe(authz?.spanContext().spanId);
    expect(parent).toBe(authz?.spanContext().traceId);
  });

  it("records one authz.check_many span with the batch size and outcome counts", async () => {
    const pdp = withTelemetry()(policy());
    const sdk = installSdk();
    await pdp.checkMany!([listItem("ok-a"), listItem("b"), listItem("ok-c"), listItem("broken")]);
    const spans = sdk.exporter.getFinishedSpans();
    expect(spans).toHaveLength(1);
    expect(spans[0]?.name).toBe("authz.check_many");
    expect(spans[0]?.attributes).toMatchObject({
      "authz.pdp": "opa",
      "authz.batch_size": 4,
      "authz.phase": "list",
      "authz.resource_type": "mcp_server",
      "authz.allow_count": 2,
      "authz.deny_count": 1,
      "authz.error_count": 1,
    });
    expect(spans[0]?.attributes["authz.action"]).toBeUndefined();
  });

  it("counts decisions by outcome and records PDP latency", async () => {
    const pdp = withTelemetry()(policy());
    const sdk = installSdk();
    await pdp.check(callTool("ok"));
    await pdp.check(callTool("ok"));
    await pdp.check(callTool("no"));
    await pdp.checkMany!([listItem("ok"), listItem("broken")]);
    expect(await counter(sdk.reader, "authz.decisions", ["authz.outcome", "allow"])).toBe(3);
    expect(await counter(sdk.reader, "authz.decisions", ["authz.outcome", "deny"])).toBe(1);
    expect(await counter(sdk.reader, "authz.decisions", ["authz.outcome", "error"])).toBe(1);
    const durations = await points(sdk.reader, "authz.pdp.duration");
    const byOperation = Object.fromEntries(
      durations.map((p) => [p.attributes["authz.operation"], (p.value as Histogram).count]),
    );
    expect(byOperation).toEqual({ check: 3, check_many: 1 });
  });

  it("makes no span for a cached answer and counts cache hits", async () => {
    const pdp = compose(withCache(), withTelemetry())(policy());
    const sdk = installSdk();
    await pdp.check(callTool("ok"));
    await pdp.check(callTool("ok"));
    await pdp.check(callTool("ok"));
    expect(sdk.exporter.getFinishedSpans()).toHaveLength(1);
    expect(await counter(sdk.reader, "authz.cache.requests")).toBe(3);
    expect(await counter(sdk.reader, "authz.cache.hits")).toBe(2);
  });

  it("uses explicit providers instead of the global ones", async () => {
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const reader = new TestReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const pdp = withTelemetry({ tracerProvider, meterProvider })(policy());
    await pdp.check(callTool("ok"));
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    expect(await counter(reader, "authz.decisions")).toBe(1);
  });

  it("keeps the inner PDP's shape: no checkMany when it has none", () => {
    const single: PolicyDecisionPoint = { name: "single", check: policy().check };
    expect(withTelemetry()(single).checkMany).toBeUndefined();
  });
});
