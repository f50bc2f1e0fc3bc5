import type { PdpDecorator } from "../model.js";

/**
 * Composes decorators into one: `compose(a, b, c)(pdp)` is `a(b(c(pdp)))`, so the first decorator
 * is the outermost, the one callers reach first. The recommended order is
 * `compose(withCache(), withBatching(), withResilience(), withTelemetry())(adapterPdp)`: cached
 * answers skip everything else, batches are sent through the timeout, retry and circuit breaker,
 * and telemetry sees only real PDP calls (one span per attempt).
 */
export function compose(...decorators: readonly PdpDecorator[]): PdpDecorator {
  return (pdp) => decorators.reduceRight((inner, decorate) => decorate(inner), pdp);
}
