// This file is the complete public surface of @mcp-pdp/core.
export * from "./model.js";
export * from "./errors.js";
export * from "./mapping.js";
export * from "./identity.js";
export * from "./audit.js";
export * from "./components.js";
export { isSealed, seal, sealedCopy } from "./sealed.js";
export * from "./authorizer.js";
export * from "./combine.js";
export * from "./env.js";
export * from "./checks.js";
export * from "./http.js";
export * from "./decorators/index.js";
export * from "./telemetry.js";
