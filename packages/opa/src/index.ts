// This file is the complete public surface of @mcp-pdp/opa.
export * from "./input.js";
export * from "./pdp.js";
export * from "./env.js";
