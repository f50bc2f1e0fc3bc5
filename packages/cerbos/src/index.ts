// This file is the complete public surface of @mcp-pdp/cerbos.
export {
  type CerbosPdpOptions,
  DEFAULT_CERBOS_TIMEOUT_MS,
  DEFAULT_CERBOS_URL,
  DEFAULT_MAX_RESOURCES_PER_REQUEST,
  cerbosPdp,
} from "./pdp.js";
export { CERBOS_ENV, cerbosFromEnv, cerbosOptionsFromEnv } from "./env.js";
export {
  type CerbosCheckInput,
  type CerbosMappingOptions,
  type CerbosPrincipal,
  type CerbosResourceEntry,
  type CerbosScheme,
  type ResolvedCerbosMapping,
  resolveCerbosMapping,
  toCerbos,
} from "./mapping.js";
