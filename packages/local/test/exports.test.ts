import { describe, expect, it } from "vitest";
import * as local from "../src/index.js";

describe("@mcp-pdp/local public surface", () => {
  it("exports exactly these runtime values", () => {
    expect(Object.keys(local).sort()).toEqual([
      "CONDITION_OPERATORS",
      "EUNOMIA_OPERATORS",
      "LOCAL_PDP_ENV",
      "LocalPdp",
      "eunomiaCoarseList",
      "eunomiaView",
      "loadPolicyFile",
      "localFromEnv",
      "localPdp",
      "parsePolicy",
    ]);
  });

  it("builds a PolicyDecisionPoint named local by default", () => {
    const pdp = local.localPdp();
    expect(pdp).toBeInstanceOf(local.LocalPdp);
    expect(pdp.name).toBe("local");
    expect(local.localPdp({ name: "policies" }).name).toBe("policies");
  });
});
