// This file is the complete public surface of @mcp-pdp/cli (the `mcp-pdp` command runs `main`).
export { main, type MainOptions } from "./main.js";
export { type CliIo, EXIT, UsageError } from "./io.js";
export { starterPolicy } from "./commands/init.js";
export { ADAPTERS, type AdapterName, remotePdpFromEnv } from "./config.js";
export { PDP_SECRET_VARIABLES } from "./commands/proxy.js";
export { runStdioProxy, exitCodeOf, type StdioProxyOptions } from "./proxy/stdio.js";
export { runHttpProxy, type HttpProxyOptions } from "./proxy/http.js";
export {
  openBridge,
  type Bridge,
  type BridgeEnd,
  type BridgeOptions,
  type ServerCommand,
} from "./proxy/bridge.js";
