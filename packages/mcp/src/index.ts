// This file is the complete public surface of @mcp-pdp/mcp.
export { type AuthorizeOptions, authorize } from "./authorize.js";
export { authorizeFactory } from "./factory.js";
export {
  type IdentityChallengeOptions,
  type NodeMiddleware,
  identityChallenge,
} from "./challenge.js";
export { type McpFetch, guardListen } from "./fetch.js";
export { TransportDecorator } from "./decorator.js";
export {
  type DenyMode,
  type GuardOptions,
  GuardedTransport,
  UNAUTHORIZED_CODE,
  guardTransport,
} from "./guard.js";
export { type TaskBindingsOptions, type TaskOwner, TaskBindings, subjectKey } from "./tasks.js";
