#!/usr/bin/env node
import { main } from "./main.js";

// SIGINT/SIGTERM stop a running proxy the way a departing client does: its server is stopped
// first. A second signal ends the process at once; other commands keep the default handling.
const controller = new AbortController();
if (process.argv[2] === "proxy") {
  const stop = (): void => {
    controller.abort();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

// A reader that went away (`mcp-pdp check ... | head -1`) is not an error of the command: the rest of
// the output is dropped. The proxy notices the same through its own listener and stops.
const ignoreBrokenPipe = (error: NodeJS.ErrnoException): void => {
  if (error.code === "EPIPE") return;
  process.exitCode = 1;
  process.stderr.write(`mcp-pdp: cannot write the output: ${error.message}\n`);
};
process.stdout.on("error", ignoreBrokenPipe);
process.stderr.on("error", ignoreBrokenPipe);

const code = await main(process.argv.slice(2), {}, { signal: controller.signal });
// Let buffered output reach a pipe before exiting; stdin (read by the proxy) would keep the
// process alive otherwise.
await new Promise<void>((resolve) =>
  process.stdout.write("", () => {
    resolve();
  }),
);
await new Promise<void>((resolve) =>
  process.stderr.write("", () => {
    resolve();
  }),
);
process.exit(code);
