export * from "./cache.js";
export * from "./batching.js";
export * from "./resilience.js";
export * from "./compose.js";
export * from "./from-env.js";
