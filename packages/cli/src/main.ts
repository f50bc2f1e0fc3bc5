import { CHECK_HELP, check } from "./commands/check.js";
import { INIT_HELP, init } from "./commands/init.js";
import { PROXY_HELP, proxy } from "./commands/proxy.js";
import { VALIDATE_HELP, validate } from "./commands/validate.js";
import { type CliIo, EXIT, UsageError, println, reportError, resolveIo, version } from "./io.js";

const HELP = `Usage: mcp-pdp <command> [options]

Policy-based authorization for MCP servers.

Commands:
  init [file]                    write a starter policy for the local engine (policy.yaml)
  validate <files...>            check policy files and report every problem
  check [options] <method> ...   decide one MCP request and show the deciding rule
  proxy [options] -- <cmd> ...   secure an existing stdio MCP server without changing it

Options:
  -h, --help                     show this help (mcp-pdp <command> --help for a command's)
  -v, --version                  print the version

Environment: MCP_PDP_DEBUG=1 prints stack traces with errors. See each command's help for the
variables it reads.`;

const COMMANDS = ["init", "validate", "check", "proxy"] as const;

const HELPS: Record<(typeof COMMANDS)[number], string> = {
  init: INIT_HELP,
  validate: VALIDATE_HELP,
  check: CHECK_HELP,
  proxy: PROXY_HELP,
};

/** Options of {@link main} beyond the io. */
export interface MainOptions {
  /** Stops a running `proxy` as if its client had gone. */
  readonly signal?: AbortSignal;
}

async function run(argv: readonly string[], io: CliIo, options: MainOptions): Promise<number> {
  const [first, ...rest] = argv;
  switch (first) {
    case undefined:
      println(io.stderr, HELP);
      return EXIT.usage;
    case "-h":
    case "--help":
      println(io.stdout, HELP);
      return EXIT.ok;
    case "help": {
      const topic = rest[0];
      if (topic === undefined) {
        println(io.stdout, HELP);
        return EXIT.ok;
      }
      if (!(COMMANDS as readonly string[]).includes(topic)) {
        throw new UsageError(
          `unknown command ${JSON.stringify(topic)}; commands: ${COMMANDS.join(", ")}`,
        );
      }
      println(io.stdout, HELPS[topic as (typeof COMMANDS)[number]]);
      return EXIT.ok;
    }
    case "-v":
    case "--version":
      println(io.stdout, version());
      return EXIT.ok;
    case "init":
      return init(rest, io);
    case "validate":
      return validate(rest, io);
    case "check":
      return check(rest, io);
    case "proxy":
      return proxy(rest, io, options.signal);
    default:
      if (first.startsWith("-")) throw new UsageError(`unknown option ${first}`);
      throw new UsageError(
        `unknown command ${JSON.stringify(first)}; commands: ${COMMANDS.join(", ")}`,
      );
  }
}

/**
 * Runs the `mcp-pdp` command with `argv` (without the node and script paths) and resolves with its
 * exit code. Never rejects: errors are reported on `io.stderr` (one line naming what was wrong;
 * the stack only with `MCP_PDP_DEBUG=1`).
 */
export async function main(
  argv: readonly string[],
  io: Partial<CliIo> = {},
  options: MainOptions = {},
): Promise<number> {
  const full = resolveIo(io);
  try {
    return await run(argv, full, options);
  } catch (error) {
    return reportError(error, full);
  }
}
