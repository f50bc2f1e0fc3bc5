import { createRequire } from "node:module";
import { isAbsolute, resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { type Env, isMcpPdpError } from "@mcp-pdp/core";

/** Where a command reads and writes. Defaults are the process's own. */
export interface CliIo {
  /** Command output (for `proxy`: the MCP protocol). @defaultValue `process.stdout` */
  readonly stdout: Writable;
  /** Messages, errors and (for `proxy`, by default) audit events. @defaultValue `process.stderr` */
  readonly stderr: Writable;
  /** The MCP protocol from the client (`proxy` only). @defaultValue `process.stdin` */
  readonly stdin: Readable;
  /** Environment variables. @defaultValue `process.env` */
  readonly env: Env;
  /** The directory relative paths are resolved against. @defaultValue `process.cwd()` */
  readonly cwd: string;
}

/** Exit codes of the `mcp-pdp` command. */
export const EXIT = {
  /** Success; for `check`, the request is allowed. */
  ok: 0,
  /** A failure: invalid policy, configuration or environment, unreachable PDP, file problem. */
  failure: 1,
  /** A usage error: unknown command or option, missing or malformed argument. */
  usage: 2,
  /** `check` only: the request is denied. */
  denied: 3,
} as const;

/**
 * A mistake in how the command was called. Local to the CLI: printed as one line with a pointer to
 * the command's help, exit code 2.
 */
export class UsageError extends Error {
  /** The command whose help the message points to. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** A failure the CLI already described in its own words (exit code 1). */
export class CliError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CliError";
  }
}

/** The full io, filled in from the process. */
export function resolveIo(io: Partial<CliIo> = {}): CliIo {
  return {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    stdin: io.stdin ?? process.stdin,
    env: io.env ?? process.env,
    cwd: io.cwd ?? process.cwd(),
  };
}

/** Writes one line. */
export function println(stream: Writable, line = ""): void {
  stream.write(`${line}\n`);
}

/** Whether `MCP_PDP_DEBUG` asks for stack traces. */
export function debugEnabled(env: Env): boolean {
  const value = env.MCP_PDP_DEBUG?.trim().toLowerCase();
  return value === "1" || value === "true" || value === "yes" || value === "on";
}

/**
 * Reports an error the way the CLI promises: one line naming what was wrong (a policy error keeps
 * its one line per problem), the stack only with `MCP_PDP_DEBUG=1`. Returns the exit code.
 */
export function reportError(error: unknown, io: CliIo): number {
  if (error instanceof UsageError) {
    println(io.stderr, `mcp-pdp: ${error.message}`);
    const help = error.command ? `mcp-pdp ${error.command} --help` : "mcp-pdp --help";
    println(io.stderr, `Run '${help}' for usage.`);
    return EXIT.usage;
  }
  if (isMcpPdpError(error) && error.code === "POLICY_INVALID") {
    for (const line of error.message.split("\n")) println(io.stderr, `mcp-pdp: ${line}`);
  } else if (isMcpPdpError(error) || error instanceof CliError) {
    println(io.stderr, `mcp-pdp: ${error.message}`);
  } else {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    println(io.stderr, `mcp-pdp: unexpected error: ${text}`);
  }
  if (debugEnabled(io.env) && error instanceof Error && error.stack) {
    println(io.stderr, error.stack);
  } else if (!(isMcpPdpError(error) || error instanceof CliError)) {
    println(io.stderr, "Set MCP_PDP_DEBUG=1 to see the stack trace.");
  }
  return EXIT.failure;
}

/** The version of this package. */
export function version(): string {
  // One level below the package root both in src/ and in dist/.
  const pkg = createRequire(import.meta.url)("../package.json") as { version: string };
  return pkg.version;
}

/**
 * A path as the user typed it when it already resolves from the process's directory (so messages
 * name the file the way the user did), else resolved against `cwd`.
 */
export function pathFor(cwd: string, file: string): string {
  return isAbsolute(file) || resolve(cwd) === process.cwd() ? file : resolve(cwd, file);
}
