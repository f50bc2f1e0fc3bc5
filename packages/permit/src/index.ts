// This file is the complete public surface of @mcp-pdp/permit.
export * from "./query.js";
export * from "./pdp.js";
export * from "./env.js";
export * from "./client.js";
