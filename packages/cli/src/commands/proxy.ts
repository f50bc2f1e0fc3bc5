import { Authorizer, ConfigError, type Env, readMcpPdpEnv } from "@mcp-pdp/core";
import { identityChallenge } from "@mcp-pdp/mcp";
import { HELP_OPTION, oneOf, parseCommand } from "../args.js";
import { auditFor, choosePdp, decorate, identityFor, mappingFor } from "../config.js";
import { type CliIo, EXIT, UsageError, println } from "../io.js";
import type { ServerCommand } from "../proxy/bridge.js";
import { runHttpProxy } from "../proxy/http.js";
import { runStdioProxy } from "../proxy/stdio.js";

/** The text of `mcp-pdp proxy --help`. */
export const PROXY_HELP = `Usage: mcp-pdp proxy [options] -- <command> [args...]

Secures an existing stdio MCP server without changing it: runs <command> as a child process and
serves MCP on this process's stdin/stdout in front of it. Every request is decided by the policy
before it reaches the server (a denied one gets JSON-RPC error -32010 and never arrives), and the
lists the server returns are filtered to what the caller may use.

PDP (one of):
  --policy file          a local engine policy file (repeat for several; or MCP_PDP_POLICY_FILE)
  --adapter name         local, permit, eunomia, opa or cerbos (or MCP_PDP_ADAPTER), configured by
                         its environment variables (PERMIT_API_KEY, OPA_URL, CERBOS_URL, ...)

Caller (stdio carries no credentials: whoever starts the proxy says who the caller is):
  --subject id           the caller's id (default: MCP_PDP_IDENTITY_FIXED_VALUE, else "client")
  --role r               a role (repeat for several; default: MCP_PDP_IDENTITY_ROLES)
  --tenant t             the caller's tenant (default: MCP_PDP_IDENTITY_TENANT)

Options:
  --server-name name     the server name of the mapping (default: MCP_SERVER_NAME, else mcp_server)
  --deny-mode m          error (JSON-RPC -32010, default), tool-result or not-found
                         (or MCP_PDP_DENY_MODE)
  --expose-reasons       send the policy's reason to the client (or MCP_PDP_EXPOSE_REASONS)
  --audit target         stderr (default), off, or a file appended to (or MCP_PDP_AUDIT); never
                         stdout, which carries the protocol
  --no-prefetch          do not read the server's lists (at the start, nor when they change) nor
                         hold the client's requests until they are read (then a call made before
                         any list, or to a tool added later, is decided without the server's
                         annotations)
  --max-listens n        2026-07-28 subscriptions/listen requests open at once (default 256); one
                         more is refused (-32000; over --http, 503) before it reaches the server
  -q, --quiet            no start-up line on stderr
  -h, --help             show this help

Streamable HTTP (instead of stdio):
  --http port            serve MCP over Streamable HTTP on http://<host>:<port>/mcp; each session
                         gets its own server process (2026-07-28 requests, which have no session,
                         share one, each decided for its own caller; a subscriptions/listen is
                         answered with an SSE stream of its subscription's notifications, open
                         until the caller leaves). The caller may then come from each request:
                         MCP_PDP_IDENTITY=header (MCP_PDP_IDENTITY_HEADER, ..._ROLES_HEADER) or jwt
                         (MCP_PDP_JWT_*; a token that fails verification gets 401 and a
                         WWW-Authenticate challenge); without them, the fixed caller applies to
                         every session
  --host h               the address to listen on (default 127.0.0.1)
  --max-sessions n       sessions (server processes) open at once (default 32)
  --session-idle s       seconds a session may sit unused before its server process is stopped
                         and its slot freed (default 1800; 0 keeps it until the client deletes it);
                         the shared 2026-07-28 process likewise, with no request in flight and no
                         listen open (the next request starts it again)

Before deciding anything, the proxy reads the server's tool, prompt and resource lists (the
annotations and _meta tags a policy may test) and holds every request but initialize,
server/discover and ping until it has them. When the server says a list changed
(notifications/*/list_changed; in the 2026-07-28 era the proxy subscribes to them itself), that
list is read again, and requests are held again until it is. If a read fails, the held requests
get -32603 (the reason goes to stderr) and the next request reads again. A request whose _meta
names its protocolVersion with anything but a string is refused with -32602 (over --http, 400).

In the 2026-07-28 era over --http, a request from the server to the client (elicitation, sampling,
roots) is answered -32601 to the server: that protocol revision has none (a server asks for input
with an input_required result).

The server runs with this process's environment, minus the PDP credentials (PERMIT_API_KEY,
PERMIT_MCP_PERMIT_API_KEY, WAY_API_KEY, OPA_TOKEN, CERBOS_HEADERS, MCP_PDP_JWT_SECRET). Its stderr
is passed through. The proxy exits when either side closes, with the server's exit code.

Example:
  mcp-pdp proxy --policy policy.yaml --subject alice --role user -- npx -y @modelcontextprotocol/server-memory`;

const OPTIONS = {
  ...HELP_OPTION,
  policy: { type: "string", multiple: true },
  adapter: { type: "string" },
  subject: { type: "string" },
  role: { type: "string", multiple: true },
  tenant: { type: "string" },
  "server-name": { type: "string" },
  "deny-mode": { type: "string" },
  "expose-reasons": { type: "boolean" },
  audit: { type: "string" },
  "no-prefetch": { type: "boolean" },
  "max-listens": { type: "string" },
  http: { type: "string" },
  host: { type: "string" },
  "max-sessions": { type: "string" },
  "session-idle": { type: "string" },
  quiet: { type: "boolean", short: "q" },
} as const;

/** Variables holding PDP credentials: the proxy needs them, the server it secures does not. */
export const PDP_SECRET_VARIABLES: readonly string[] = [
  "PERMIT_API_KEY",
  "PERMIT_MCP_PERMIT_API_KEY",
  "WAY_API_KEY",
  "OPA_TOKEN",
  "CERBOS_HEADERS",
  "MCP_PDP_JWT_SECRET",
];

/** The server's environment: ours, without the PDP credentials. */
export function serverEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && !PDP_SECRET_VARIABLES.includes(key)) out[key] = value;
  }
  return out;
}

function integer(flag: string, text: string, min: number, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(
      `proxy: ${flag} expects an integer from ${min} to ${max}, got ${JSON.stringify(text)}`,
      "proxy",
    );
  }
  return n;
}

/** Splits `[options] -- command args...`; without `--`, the first positional starts the command. */
function splitCommand(args: readonly string[]): { own: string[]; server: string[] } {
  const dash = args.indexOf("--");
  if (dash >= 0) return { own: args.slice(0, dash), server: args.slice(dash + 1) };
  return { own: [...args], server: [] };
}

/** `mcp-pdp proxy [options] -- <command> [args...]`. */
export async function proxy(
  args: readonly string[],
  io: CliIo,
  signal?: AbortSignal,
): Promise<number> {
  const { own, server } = splitCommand(args);
  const { values, positionals } = parseCommand("proxy", own, OPTIONS, {
    positionals: true,
    hint: "put the server command after --, e.g. mcp-pdp proxy --policy policy.yaml -- npx my-server --its-flag",
  });
  if (values.help) {
    println(io.stdout, PROXY_HELP);
    return EXIT.ok;
  }
  const serverArgs = server.length > 0 ? server : positionals;
  if (server.length > 0 && positionals.length > 0) {
    throw new UsageError(
      `proxy: unexpected ${JSON.stringify(positionals[0])} before --; the server command goes after --`,
      "proxy",
    );
  }
  const [command, ...commandArgs] = serverArgs;
  if (command === undefined || command === "") {
    throw new UsageError(
      "proxy: give the server command after --, e.g. mcp-pdp proxy --policy policy.yaml -- npx @modelcontextprotocol/server-memory",
      "proxy",
    );
  }
  const env = io.env;
  const generic = readMcpPdpEnv(env);
  const denyMode =
    oneOf("proxy", "--deny-mode", values["deny-mode"], [
      "error",
      "tool-result",
      "not-found",
    ] as const) ?? generic.MCP_PDP_DENY_MODE;
  const exposeReasons = values["expose-reasons"] ?? generic.MCP_PDP_EXPOSE_REASONS;
  const http = values.http !== undefined ? integer("--http", values.http, 0, 65535) : undefined;
  const maxSessions =
    values["max-sessions"] !== undefined
      ? integer("--max-sessions", values["max-sessions"], 1, 10_000)
      : undefined;
  const maxListens =
    values["max-listens"] !== undefined
      ? integer("--max-listens", values["max-listens"], 1, 100_000)
      : undefined;
  const sessionIdle =
    values["session-idle"] !== undefined
      ? integer("--session-idle", values["session-idle"], 0, 7 * 24 * 3600)
      : undefined;
  if (
    http === undefined &&
    (values.host !== undefined || maxSessions !== undefined || sessionIdle !== undefined)
  ) {
    throw new UsageError(
      "proxy: --host, --max-sessions and --session-idle go with --http",
      "proxy",
    );
  }
  const caller = identityFor(values, env);
  if (http === undefined && caller.mode !== "fixed") {
    throw new ConfigError(
      `MCP_PDP_IDENTITY=${caller.mode}: stdio carries no headers or tokens, so every caller would be unauthenticated; use fixed (--subject/--role)`,
    );
  }
  if (caller.mode === "auth-info") {
    throw new ConfigError(
      "MCP_PDP_IDENTITY=auth-info: no bearer middleware runs in front of the proxy; use jwt to verify tokens, header, or fixed",
    );
  }
  const audit = auditFor(values.audit, env, io.cwd, http === undefined);
  const chosen = await choosePdp("proxy", values, env, io.cwd);
  const mapping = await mappingFor(chosen.adapter, values["server-name"], env);
  const authorizer = new Authorizer({
    pdp: decorate(chosen, env),
    identity: caller.identity,
    mapping,
    audit,
  });
  try {
    const who = caller.subject
      ? `${caller.subject.id}${caller.subject.roles?.length ? ` [${caller.subject.roles.join(", ")}]` : ""}`
      : caller.mode;
    const serverCommand: ServerCommand = {
      command,
      args: commandArgs,
      env: serverEnv(env),
      cwd: io.cwd,
    };
    const common = {
      server: serverCommand,
      authorizer,
      ...(denyMode !== undefined ? { denyMode } : {}),
      ...(exposeReasons !== undefined ? { exposeReasons } : {}),
      ...(values["no-prefetch"] ? { prefetch: false } : {}),
      ...(maxListens !== undefined ? { maxListens } : {}),
      stderr: io.stderr,
      ...(signal ? { signal } : {}),
    };
    const what = [command, ...commandArgs].join(" ");
    const behind = `behind ${chosen.description}, server name ${authorizer.mapping.serverName}, caller ${who}`;
    if (http !== undefined) {
      return await runHttpProxy({
        ...common,
        port: http,
        // A verified bearer token that fails gets 401 and a challenge rather than policy denials.
        ...(caller.mode === "jwt"
          ? { challenge: identityChallenge(caller.identity, { audit }) }
          : {}),
        ...(values.host !== undefined ? { host: values.host } : {}),
        ...(maxSessions !== undefined ? { maxSessions } : {}),
        ...(sessionIdle !== undefined ? { sessionIdleMs: sessionIdle * 1000 } : {}),
        onSession: (pid) => {
          if (!values.quiet)
            println(io.stderr, `mcp-pdp proxy: new session, server started (pid ${pid ?? "?"})`);
        },
        onListening: (url) => {
          if (!values.quiet) println(io.stderr, `mcp-pdp proxy: ${url.href} -> ${what}, ${behind}`);
        },
      });
    }
    return await runStdioProxy({
      ...common,
      stdin: io.stdin,
      stdout: io.stdout,
      onStarted: (pid) => {
        if (!values.quiet)
          println(io.stderr, `mcp-pdp proxy: ${what} (pid ${pid ?? "?"}) ${behind}`);
      },
    });
  } finally {
    await authorizer.close(); // flushes the audit sink; the PDP is ours to close
    await authorizer.pdp.close?.();
  }
}
