// One-off scaffolding helper kept for adding packages with the same layout.
import { writeFileSync, mkdirSync, existsSync } from "node:fs";
const [dir, name, description, depsJson = "{}", peerJson = "{}", devJson = "{}"] = process.argv.slice(2);
mkdirSync(`${dir}/src`, { recursive: true });
mkdirSync(`${dir}/test`, { recursive: true });
const pkg = {
  name,
  version: "0.1.0",
  description,
  license: "Apache-2.0",
  type: "module",
  sideEffects: false,
  engines: { node: ">=20.19" },
  exports: {
    ".": { "@mcp-pdp/source": "./src/index.ts", types: "./dist/index.d.ts", default: "./dist/index.js" },
    "./package.json": "./package.json",
  },
  files: ["dist", "src", "README.md"],
  scripts: {
    build: "tsc -p tsconfig.build.json",
    typecheck: "tsc --noEmit",
    lint: "eslint .",
    test: "vitest run",
  },
  dependencies: JSON.parse(depsJson),
  peerDependencies: JSON.parse(peerJson),
  devDependencies: JSON.parse(devJson),
};
for (const k of ["dependencies", "peerDependencies", "devDependencies"]) if (!Object.keys(pkg[k]).length) delete pkg[k];
writeFileSync(`${dir}/package.json`, JSON.stringify(pkg, null, 2) + "\n");
const rel = dir.split("/").map(() => "..").join("/");
writeFileSync(`${dir}/tsconfig.json`, JSON.stringify({ extends: `${rel}/tsconfig.base.json`, compilerOptions: { noEmit: true }, include: ["src", "test", "*.ts"] }, null, 2) + "\n");
writeFileSync(`${dir}/tsconfig.build.json`, JSON.stringify({ extends: `${rel}/tsconfig.base.json`, compilerOptions: { rootDir: "src", outDir: "dist", customConditions: [], allowImportingTsExtensions: false }, include: ["src"] }, null, 2) + "\n");
if (!existsSync(`${dir}/vitest.config.ts`)) writeFileSync(`${dir}/vitest.config.ts`, `import { vitestConfig } from "${rel}/vitest.base.ts";\n\nexport default vitestConfig();\n`);
