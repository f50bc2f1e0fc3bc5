// This file is the complete public surface of @mcp-pdp/eunomia.
export * from "./pdp.js";
export * from "./admin.js";
export * from "./env.js";
export * from "./identity.js";
export {
  eunomiaView,
  type EunomiaCheckRequest,
  type EunomiaEntity,
  type EunomiaPolicy,
} from "@mcp-pdp/local";
