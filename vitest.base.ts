import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = dirname(fileURLToPath(import.meta.url));

/**
 * Workspace packages resolve to their TypeScript sources (the `@mcp-pdp/source` export condition), so tests
 * need no prior build. Done with aliases rather than a resolve condition, which would also
 * reach third-party packages that publish a `source` export of their own.
 */
function workspaceAliases(): { find: RegExp; replacement: string }[] {
  const aliases: { find: RegExp; replacement: string }[] = [];
  for (const group of ["packages", "examples"]) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const dir of readdirSync(base)) {
      const file = join(base, dir, "package.json");
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name: string; exports?: Record<string, unknown> };
      for (const [key, target] of Object.entries(pkg.exports ?? {})) {
        const source = typeof target === "string" ? target : (target as Record<string, string | undefined>)["@mcp-pdp/source"];
        if (!source?.endsWith(".ts")) continue;
        const name = pkg.name + key.slice(1);
        aliases.push({ find: new RegExp(`^${name.replace(/[/.]/g, "\\$&")}$`), replacement: resolve(base, dir, source) });
      }
    }
  }
  return aliases;
}

/** Shared test configuration of every workspace package. */
export function vitestConfig(options: { testTimeout?: number; include?: string[] } = {}) {
  return defineConfig({
    resolve: { alias: workspaceAliases() },
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
