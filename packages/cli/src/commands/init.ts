import { writeFileSync } from "node:fs";
import { ConfigError } from "@mcp-pdp/core";
import { HELP_OPTION, parseCommand } from "../args.js";
import { CliError, type CliIo, EXIT, UsageError, pathFor, println } from "../io.js";

/** The text of `mcp-pdp init --help`. */
export const INIT_HELP = `Usage: mcp-pdp init [file] [--server-name name] [--force]

Writes a starter policy for the local engine (@mcp-pdp/local): administrators may do everything,
users may list and use what the server declares read-only, everyone else is denied.

Arguments:
  file                 where to write it (default: policy.yaml)

Options:
  --server-name name   the server name of the mapping (default: mcp_server, as MCP_SERVER_NAME)
  -f, --force          overwrite an existing file
  -h, --help           show this help

Then: mcp-pdp validate policy.yaml
      mcp-pdp check --policy policy.yaml --subject alice --role user tools/call --tool read_graph \\
        --metadata '{"annotations":{"readOnlyHint":true}}'`;

/** The starter policy for a server named `server` in the mapping. */
export function starterPolicy(server = "mcp_server"): string {
  return `# Policy for the mcp-pdp local engine (@mcp-pdp/local), server name "${server}".
#
# Every MCP request becomes a resource type and an action (the default mapping):
#   tools/list                   -> type ${server}_tools,              action list
#   tools/call read_graph        -> type ${server},                    action read-graph
#                                   (the tool name, with . / _ turned into -)
#   resources/list               -> type ${server}_resources,          action list
#   resources/read <uri>         -> type ${server}_resources,          action read, key <uri>
#   resources/templates/list     -> type ${server}_resource_templates, action list
#   prompts/list                 -> type ${server}_prompts,            action list
#   prompts/get <name>           -> type ${server}_prompts,            action get,  key <name>
# Each item of a list result is checked like calling or reading it, so one rule governs both
# seeing and using a component.
#
# Anything no rule allows is denied, and a matching deny rule wins over every allow.
# Check a request:  mcp-pdp check --policy <this file> --subject alice --role user tools/list
version: 1
rules:
  - name: admin-everything
    description: Administrators see and use everything.
    effect: allow
    subjects: { roles: [admin], authenticated: true }
    actions: ["*"]

  - name: user-lists
    description: Users may list tools, resources, resource templates and prompts.
    effect: allow
    subjects: { roles: [user], authenticated: true }
    resources:
      types: [${server}_tools, ${server}_resources, ${server}_resource_templates, ${server}_prompts]
    actions: [list]

  - name: user-read-only-tools
    description: Users see and call the tools the server declares read-only (readOnlyHint).
    effect: allow
    subjects: { roles: [user], authenticated: true }
    resources: { types: [${server}] }
    actions: ["*"]
    when:
      - { field: operation.metadata.annotations.readOnlyHint, op: equals, value: true }

  # Or name the tools instead (globs allowed):
  # - name: user-named-tools
  #   effect: allow
  #   subjects: { roles: [user], authenticated: true }
  #   resources: { types: [${server}], tools: [read_*, search_*, list_*] }
  #   actions: ["*"]

  - name: user-read-resources
    description: Users read every resource and get every prompt.
    effect: allow
    subjects: { roles: [user], authenticated: true }
    resources: { types: [${server}_resources, ${server}_prompts] }
    actions: [read, get]

  # A deny rule wins over any allow, even admin-everything:
  # - name: nobody-deletes
  #   effect: deny
  #   resources: { types: [${server}], tools: ["delete_*"] }
  #   actions: ["*"]
`;
}

const OPTIONS = {
  ...HELP_OPTION,
  "server-name": { type: "string" },
  force: { type: "boolean", short: "f" },
} as const;

/** `mcp-pdp init [file]`. */
export function init(args: readonly string[], io: CliIo): number {
  const { values, positionals } = parseCommand("init", args, OPTIONS, { positionals: true });
  if (values.help) {
    println(io.stdout, INIT_HELP);
    return EXIT.ok;
  }
  if (positionals.length > 1) {
    throw new UsageError(`init: expected one file, got ${positionals.length}`, "init");
  }
  const file = positionals[0] ?? "policy.yaml";
  const server = values["server-name"];
  if (server !== undefined && !/^[A-Za-z0-9_.-]+$/.test(server)) {
    throw new ConfigError(
      `--server-name: expected letters, digits, _, . or -, got ${JSON.stringify(server)}`,
    );
  }
  try {
    writeFileSync(pathFor(io.cwd, file), starterPolicy(server), {
      flag: values.force ? "w" : "wx",
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "EEXIST") {
      throw new CliError(`${file} already exists; use --force to overwrite it`);
    }
    throw new CliError(
      `cannot write ${file}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  println(io.stdout, `wrote ${file}`);
  println(io.stdout, `next: mcp-pdp validate ${file}`);
  return EXIT.ok;
}
