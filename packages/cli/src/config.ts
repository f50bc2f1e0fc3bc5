/**
 * What `check` and `proxy` share: choosing the PDP, the mapping and the caller from flags and the
 * environment, the same way for both, so `check` answers what the proxy would decide.
 */
import {
  type AuditSink,
  ConfigError,
  type Env,
  type IdentityResolver,
  type MappingOptions,
  type PolicyDecisionPoint,
  type Subject,
  auditFromEnv,
  decoratorsFromEnv,
  envValue,
  fixedIdentity,
  identityFromEnv,
  mappingFromEnv,
  readEnv,
  readMcpPdpEnv,
} from "@mcp-pdp/core";
import { LOCAL_PDP_ENV, LocalPdp } from "@mcp-pdp/local";
import { UsageError, pathFor } from "./io.js";

/** The PDPs the CLI can use: the local engine on policy files, or a remote adapter. */
export const ADAPTERS = ["local", "permit", "eunomia", "opa", "cerbos"] as const;

/** One of {@link ADAPTERS}. */
export type AdapterName = (typeof ADAPTERS)[number];

/** The PDP flags of `check` and `proxy`. */
export interface PdpFlags {
  readonly policy?: readonly string[];
  readonly adapter?: string;
}

/** The chosen PDP. */
export interface ChosenPdp {
  readonly adapter: AdapterName;
  readonly pdp: PolicyDecisionPoint;
  /** Set for the local engine, which can explain its decisions. */
  readonly local?: LocalPdp;
  /** A short description for messages: `local policy policy.yaml`, `opa`. */
  readonly description: string;
}

/**
 * The PDP named by `--adapter` (or `MCP_PDP_ADAPTER`), or the local engine on `--policy` files
 * (or `MCP_PDP_POLICY_FILE`). A remote adapter is configured by its own environment variables.
 */
export async function choosePdp(
  command: string,
  flags: PdpFlags,
  env: Env,
  cwd: string,
): Promise<ChosenPdp> {
  const policies = flags.policy ?? [];
  let adapter: AdapterName | undefined;
  if (flags.adapter !== undefined) {
    if (!(ADAPTERS as readonly string[]).includes(flags.adapter)) {
      throw new UsageError(
        `${command}: --adapter must be one of ${ADAPTERS.join(", ")}, got ${JSON.stringify(flags.adapter)}`,
        command,
      );
    }
    adapter = flags.adapter as AdapterName;
  } else if (policies.length === 0) {
    adapter = readEnv({ MCP_PDP_ADAPTER: envValue.oneOf(ADAPTERS) }, env).MCP_PDP_ADAPTER;
  }
  if (policies.length > 0 && adapter !== undefined && adapter !== "local") {
    throw new UsageError(
      `${command}: --policy is for the local engine and cannot be combined with --adapter ${adapter}`,
      command,
    );
  }
  if (adapter === undefined || adapter === "local") {
    let files = policies;
    if (files.length === 0) files = readEnv(LOCAL_PDP_ENV, env).MCP_PDP_POLICY_FILE ?? [];
    if (files.length === 0) {
      throw new UsageError(
        `${command}: no policy: give --policy <file> (or MCP_PDP_POLICY_FILE), or --adapter ${ADAPTERS.slice(1).join("|")}`,
        command,
      );
    }
    const local = new LocalPdp({ files: files.map((f) => pathFor(cwd, f)) });
    return { adapter: "local", pdp: local, local, description: `local policy ${files.join(", ")}` };
  }
  return { adapter, pdp: await remotePdpFromEnv(adapter, env), description: adapter };
}

/**
 * The remote adapter named `adapter`, configured from its own environment variables (`PERMIT_*`,
 * `EUNOMIA_*`, `OPA_*`, `CERBOS_*`). Undecorated: wrap it in `decoratorsFromEnv()` for a cache,
 * batching and resilience. Only the chosen adapter's package is loaded.
 */
export async function remotePdpFromEnv(
  adapter: Exclude<AdapterName, "local">,
  env: Env = process.env,
): Promise<PolicyDecisionPoint> {
  switch (adapter) {
    case "permit": {
      const { permitFromEnv } = await import("@mcp-pdp/permit");
      return permitFromEnv({}, env);
    }
    case "eunomia": {
      const { eunomiaFromEnv } = await import("@mcp-pdp/eunomia");
      return eunomiaFromEnv({}, env);
    }
    case "opa": {
      const { opaFromEnv } = await import("@mcp-pdp/opa");
      return opaFromEnv({}, env);
    }
    case "cerbos": {
      const { cerbosFromEnv } = await import("@mcp-pdp/cerbos");
      return cerbosFromEnv({}, env);
    }
  }
}

/**
 * A remote PDP gets the recommended decorators (cache, batching, resilience, telemetry),
 * configured by `MCP_PDP_CACHE_*`, `MCP_PDP_TIMEOUT_MS`, ...; the local engine needs none.
 */
export function decorate(chosen: ChosenPdp, env: Env): PolicyDecisionPoint {
  return chosen.adapter === "local" ? chosen.pdp : decoratorsFromEnv({}, env)(chosen.pdp);
}

/**
 * The mapping as the guard uses it: `MCP_SERVER_NAME` and `MCP_PDP_*` (for Permit also its
 * `PERMIT_MCP_*` names), with `--server-name` winning.
 */
export async function mappingFor(
  adapter: AdapterName,
  serverName: string | undefined,
  env: Env,
): Promise<MappingOptions> {
  let mapping = mappingFromEnv(env);
  if (adapter === "permit") {
    const { permitMappingFromEnv } = await import("@mcp-pdp/permit");
    mapping = { ...mapping, ...permitMappingFromEnv(env) };
  }
  if (serverName !== undefined) {
    if (serverName.trim() === "") throw new ConfigError("--server-name must not be empty");
    mapping = { ...mapping, serverName };
  }
  return mapping;
}

/** The caller flags of `check` and `proxy`. */
export interface SubjectFlags {
  readonly subject?: string;
  readonly role?: readonly string[];
  readonly tenant?: string;
}

function hasSubjectFlags(flags: SubjectFlags): boolean {
  return flags.subject !== undefined || (flags.role?.length ?? 0) > 0 || flags.tenant !== undefined;
}

/**
 * The fixed subject given by `--subject/--role/--tenant`, completed from
 * `MCP_PDP_IDENTITY_FIXED_VALUE`, `MCP_PDP_IDENTITY_ROLES` and `MCP_PDP_IDENTITY_TENANT`.
 */
export function fixedSubject(flags: SubjectFlags, env: Env): Subject {
  const e = readMcpPdpEnv(env);
  const id = flags.subject ?? e.MCP_PDP_IDENTITY_FIXED_VALUE ?? "client";
  if (id.trim() === "") throw new ConfigError("--subject must not be empty");
  const roles = flags.role && flags.role.length > 0 ? flags.role : e.MCP_PDP_IDENTITY_ROLES;
  const tenant = flags.tenant ?? e.MCP_PDP_IDENTITY_TENANT;
  return {
    id,
    authenticated: true,
    ...(roles ? { roles } : {}),
    ...(tenant !== undefined ? { tenant } : {}),
  };
}

/** The identity resolver and a description of it. */
export interface ChosenIdentity {
  readonly identity: IdentityResolver;
  /** `fixed` when every caller is the same subject. */
  readonly mode: "fixed" | "auth-info" | "header" | "jwt";
  /** The subject, for a fixed identity. */
  readonly subject?: Subject;
}

/**
 * The caller of a proxied server: `--subject/--role/--tenant` when given, else `MCP_PDP_IDENTITY`
 * (`fixed` by default: whoever starts the proxy decides who the caller is).
 */
export function identityFor(flags: SubjectFlags, env: Env): ChosenIdentity {
  const mode = readMcpPdpEnv(env).MCP_PDP_IDENTITY ?? "fixed";
  if (hasSubjectFlags(flags) || mode === "fixed") {
    const subject = fixedSubject(flags, env);
    const { id, ...rest } = subject;
    return { identity: fixedIdentity(id, rest), mode: "fixed", subject };
  }
  return { identity: identityFromEnv(env), mode };
}

/** The audit targets: `stderr`, `off`, a file path, or (not for a stdio proxy) `stdout`. */
export function auditFor(
  flag: string | undefined,
  env: Env,
  cwd: string,
  stdoutCarriesProtocol: boolean,
): AuditSink {
  const target = flag ?? readMcpPdpEnv(env).MCP_PDP_AUDIT ?? "stderr";
  if (target === "stdout" && stdoutCarriesProtocol) {
    throw new ConfigError(
      `${flag !== undefined ? "--audit" : "MCP_PDP_AUDIT"}: stdout carries the MCP protocol; audit to stderr, a file or off`,
    );
  }
  const special = ["stderr", "stdout", "off"].includes(target);
  return auditFromEnv({ MCP_PDP_AUDIT: special ? target : pathFor(cwd, target) });
}
