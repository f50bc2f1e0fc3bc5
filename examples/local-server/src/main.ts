/**
 * Runs the notes server secured by mcp-pdp.
 *
 *   stdio (default):  tsx src/main.ts
 *   Streamable HTTP:  tsx src/main.ts --http [--port 3000]
 *
 * The PDP is chosen by MCP_PDP_ADAPTER (local by default, on policy.yaml). Over stdio the caller is
 * the fixed identity from MCP_PDP_IDENTITY_FIXED_VALUE / MCP_PDP_IDENTITY_ROLES; over HTTP it is
 * the subject of a bearer JWT signed with MCP_PDP_JWT_SECRET (HS256); a token that fails
 * verification is answered 401 with a WWW-Authenticate challenge.
 */
import { parseArgs } from "node:util";
import { ConfigError, type Env, identityFromEnv } from "@mcp-pdp/core";
import { authorize } from "@mcp-pdp/mcp";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { serveHttp } from "./http.js";
import { guardOptionsFromEnv } from "./pdp.js";
import { createNotesServer } from "./server.js";

const HELP = `Usage: main.ts [--http] [--port N] [--host H]

Runs the example notes server secured by mcp-pdp.

  --http        serve Streamable HTTP on /mcp (identity: bearer JWT) instead of stdio
  --port N      HTTP port (default 3000)
  --host H      HTTP host (default 127.0.0.1)
  -h, --help    show this help

Environment: MCP_PDP_ADAPTER (local|permit|eunomia|opa|cerbos, default local),
MCP_PDP_POLICY_FILE (local engine; default policy.yaml beside this example),
MCP_PDP_IDENTITY_FIXED_VALUE and MCP_PDP_IDENTITY_ROLES (stdio caller),
MCP_PDP_JWT_SECRET (HTTP; mint a token with: pnpm --filter @mcp-pdp/example-local-server token alice admin).`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      http: { type: "boolean", default: false },
      port: { type: "string", default: "3000" },
      host: { type: "string", default: "127.0.0.1" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.http) {
    const env: Env = { MCP_PDP_IDENTITY: "fixed", ...process.env };
    const options = await guardOptionsFromEnv(env, identityFromEnv(env));
    const server = createNotesServer();
    authorize(server, options);
    await server.connect(new StdioServerTransport());
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`--port: expected a port number, got ${values.port}`);
  const env: Env = { MCP_PDP_IDENTITY: "jwt", MCP_PDP_JWT_ALGORITHMS: "HS256", ...process.env };
  if (!env.MCP_PDP_JWT_SECRET)
    throw new ConfigError("MCP_PDP_JWT_SECRET must be set to verify bearer tokens in --http mode");
  const guard = await guardOptionsFromEnv(env, identityFromEnv(env));
  const running = await serveHttp({
    createServer: createNotesServer,
    guard,
    port,
    host: values.host,
  });
  console.error(`notes server on ${running.url.href} (PDP: ${guard.pdp.name})`);
  const stop = () => {
    void running.close().then(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exit(1);
});
