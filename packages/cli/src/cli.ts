#!/usr/bin/env node
import { main } from "./main.js";

// SIGINT/SIGTERM stop a running proxy the way a departing client does: the server is stopped and
// its exit code passed on. Other commands finish on their own.
const controller = new AbortController();
const stop = (): void => {
  controller.abort();
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);

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
