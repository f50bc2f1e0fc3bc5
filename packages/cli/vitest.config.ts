import { vitestConfig } from "../../vitest.base.ts";

// The proxy tests start real processes (the command from source, and npm's MCP servers).
export default vitestConfig({ testTimeout: 60_000 });
