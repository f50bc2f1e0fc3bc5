import { expect, it } from "vitest";
import * as api from "../src/index.js";

it("exports exactly its public surface", () => {
  expect(Object.keys(api).sort()).toEqual([
    "DEFAULT_DECISION_PATH",
    "DEFAULT_OPA_URL",
    "OPA_ENV",
    "normalizeDecisionPath",
    "opaFromEnv",
    "opaPdp",
    "toOpaInput",
  ]);
});
