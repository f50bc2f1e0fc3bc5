// This file is the complete public surface of @mcp-pdp/local.
export {
  LocalPdp,
  localPdp,
  localFromEnv,
  LOCAL_PDP_ENV,
  type LocalPdpOptions,
  type Explanation,
  type RuleTrace,
} from "./pdp.js";
export {
  parsePolicy,
  loadPolicyFile,
  type ParsePolicyOptions,
  type PolicyDocument,
  type PolicyFormat,
} from "./load.js";
export {
  type NativePolicy,
  type PolicyRule,
  type RuleCondition,
  type SubjectMatch,
  type ResourceMatch,
  type Effect,
  type OneOrMany,
} from "./native.js";
export { CONDITION_OPERATORS, type ConditionOperator } from "./conditions.js";
export {
  eunomiaView,
  eunomiaCoarseList,
  EUNOMIA_OPERATORS,
  type EunomiaOperator,
  type EunomiaPolicy,
  type EunomiaRule,
  type EunomiaCondition,
  type EunomiaEntity,
  type EunomiaCheckRequest,
} from "./eunomia.js";
