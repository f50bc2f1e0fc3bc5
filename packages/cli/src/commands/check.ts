import {
  type AuthorizationRequest,
  Authorizer,
  type ComponentKind,
  type Decision,
  LIST_METHODS,
  type Subject,
  isListMethod,
  mapListItem,
  safeCheck,
} from "@mcp-pdp/core";
import type { Explanation, RuleTrace } from "@mcp-pdp/local";
import { HELP_OPTION, jsonObject, keyValues, parseCommand } from "../args.js";
import { choosePdp, fixedSubject, mappingFor } from "../config.js";
import { type CliIo, EXIT, UsageError, println } from "../io.js";

/** The text of `mcp-pdp check --help`. */
export const CHECK_HELP = `Usage: mcp-pdp check [--policy file... | --adapter name] [caller] <method> [component] [--json]

Decides one MCP request the way the guard (and the proxy) would, and prints the decision with the
deciding rule. Exit code 0 when allowed, 3 when denied.

PDP (one of):
  --policy file         a local engine policy file (repeat for several; or MCP_PDP_POLICY_FILE)
  --adapter name        local, permit, eunomia, opa or cerbos (or MCP_PDP_ADAPTER), configured by
                        its environment variables (PERMIT_API_KEY, OPA_URL, CERBOS_URL, ...)

Caller:
  --subject id          the caller's id (default: MCP_PDP_IDENTITY_FIXED_VALUE, else "client")
  --role r              a role (repeat for several; default: MCP_PDP_IDENTITY_ROLES)
  --tenant t            the caller's tenant
  --attr key=value      a subject attribute (repeat; a JSON value is parsed: level=3, vip=true)
  --unauthenticated     decide for an unauthenticated caller

Request:
  <method>              tools/call, tools/list, resources/read, prompts/get, ... (optional when
                        --tool, --uri or --prompt says it: tools/call, resources/read, prompts/get)
  --tool name           the tool of tools/call; with tools/list: is this tool visible in the list?
  --uri uri             the resource of resources/read (subscribe, unsubscribe); with
                        resources/list or resources/templates/list: is it visible?
  --prompt name         the prompt of prompts/get; with prompts/list: is it visible?
  --args JSON           tool or prompt arguments, a JSON object
  --params JSON         the raw request params, for any other method
  --metadata JSON       what the server declares about the component, as it lists it, e.g.
                        '{"annotations":{"readOnlyHint":true},"_meta":{"tags":["admin"]}}'
  --server-name name    the server name of the mapping (default: MCP_SERVER_NAME, else mcp_server)

Output:
  --json                one JSON object: allow, decision, rule, request, considered rules
  --trace               also list every rule the local engine considered, and why it did not match
  -h, --help            show this help

Examples:
  mcp-pdp check --policy policy.yaml --subject alice --role user tools/call --tool read_graph
  mcp-pdp check --policy policy.yaml --role user tools/list --tool delete_entities
  OPA_URL=http://127.0.0.1:8181 mcp-pdp check --adapter opa --subject bob resources/read --uri file:///x`;

const OPTIONS = {
  ...HELP_OPTION,
  policy: { type: "string", multiple: true },
  adapter: { type: "string" },
  subject: { type: "string" },
  role: { type: "string", multiple: true },
  tenant: { type: "string" },
  attr: { type: "string", multiple: true },
  unauthenticated: { type: "boolean" },
  "server-name": { type: "string" },
  server: { type: "string" },
  tool: { type: "string" },
  uri: { type: "string" },
  prompt: { type: "string" },
  args: { type: "string" },
  params: { type: "string" },
  metadata: { type: "string" },
  json: { type: "boolean" },
  trace: { type: "boolean" },
} as const;

/** What a component flag means with which methods. */
const COMPONENT_FLAGS = {
  tool: { call: ["tools/call"], list: ["tools/list"], field: "name", kind: "tool" },
  prompt: { call: ["prompts/get"], list: ["prompts/list"], field: "name", kind: "prompt" },
  uri: {
    call: ["resources/read", "resources/subscribe", "resources/unsubscribe"],
    list: ["resources/list", "resources/templates/list"],
    field: "uri",
    kind: "resource",
  },
} as const;

type ComponentFlag = keyof typeof COMPONENT_FLAGS;

interface Target {
  readonly method: string;
  readonly flag?: ComponentFlag;
  readonly id?: string;
}

function target(method: string | undefined, values: Record<string, unknown>): Target {
  const given = (Object.keys(COMPONENT_FLAGS) as ComponentFlag[]).filter(
    (f) => values[f] !== undefined,
  );
  if (given.length > 1) {
    throw new UsageError(
      `check: give one of --tool, --uri, --prompt, not ${given.map((f) => `--${f}`).join(" and ")}`,
      "check",
    );
  }
  const flag = given[0];
  if (method === undefined) {
    if (flag === undefined) {
      throw new UsageError(
        "check: give the MCP method (tools/call, tools/list, ...) or --tool, --uri, --prompt",
        "check",
      );
    }
    method = COMPONENT_FLAGS[flag].call[0];
  }
  if (flag === undefined) {
    for (const [f, spec] of Object.entries(COMPONENT_FLAGS)) {
      if ((spec.call as readonly string[]).includes(method)) {
        throw new UsageError(`check: ${method} needs --${f}`, "check");
      }
    }
    return { method };
  }
  const spec = COMPONENT_FLAGS[flag];
  if (![...spec.call, ...spec.list].includes(method as never)) {
    throw new UsageError(
      `check: --${flag} goes with ${[...spec.call, ...spec.list].join(", ")}, not ${method}`,
      "check",
    );
  }
  return { method, flag, id: values[flag] as string };
}

function paramsFor(
  t: Target,
  args: Record<string, unknown> | undefined,
  raw: Record<string, unknown> | undefined,
): Record<string, unknown> {
  if (raw !== undefined) {
    if (t.flag !== undefined || args !== undefined) {
      throw new UsageError(
        "check: --params replaces --tool, --uri, --prompt and --args; give one or the other",
        "check",
      );
    }
    return raw;
  }
  if (args !== undefined && !["tools/call", "prompts/get"].includes(t.method)) {
    throw new UsageError("check: --args goes with tools/call and prompts/get", "check");
  }
  if (t.flag === undefined || t.id === undefined) return {};
  return { [COMPONENT_FLAGS[t.flag].field]: t.id, ...(args ? { arguments: args } : {}) };
}

/** The list item a list-phase check is about, as the server would list it. */
function listItem(t: Target, metadata: Record<string, unknown> | undefined) {
  const field =
    t.method === "resources/templates/list"
      ? "uriTemplate"
      : COMPONENT_FLAGS[t.flag ?? "tool"].field;
  return { ...metadata, [field]: t.id };
}

function subjectLine(s: Subject): string {
  const parts = [s.authenticated ? "authenticated" : "unauthenticated"];
  if (s.roles && s.roles.length > 0) parts.push(`roles: ${s.roles.join(", ")}`);
  if (s.tenant !== undefined) parts.push(`tenant: ${s.tenant}`);
  return `${s.id} (${parts.join("; ")})`;
}

function traceLine(t: RuleTrace): string {
  const where = t.policy !== undefined ? `${t.source}, policy ${t.policy}` : t.source;
  return `${t.matched ? "+" : "-"} ${t.rule} (${t.effect}, ${where})${t.matched ? ": matched" : t.because !== undefined ? `: ${t.because}` : ""}`;
}

function printHuman(
  io: CliIo,
  t: Target,
  request: AuthorizationRequest,
  decision: Decision,
  explanation: Explanation | undefined,
  pdpName: string,
  trace: boolean,
  metadataGiven: boolean,
): void {
  const out = io.stdout;
  const what = t.id !== undefined ? `${t.method} ${t.id}` : t.method;
  println(
    out,
    `${decision.allow ? "allow" : "deny"}  ${what}${request.operation.phase === "list" ? " (visible in the list?)" : ""}`,
  );
  println(out, `  subject   ${subjectLine(request.subject)}`);
  const key = request.resource.key !== undefined ? ` key ${request.resource.key}` : "";
  println(out, `  resource  ${request.resource.type}${key}, action ${request.action}`);
  if (explanation) {
    const deciding = explanation.considered.find((c) => c.rule === explanation.rule);
    println(
      out,
      `  rule      ${explanation.rule !== undefined ? `${explanation.rule}${deciding ? ` (${deciding.source})` : ""}` : "none matched (default deny)"}`,
    );
  } else {
    println(out, `  pdp       ${pdpName}`);
  }
  if (decision.reason !== undefined) println(out, `  reason    ${decision.reason}`);
  if (decision.source === "error") println(out, `  error     ${decision.errorCode ?? "PDP_ERROR"}`);
  if (decision.decisionId !== undefined) println(out, `  decision  ${decision.decisionId}`);
  if (
    !decision.allow &&
    !metadataGiven &&
    explanation?.considered.some((c) => c.because?.includes("operation.metadata") === true)
  ) {
    println(
      out,
      "  hint      a rule reads what the server declares (operation.metadata); give it with --metadata",
    );
  }
  if (trace && explanation) {
    println(out, "  considered");
    if (explanation.considered.length === 0)
      println(out, "    (no rule is about this resource type and action)");
    for (const c of explanation.considered) println(out, `    ${traceLine(c)}`);
  }
}

/** `mcp-pdp check ...`. */
export async function check(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand("check", args, OPTIONS, { positionals: true });
  if (values.help) {
    println(io.stdout, CHECK_HELP);
    return EXIT.ok;
  }
  if (positionals.length > 1) {
    throw new UsageError(
      `check: expected one method, got ${positionals.map((p) => JSON.stringify(p)).join(" ")}`,
      "check",
    );
  }
  if (values.server !== undefined && values["server-name"] !== undefined) {
    throw new UsageError("check: give --server-name once (--server is the same option)", "check");
  }
  const t = target(positionals[0], values);
  const callArgs = jsonObject("check", "--args", values.args);
  const rawParams = jsonObject("check", "--params", values.params);
  const metadata = jsonObject("check", "--metadata", values.metadata);
  if (metadata !== undefined && t.flag === undefined) {
    throw new UsageError(
      "check: --metadata describes a component: give --tool, --uri or --prompt",
      "check",
    );
  }
  const params = paramsFor(t, callArgs, rawParams);
  const attributes = keyValues("check", "--attr", values.attr);
  const base = fixedSubject(values, io.env);
  const subject: Subject = {
    ...base,
    ...(values.unauthenticated ? { authenticated: false } : {}),
    ...(attributes ? { attributes } : {}),
  };

  const chosen = await choosePdp("check", values, io.env, io.cwd);
  try {
    const mapping = await mappingFor(
      chosen.adapter,
      values["server-name"] ?? values.server,
      io.env,
    );
    const authorizer = new Authorizer({ pdp: chosen.pdp, mapping, audit: false });
    if (authorizer.isBypassed(t.method)) {
      if (values.json) {
        println(io.stdout, JSON.stringify({ allow: true, bypass: true, method: t.method }));
      } else {
        println(
          io.stdout,
          `allow  ${t.method} (bypassed: never checked; see MCP_PDP_BYPASSED_METHODS)`,
        );
      }
      return EXIT.ok;
    }
    const listPhase = t.flag !== undefined && isListMethod(t.method);
    let request: AuthorizationRequest;
    if (listPhase && isListMethod(t.method)) {
      const item = listItem(t, metadata);
      authorizer.components.remember(LIST_METHODS[t.method].component, [item]);
      const mapped = mapListItem(t.method, item, authorizer.mapping);
      if (!mapped) throw new UsageError(`check: ${t.method} item needs a name or URI`, "check");
      request = authorizer.requestFor(subject, mapped);
    } else {
      if (metadata !== undefined && t.flag !== undefined && t.id !== undefined) {
        const kind: ComponentKind = COMPONENT_FLAGS[t.flag].kind;
        authorizer.components.remember(kind, [
          { ...metadata, [COMPONENT_FLAGS[t.flag].field]: t.id },
        ]);
      }
      request = authorizer.buildRequest(t.method, params, subject);
    }
    const explanation = chosen.local?.explain(request);
    const decision = explanation?.decision ?? (await safeCheck(chosen.pdp, request));
    if (values.json) {
      println(
        io.stdout,
        JSON.stringify({
          allow: decision.allow,
          method: t.method,
          pdp: chosen.pdp.name,
          decision,
          ...(explanation?.rule !== undefined ? { rule: explanation.rule } : {}),
          ...(explanation?.policy !== undefined ? { policy: explanation.policy } : {}),
          request,
          ...(explanation ? { considered: explanation.considered } : {}),
        }),
      );
    } else {
      printHuman(
        io,
        t,
        request,
        decision,
        explanation,
        chosen.pdp.name,
        values.trace ?? false,
        metadata !== undefined,
      );
    }
    return decision.allow ? EXIT.ok : EXIT.denied;
  } finally {
    await chosen.pdp.close?.();
  }
}
