import { vitestConfig } from "../vitest.base.ts";

export default vitestConfig({ include: ["**/*.test.ts"], testTimeout: 30_000 });
