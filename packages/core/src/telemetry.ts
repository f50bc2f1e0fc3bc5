/**
 * OpenTelemetry instrumentation of PDP calls, through `@opentelemetry/api` only: without a
 * registered SDK every span and metric is a no-op.
 */
import type { Attributes, MeterProvider, Span, TracerProvider } from "@opentelemetry/api";
import { safeCheck, safeCheckMany } from "./authorizer.js";
import { instrumentsFor, tracerFor } from "./decorators/internal.js";
import type {
  AuthorizationRequest,
  CheckOptions,
  Decision,
  PdpDecorator,
  PolicyDecisionPoint,
} from "./model.js";
import { type OtelApi, otelApi } from "./otel.js";

/** Options of {@link withTelemetry}. */
export interface TelemetryOptions {
  /**
   * Where spans go.
   * @defaultValue the global tracer provider (a no-op until an OpenTelemetry SDK is registered)
   */
  readonly tracerProvider?: TracerProvider;
  /**
   * Where the `authz.decisions` counter and the `authz.pdp.duration` histogram go.
   * @defaultValue the global meter provider (a no-op until an OpenTelemetry SDK is registered)
   */
  readonly meterProvider?: MeterProvider;
}

/** The outcome of a decision as the `authz.decisions` counter labels it. */
function outcomeOf(decision: Decision): "allow" | "deny" | "error" {
  if (decision.source === "error") return "error";
  return decision.allow ? "allow" : "deny";
}

function endSpan(api: OtelApi, span: Span, failure: Decision | undefined): void {
  if (failure) {
    span.setStatus({
      code: api.SpanStatusCode.ERROR,
      ...(failure.reason !== undefined ? { message: failure.reason } : {}),
    });
  }
  span.end();
}

/**
 * Records one span and the metrics of every call to the PDP it wraps:
 *
 * - a span `authz.check` or `authz.check_many` (kind client, active during the call so an
 *   instrumented HTTP client nests its spans under it) with `authz.pdp`, `authz.action`,
 *   `authz.resource_type`, `authz.method`, `authz.phase`, `authz.decision` (`allow`/`deny`),
 *   `authz.source`, `authz.decision_id`, `authz.error_code`, and for a bulk call
 *   `authz.batch_size` and `authz.allow_count`/`authz.deny_count`/`authz.error_count`; an error
 *   decision sets the span status to error. Subject identifiers are not recorded.
 * - `authz.decisions`: a counter of decisions by `authz.outcome` (`allow`, `deny`, `error`).
 * - `authz.pdp.duration`: a histogram of call latency in milliseconds, by `authz.operation`
 *   (`check`, `check_many`).
 *
 * Wrap the PDP that really makes the call, inside any cache, so a cached answer makes no span:
 * `compose(withCache(), withBatching(), withResilience(), withTelemetry())(pdp)`. Inside
 * resilience, each retry is its own span. Cache hits are counted by {@link withCache} itself.
 *
 * Without `@opentelemetry/api` installed (an optional peer dependency) it returns the PDP as is.
 */
export function withTelemetry(options: TelemetryOptions = {}): PdpDecorator {
  const api = otelApi();
  if (api === undefined) return (inner) => inner;
  const { SpanKind, context, trace } = api;
  const tracer = tracerFor(options.tracerProvider, api);
  const instruments = instrumentsFor(options.meterProvider);

  return (inner) => {
    const name = inner.name;

    const check = async (request: AuthorizationRequest, opts?: CheckOptions): Promise<Decision> => {
      const started = performance.now();
      const span = tracer().startSpan("authz.check", {
        kind: SpanKind.CLIENT,
        attributes: {
          "authz.pdp": name,
          "authz.action": request.action,
          "authz.resource_type": request.resource.type,
          "authz.method": request.operation.method,
          "authz.phase": request.operation.phase,
        },
      });
      const decision = await context.with(trace.setSpan(context.active(), span), () =>
        safeCheck(inner, request, opts),
      );
      const latency = performance.now() - started;
      const outcome = outcomeOf(decision);
      if (span.isRecording()) {
        const attributes: Attributes = {
          "authz.decision": decision.allow ? "allow" : "deny",
          "authz.source": decision.source,
        };
        if (decision.decisionId !== undefined)
          attributes["authz.decision_id"] = decision.decisionId;
        if (decision.errorCode !== undefined) attributes["authz.error_code"] = decision.errorCode;
        span.setAttributes(attributes);
      }
      endSpan(api, span, outcome === "error" ? decision : undefined);
      const m = instruments();
      m.decisions.add(1, { "authz.pdp": name, "authz.outcome": outcome });
      m.duration.record(latency, { "authz.pdp": name, "authz.operation": "check" });
      return decision;
    };

    const checkMany = async (
      requests: readonly AuthorizationRequest[],
      opts?: CheckOptions,
    ): Promise<Decision[]> => {
      if (requests.length === 0) return [];
      const started = performance.now();
      const first = requests[0] as AuthorizationRequest;
      const attributes: Attributes = {
        "authz.pdp": name,
        "authz.batch_size": requests.length,
        "authz.method": first.operation.method,
        "authz.phase": first.operation.phase,
      };
      // Action and resource type describe a bulk call only when every item shares them.
      if (requests.every((r) => r.action === first.action))
        attributes["authz.action"] = first.action;
      if (requests.every((r) => r.resource.type === first.resource.type))
        attributes["authz.resource_type"] = first.resource.type;
      const span = tracer().startSpan("authz.check_many", { kind: SpanKind.CLIENT, attributes });
      const decisions = await context.with(trace.setSpan(context.active(), span), () =>
        safeCheckMany(inner, requests, opts),
      );
      const latency = performance.now() - started;
      const counts = { allow: 0, deny: 0, error: 0 };
      let firstError: Decision | undefined;
      for (const d of decisions) {
        const outcome = outcomeOf(d);
        counts[outcome]++;
        if (outcome === "error") firstError ??= d;
      }
      span.setAttributes({
        "authz.allow_count": counts.allow,
        "authz.deny_count": counts.deny,
        "authz.error_count": counts.error,
      });
      endSpan(api, span, firstError);
      const m = instruments();
      for (const outcome of ["allow", "deny", "error"] as const) {
        if (counts[outcome] > 0)
          m.decisions.add(counts[outcome], { "authz.pdp": name, "authz.outcome": outcome });
      }
      m.duration.record(latency, { "authz.pdp": name, "authz.operation": "check_many" });
      return decisions;
    };

    const pdp: PolicyDecisionPoint = {
      name,
      check,
      ...(inner.checkMany ? { checkMany } : {}),
      close: () => inner.close?.() ?? Promise.resolve(),
    };
    return pdp;
  };
}
