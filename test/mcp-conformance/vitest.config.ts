import { vitestConfig } from "../../vitest.base.ts";

// Four runner invocations of about forty scenarios each, on a shared two-core machine.
export default vitestConfig({ include: ["*.test.ts"], testTimeout: 600_000 });
