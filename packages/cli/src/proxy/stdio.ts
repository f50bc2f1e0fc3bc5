import { constants } from "node:os";
import type { Readable, Writable } from "node:stream";
import type { Authorizer } from "@mcp-pdp/core";
import type { DenyMode } from "@mcp-pdp/mcp";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { type BridgeEnd, type ServerCommand, bridgeOptions, openBridge } from "./bridge.js";

/** Options of {@link runStdioProxy}. */
export interface StdioProxyOptions {
  readonly server: ServerCommand;
  readonly authorizer: Authorizer;
  readonly denyMode?: DenyMode;
  readonly exposeReasons?: boolean;
  /** Read the server's lists before the first request is decided (see `openBridge`). @defaultValue true */
  readonly prefetch?: boolean;
  /** `subscriptions/listen` requests open at once (see `openBridge`). @defaultValue 256 */
  readonly maxListens?: number;
  /** The MCP client's side: the protocol in and out. */
  readonly stdin: Readable;
  readonly stdout: Writable;
  /** The server's stderr and the proxy's own messages. */
  readonly stderr: Writable;
  /** Aborting stops the proxy as if the client had gone (used for SIGINT/SIGTERM). */
  readonly signal?: AbortSignal;
  /** Called once the server runs. */
  readonly onStarted?: (pid: number | undefined) => void;
}

/**
 * The exit code the proxy passes on: the server's own exit code; when the server had to be stopped
 * because the client left, 0; when it died of a signal by itself, 128 + the signal's number.
 */
export function exitCodeOf(end: BridgeEnd): number {
  if (end.exitCode !== null) return end.exitCode;
  if (end.by === "client") return 0;
  const number =
    end.signal !== null ? (constants.signals[end.signal] as number | undefined) : undefined;
  return number !== undefined ? 128 + number : 1;
}

/**
 * Serves the MCP protocol on `stdin`/`stdout` in front of a stdio server process, through the
 * guard. Resolves with the exit code once either side closed and the server process is gone.
 */
export async function runStdioProxy(options: StdioProxyOptions): Promise<number> {
  const { stdin, stdout } = options;
  const client = new StdioServerTransport(stdin, stdout);
  const bridge = await openBridge(bridgeOptions(client, options));
  options.onStarted?.(bridge.pid);
  // The SDK's stdio transport does not notice its input ending: the client went away.
  const stop = (): void => {
    void bridge.close();
  };
  stdin.once("end", stop);
  stdin.once("close", stop);
  // Writing to a client that is gone fails with EPIPE: stop rather than crash.
  stdout.on("error", stop);
  options.signal?.addEventListener("abort", stop, { once: true });
  if (options.signal?.aborted === true) stop();
  try {
    const end = await bridge.done;
    return exitCodeOf(end);
  } finally {
    stdin.off("end", stop);
    stdin.off("close", stop);
    stdout.off("error", stop);
    options.signal?.removeEventListener("abort", stop);
  }
}
