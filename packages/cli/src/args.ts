import { type ParseArgsConfig, parseArgs } from "node:util";

type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;
import { UsageError } from "./io.js";

/** The `-h/--help` option every command takes. */
export const HELP_OPTION = { help: { type: "boolean", short: "h" } } as const;

function optionIn(message: string): string {
  return /'(-{1,2}[^' ]+)/.exec(message)?.[1] ?? "";
}

/** Rewords `node:util` parse errors into one line naming the command and the option. */
function usageError(error: unknown, command: string, hint: string | undefined): unknown {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  const option = optionIn(message);
  const extra = hint !== undefined ? `; ${hint}` : "";
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(`${command}: unknown option ${option}${extra}`, command);
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return new UsageError(
        message.includes("argument missing")
          ? `${command}: option ${option} needs a value`
          : `${command}: option ${option} does not take a value`,
        command,
      );
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(
        `${command}: unexpected argument ${JSON.stringify(/'([^']*)'/.exec(message)?.[1] ?? "")}`,
        command,
      );
    default:
      return error;
  }
}

type ValueOf<C> = C extends { type: "boolean" }
  ? C extends { multiple: true }
    ? boolean[]
    : boolean
  : C extends { multiple: true }
    ? string[]
    : string;

/** The parsed arguments of a command. */
export interface ParsedArgs<O extends OptionsConfig> {
  readonly values: { readonly [K in keyof O]?: ValueOf<O[K]> };
  readonly positionals: string[];
}

/**
 * Parses a command's arguments strictly: an unknown option, a missing value or a stray argument is
 * a {@link UsageError} naming the command and the option.
 */
export function parseCommand<const O extends OptionsConfig>(
  command: string,
  args: readonly string[],
  options: O,
  settings: { positionals?: boolean; hint?: string } = {},
): ParsedArgs<O> {
  try {
    return parseArgs({
      args: [...args],
      options,
      allowPositionals: settings.positionals ?? false,
      strict: true,
    });
  } catch (error) {
    throw usageError(error, command, settings.hint);
  }
}

/** Parses a JSON flag value that must be an object. */
export function jsonObject(
  command: string,
  flag: string,
  text: string | undefined,
): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new UsageError(`${command}: ${flag} is not valid JSON (${why})`, command);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(
      `${command}: ${flag} must be a JSON object, e.g. '{"path":"/tmp"}'`,
      command,
    );
  }
  return value as Record<string, unknown>;
}

/** Reads `key=value` pairs; a value that parses as JSON is taken as parsed (`level=3` is a number). */
export function keyValues(
  command: string,
  flag: string,
  pairs: readonly string[] | undefined,
): Record<string, unknown> | undefined {
  if (!pairs || pairs.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0)
      throw new UsageError(
        `${command}: ${flag} expects key=value, got ${JSON.stringify(pair)}`,
        command,
      );
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw) as unknown;
    } catch {
      // not JSON: the plain string
    }
    Object.defineProperty(out, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Checks a flag's value against a fixed list. */
export function oneOf<const T extends readonly string[]>(
  command: string,
  flag: string,
  value: string | undefined,
  allowed: T,
): T[number] | undefined {
  if (value === undefined) return undefined;
  if ((allowed as readonly string[]).includes(value)) return value;
  throw new UsageError(
    `${command}: ${flag} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`,
    command,
  );
}
