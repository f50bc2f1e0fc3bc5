/**
 * `@opentelemetry/api`, when the application has it. It is an optional peer dependency: a static
 * import would fail the whole package at load time where it is absent, so it is required lazily,
 * once, and every caller falls back to doing nothing without it (no OpenTelemetry SDK can be
 * registered without the API, so nothing would be recorded anyway). Not part of the public surface.
 */
import { createRequire } from "node:module";

export type OtelApi = typeof import("@opentelemetry/api");

// The API keeps its global providers under a versioned `Symbol.for` key on `globalThis`, so the
// copy required here sees the providers the application registered through `import`.
const require = createRequire(import.meta.url);

let loaded: { readonly api: OtelApi | undefined } | undefined;

/** `@opentelemetry/api`, or `undefined` when it is not installed. */
export function otelApi(): OtelApi | undefined {
  if (loaded === undefined) {
    try {
      loaded = { api: require("@opentelemetry/api") as OtelApi };
    } catch (error) {
      // Only a missing package means "no telemetry"; a broken install should be seen.
      if ((error as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw error;
      loaded = { api: undefined };
    }
  }
  return loaded.api;
}
