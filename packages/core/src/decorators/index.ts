export {
  type CacheInvalidation,
  type CacheOptions,
  type CacheStats,
  type CachedPdp,
  withCache,
} from "./cache.js";
export * from "./batching.js";
export * from "./resilience.js";
export * from "./compose.js";
export * from "./from-env.js";
