import { type Env, MCP_PDP_ENV, readEnv } from "../env.js";
import type { PdpDecorator } from "../model.js";
import { type TelemetryOptions, withTelemetry } from "../telemetry.js";
import { type BatchingOptions, withBatching } from "./batching.js";
import { type CacheOptions, withCache } from "./cache.js";
import { compose } from "./compose.js";
import { type ResilienceOptions, withResilience } from "./resilience.js";

/** Options of {@link decoratorsFromEnv}: per decorator, options (which win over the environment) or `false` to leave it out. */
export interface DecoratorsOptions {
  /** @defaultValue `{}` (cache on, configured from the environment) */
  readonly cache?: CacheOptions | false;
  /** @defaultValue `{}` (batching on, configured from the environment) */
  readonly batching?: BatchingOptions | false;
  /** @defaultValue `{}` (resilience on, configured from the environment) */
  readonly resilience?: ResilienceOptions | false;
  /** @defaultValue `{}` (telemetry on; a no-op until an OpenTelemetry SDK is registered) */
  readonly telemetry?: TelemetryOptions | false;
}

/** Decorator options read from the environment. */
export interface DecoratorEnvOptions {
  readonly cache: CacheOptions;
  readonly batching: BatchingOptions;
  readonly resilience: ResilienceOptions;
}

const DECORATOR_ENV = {
  MCP_PDP_CACHE_ALLOW_TTL_MS: MCP_PDP_ENV.MCP_PDP_CACHE_ALLOW_TTL_MS,
  MCP_PDP_CACHE_DENY_TTL_MS: MCP_PDP_ENV.MCP_PDP_CACHE_DENY_TTL_MS,
  MCP_PDP_CACHE_MAX: MCP_PDP_ENV.MCP_PDP_CACHE_MAX,
  MCP_PDP_TIMEOUT_MS: MCP_PDP_ENV.MCP_PDP_TIMEOUT_MS,
  MCP_PDP_RETRIES: MCP_PDP_ENV.MCP_PDP_RETRIES,
  MCP_PDP_BATCH_WAIT_MS: MCP_PDP_ENV.MCP_PDP_BATCH_WAIT_MS,
  MCP_PDP_BATCH_MAX: MCP_PDP_ENV.MCP_PDP_BATCH_MAX,
};

/**
 * Reads `MCP_PDP_CACHE_ALLOW_TTL_MS`, `MCP_PDP_CACHE_DENY_TTL_MS`, `MCP_PDP_CACHE_MAX`,
 * `MCP_PDP_TIMEOUT_MS`, `MCP_PDP_RETRIES`, `MCP_PDP_BATCH_WAIT_MS` and `MCP_PDP_BATCH_MAX`. A bad
 * value throws a {@link ConfigError} naming the variable.
 */
export function decoratorOptionsFromEnv(env: Env = process.env): DecoratorEnvOptions {
  const e = readEnv(DECORATOR_ENV, env);
  return {
    cache: {
      ...(e.MCP_PDP_CACHE_ALLOW_TTL_MS !== undefined
        ? { allowTtlMs: e.MCP_PDP_CACHE_ALLOW_TTL_MS }
        : {}),
      ...(e.MCP_PDP_CACHE_DENY_TTL_MS !== undefined
        ? { denyTtlMs: e.MCP_PDP_CACHE_DENY_TTL_MS }
        : {}),
      ...(e.MCP_PDP_CACHE_MAX !== undefined ? { max: e.MCP_PDP_CACHE_MAX } : {}),
    },
    batching: {
      ...(e.MCP_PDP_BATCH_WAIT_MS !== undefined ? { maxWaitMs: e.MCP_PDP_BATCH_WAIT_MS } : {}),
      ...(e.MCP_PDP_BATCH_MAX !== undefined ? { maxBatchSize: e.MCP_PDP_BATCH_MAX } : {}),
    },
    resilience: {
      ...(e.MCP_PDP_TIMEOUT_MS !== undefined ? { timeoutMs: e.MCP_PDP_TIMEOUT_MS } : {}),
      ...(e.MCP_PDP_RETRIES !== undefined ? { retries: e.MCP_PDP_RETRIES } : {}),
    },
  };
}

/**
 * The recommended decorator stack, configured from the environment (see
 * {@link decoratorOptionsFromEnv}) with `options` winning:
 * `compose(withCache(), withBatching(), withResilience(), withTelemetry())`. Apply it to an
 * adapter's PDP: `decoratorsFromEnv()(opaPdp(...))`.
 */
export function decoratorsFromEnv(
  options: DecoratorsOptions = {},
  env: Env = process.env,
): PdpDecorator {
  const fromEnv = decoratorOptionsFromEnv(env);
  const stack: PdpDecorator[] = [];
  if (options.cache !== false) stack.push(withCache({ ...fromEnv.cache, ...options.cache }));
  if (options.batching !== false)
    stack.push(withBatching({ ...fromEnv.batching, ...options.batching }));
  if (options.resilience !== false)
    stack.push(withResilience({ ...fromEnv.resilience, ...options.resilience }));
  if (options.telemetry !== false) stack.push(withTelemetry(options.telemetry ?? {}));
  return compose(...stack);
}
