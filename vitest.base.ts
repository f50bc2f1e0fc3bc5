import { defineConfig } from "vitest/config";

/**
 * Shared test configuration: workspace packages resolve to their TypeScript sources through the
 * `source` export condition, so tests and type checks need no prior build.
 */
export function vitestConfig(options: { testTimeout?: number; include?: string[] } = {}) {
  const conditions = ["source", "module", "node", "development|production"];
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ["source"] } },
    test: {
      include: options.include ?? ["test/**/*.test.ts"],
      pool: "threads",
      maxWorkers: 2,
      testTimeout: options.testTimeout ?? 15_000,
      hookTimeout: 30_000,
      reporters: ["default", ["json", { outputFile: ".test-report.json" }]],
    },
  });
}
