import { configDefaults, mergeConfig } from "vitest/config";
import { vitestConfig } from "../vitest.base.ts";

// mcp-conformance is a workspace package of its own (its runner brings Node 22): not run from here.
export default mergeConfig(vitestConfig({ include: ["**/*.test.ts"], testTimeout: 30_000 }), {
  test: { exclude: [...configDefaults.exclude, "mcp-conformance/**"] },
});
