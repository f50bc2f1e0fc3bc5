/**
 * Runs the real Cerbos binary for tests: a server on free 127.0.0.1 ports with a policy
 * directory, and the policy compiler with its test runner. The binary comes from the npm package
 * `@cerbos/cerbos-<platform>-<arch>` (install it as a dev dependency) or from `CERBOS_BINARY`.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { type AddressInfo, createServer } from "node:net";
import { dirname, join } from "node:path";
import { ConfigError } from "@mcp-pdp/core";

/**
 * The path of the Cerbos binary: `CERBOS_BINARY` when set, else the one shipped in
 * `@cerbos/cerbos-<platform>-<arch>`. Throws a {@link ConfigError} saying what to install.
 */
export function cerbosBinary(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const fromEnv = env.CERBOS_BINARY;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!existsSync(fromEnv)) throw new ConfigError(`CERBOS_BINARY: no file at ${fromEnv}`);
    return fromEnv;
  }
  const pkg = `@cerbos/cerbos-${process.platform}-${process.arch}`;
  let manifest: string;
  try {
    manifest = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
  } catch (error) {
    throw new ConfigError(
      `the Cerbos binary is missing: install ${pkg} as a dev dependency or set CERBOS_BINARY`,
      { cause: error },
    );
  }
  return join(dirname(manifest), `cerbos-${process.platform}-${process.arch}`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

/** Options of {@link startCerbosServer}. */
export interface CerbosServerOptions {
  /** Directory of policies (and `_schemas`), loaded with the disk driver. */
  readonly policyDir: string;
  /** Reload policies when files change. @defaultValue false */
  readonly watch?: boolean;
  /** Extra `--set` overrides, e.g. `server.requestLimits.maxResourcesPerRequest=10`. */
  readonly set?: readonly string[];
  /** Milliseconds to wait for the server to report SERVING. @defaultValue 30000 */
  readonly startTimeoutMs?: number;
  /** @defaultValue {@link cerbosBinary}() */
  readonly binary?: string;
}

/** A running Cerbos server. */
export interface CerbosServer {
  /** Base URL of the HTTP API, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Address of the gRPC API, `127.0.0.1:<port>`. */
  readonly grpcAddress: string;
  /** The last lines the server logged (for failure messages). */
  logs(): string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s). */
  close(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test runner that dies mid-suite must not leave servers holding ports.
  process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/_cerbos/health`, { signal: AbortSignal.timeout(1000) });
    const text = await response.text();
    return response.ok && text.includes("SERVING");
  } catch {
    return false;
  }
}

async function startOnce(options: CerbosServerOptions, binary: string): Promise<CerbosServer> {
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const url = `http://127.0.0.1:${httpPort}`;
  const args = [
    "server",
    "--log-level=warn",
    "--set=storage.driver=disk",
    `--set=storage.disk.directory=${options.policyDir}`,
    `--set=storage.disk.watchForChanges=${options.watch === true ? "true" : "false"}`,
    `--set=server.httpListenAddr=127.0.0.1:${httpPort}`,
    `--set=server.grpcListenAddr=127.0.0.1:${grpcPort}`,
    ...(options.set ?? []).map((s) => `--set=${s}`),
  ];
  const child = spawn(binary, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CERBOS_NO_TELEMETRY: "1" },
  });
  running.add(child);
  installExitHook();
  let log = "";
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString("utf8")).slice(-8000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const state = { exited: false };
  const exit = new Promise<void>((resolve) => {
    child.once("exit", () => {
      state.exited = true;
      running.delete(child);
      resolve();
    });
  });
  child.once("error", (error) => {
    log += `\n${error.message}`;
  });
  const close = async () => {
    if (state.exited) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exit;
    clearTimeout(timer);
  };
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (state.exited) throw new Error(`cerbos server exited while starting:\n${log}`);
    if (await healthy(url)) {
      return { url, grpcAddress: `127.0.0.1:${grpcPort}`, logs: () => log, close };
    }
    await sleep(50);
  }
  await close();
  throw new Error(`cerbos server did not become healthy at ${url}:\n${log}`);
}

/**
 * Starts `cerbos server` with the disk driver on free 127.0.0.1 ports (HTTP and gRPC) and waits
 * for `GET /_cerbos/health` to report SERVING. A port taken between choosing and binding it is
 * retried with new ports.
 */
export async function startCerbosServer(options: CerbosServerOptions): Promise<CerbosServer> {
  const binary = options.binary ?? cerbosBinary();
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(options, binary);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/** The outcome of {@link compileCerbosPolicies}. */
export interface CerbosCompileResult {
  /** The compiler's exit code: 0 when every policy compiled and every test passed. */
  readonly exitCode: number;
  /** Policy tests executed (0 when the directory has none). */
  readonly testsCount: number;
  /** `RESULT_PASSED`, `RESULT_FAILED`, ... (undefined when no tests ran). */
  readonly overallResult: string | undefined;
  /** The compiler's JSON report as printed. */
  readonly output: string;
  readonly stderr: string;
}

/** Runs `cerbos compile` (policy validation and the `*_test.yaml` suites) on a directory. */
export function compileCerbosPolicies(
  policyDir: string,
  options: { readonly binary?: string } = {},
): Promise<CerbosCompileResult> {
  const binary = options.binary ?? cerbosBinary();
  return new Promise((resolve) => {
    execFile(
      binary,
      ["compile", "--output=json", "--no-color", policyDir],
      { env: { ...process.env, CERBOS_NO_TELEMETRY: "1" }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        let testsCount = 0;
        let overallResult: string | undefined;
        try {
          const report = JSON.parse(stdout) as {
            summary?: { testsCount?: number; overallResult?: string };
          };
          testsCount = report.summary?.testsCount ?? 0;
          overallResult = report.summary?.overallResult;
        } catch {
          // Compile errors and crashes leave no test report; the exit code tells.
        }
        const code = (error as { code?: unknown } | null)?.code;
        resolve({
          exitCode: error === null ? 0 : typeof code === "number" ? code : 1,
          testsCount,
          overallResult,
          output: stdout,
          stderr,
        });
      },
    );
  });
}
