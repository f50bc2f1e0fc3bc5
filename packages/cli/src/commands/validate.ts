import { type PolicyDocument, LocalPdp, loadPolicyFile } from "@mcp-pdp/local";
import { isMcpPdpError } from "@mcp-pdp/core";
import { HELP_OPTION, oneOf, parseCommand } from "../args.js";
import { type CliIo, EXIT, UsageError, pathFor, println } from "../io.js";

/** The text of `mcp-pdp validate --help`. */
export const VALIDATE_HELP = `Usage: mcp-pdp validate <files...> [--format auto|native|eunomia]

Loads policy files with the local engine's loader (YAML or JSON; native or Eunomia documents) and
reports each one: "ok <file>: N rules", or every problem with the file, the rule and the field.
The files are then loaded together, as the engine would, to catch clashes between them (a rule
name used twice). Exits 1 when any file is invalid.

Options:
  --format f   auto (default: Eunomia when the document has "name" or "default_effect"),
               native or eunomia
  -h, --help   show this help`;

const OPTIONS = { ...HELP_OPTION, format: { type: "string" } } as const;

function describe(docs: readonly PolicyDocument[]): string {
  const rules = docs.reduce((n, d) => n + d.rules.length, 0);
  const eunomia = docs
    .filter((d) => "name" in d || "default_effect" in d)
    .map((d) => JSON.stringify((d as { name?: string }).name ?? ""));
  const parts = [`${rules} rule${rules === 1 ? "" : "s"}`];
  if (docs.length > 1) parts.push(`${docs.length} documents`);
  if (eunomia.length > 0)
    parts.push(`Eunomia polic${eunomia.length > 1 ? "ies" : "y"} ${eunomia.join(", ")}`);
  return parts.length > 1 ? `${parts[0]} (${parts.slice(1).join("; ")})` : (parts[0] ?? "");
}

function problemLines(error: unknown): string[] {
  if (isMcpPdpError(error)) return error.message.split("\n");
  throw error;
}

/** `mcp-pdp validate <files...>`. */
export function validate(args: readonly string[], io: CliIo): number {
  const { values, positionals } = parseCommand("validate", args, OPTIONS, { positionals: true });
  if (values.help) {
    println(io.stdout, VALIDATE_HELP);
    return EXIT.ok;
  }
  if (positionals.length === 0)
    throw new UsageError("validate: give at least one policy file", "validate");
  const format = oneOf("validate", "--format", values.format, [
    "auto",
    "native",
    "eunomia",
  ] as const);
  let failed = false;
  for (const file of positionals) {
    try {
      const docs = loadPolicyFile(pathFor(io.cwd, file), format ? { format } : {});
      println(io.stdout, `ok ${file}: ${describe(docs)}`);
    } catch (error) {
      failed = true;
      for (const line of problemLines(error)) println(io.stderr, line);
    }
  }
  if (!failed && positionals.length > 1 && (format === undefined || format === "auto")) {
    try {
      new LocalPdp({ files: positionals.map((f) => pathFor(io.cwd, f)) });
    } catch (error) {
      failed = true;
      for (const line of problemLines(error)) println(io.stderr, line);
    }
  }
  return failed ? EXIT.failure : EXIT.ok;
}
