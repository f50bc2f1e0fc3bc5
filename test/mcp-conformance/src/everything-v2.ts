/**
 * The SDK v2 everything server (`@modelcontextprotocol/server`), serving the scenarios'
 * requirements (./scenarios.ts) in both eras, plus what only the 2026-07-28 scenarios ask for:
 * multi-round-trip tools and a prompt that answer `input_required`, an integrity-protected
 * `requestState`, capability checks against the per-request `_meta`, and hooks that change the
 * tool and prompt lists. An `McpServer`, so that a user's guarded server is what is tested and the
 * SDK checks `Mcp-Param-*` headers against the tools' `x-mcp-header` declarations (it does for
 * `McpServer` tools only); its low-level server serves the rest of the scenarios' data as written.
 */
import { randomBytes } from "node:crypto";
import {
  type CallToolResult,
  CLIENT_CAPABILITIES_META_KEY,
  type ClientCapabilities,
  createRequestStateCodec,
  type GetPromptResult,
  type InputRequests,
  inputRequired,
  inputResponse,
  ProtocolError,
  ProtocolErrorCode,
  fromJsonSchema,
  McpServer,
  type ServerContext,
  SUPPORTED_PROTOCOL_VERSIONS,
  type Tool,
} from "@modelcontextprotocol/server";
import {
  complete,
  elicitation,
  FIXED_RESULTS,
  getPrompt,
  LOG_MESSAGES,
  NO_ARGS,
  PROGRESS_STEPS,
  PROMPTS,
  readResource,
  sleep,
  STATIC_RESOURCES,
  TEMPLATE,
  text,
  TOOLS,
} from "./scenarios.ts";

const MODERN = "2026-07-28";

/** What the list-changing tools poke: the serving entry's listen streams. */
export interface ListChanges {
  toolsChanged(): void;
  promptsChanged(): void;
}

const MODERN_TOOLS: Tool[] = [
  ...[
    "test_input_required_result_elicitation",
    "test_input_required_result_sampling",
    "test_input_required_result_list_roots",
    "test_input_required_result_request_state",
    "test_input_required_result_multiple_inputs",
    "test_input_required_result_multi_round",
    "test_input_required_result_tampered_state",
    "test_input_required_result_capabilities",
    "test_missing_capability",
    "test_streaming_elicitation",
    "test_logging_tool",
    "test_trigger_tool_change",
    "test_trigger_prompt_change",
  ].map((name) => ({ name, description: `Scenario tool ${name}`, inputSchema: NO_ARGS })),
  {
    // A parameter the client mirrors into an `Mcp-Param-Region` header (SEP-2243), which the
    // server must check against the body.
    name: "test_param_header",
    description: "Echoes a region that also travels as a header",
    inputSchema: {
      type: "object",
      properties: { region: { type: "string", "x-mcp-header": "Region" } },
      required: ["region"],
    },
  },
];

const INPUT_PROMPT = {
  name: "test_input_required_result_prompt",
  description: "A prompt that asks the user for context first",
};

/** One required form field, the shape every multi-round-trip scenario asks. */
function ask(message: string, field: string, type: "string" | "boolean" = "string") {
  const schema = type === "string" ? { type: "string" as const } : { type: "boolean" as const };
  return inputRequired.elicit({
    message,
    requestedSchema: { type: "object", properties: { [field]: schema }, required: [field] },
  });
}

const QUESTIONS = {
  user_name: () => ask("What is your name?", "name"),
  confirm: () => ask("Please confirm", "ok", "boolean"),
  step1: () => ask("Step 1: What is your name?", "name"),
  step2: () => ask("Step 2: What is your favorite color?", "color"),
  user_context: () => ask("What context should the prompt use?", "context"),
  capital_question: () =>
    inputRequired.createMessage({
      messages: [
        { role: "user", content: { type: "text", text: "What is the capital of France?" } },
      ],
      maxTokens: 100,
    }),
  greeting: () =>
    inputRequired.createMessage({
      messages: [{ role: "user", content: { type: "text", text: "Generate a greeting" } }],
      maxTokens: 50,
    }),
  client_roots: () => inputRequired.listRoots(),
};
type Question = keyof typeof QUESTIONS;

/** Which client capability each embedded request needs. */
const NEEDS: Record<Question, keyof ClientCapabilities> = {
  user_name: "elicitation",
  confirm: "elicitation",
  step1: "elicitation",
  step2: "elicitation",
  user_context: "elicitation",
  capital_question: "sampling",
  greeting: "sampling",
  client_roots: "roots",
};

/** The client's capabilities as this request declared them (2026-07-28 per-request `_meta`). */
function declared(ctx: ServerContext): ClientCapabilities {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  return envelope?.[CLIENT_CAPABILITIES_META_KEY] ?? {};
}

/** A readable rendering of one answered input request, for the tool's text. */
function answerOf(ctx: ServerContext, key: Question): string | undefined {
  const view = inputResponse(ctx.mcpReq.inputResponses, key);
  switch (view.kind) {
    case "elicit":
      return view.action === "accept" ? Object.values(view.content ?? {}).join(", ") : view.action;
    case "sampling": {
      const content = [view.result.content].flat()[0];
      return content?.type === "text" ? content.text : "(non-text)";
    }
    case "roots":
      return view.roots.map((r) => r.uri).join(", ");
    case "missing":
      return undefined;
  }
}

/**
 * The multi-round-trip flows: the questions of each round, whether the round travels in a sealed
 * `requestState` (without one, every call is round one), and the text once the last is answered.
 */
interface Flow {
  rounds: readonly (readonly Question[])[];
  sealed?: boolean;
  done: (answers: string[]) => string;
}

const FLOWS: Record<string, (ctx: ServerContext) => Flow> = {
  test_input_required_result_elicitation: () => ({
    rounds: [["user_name"]],
    done: ([name]) => `Hello, ${name ?? ""}!`,
  }),
  test_streaming_elicitation: () => ({
    rounds: [["user_name"]],
    done: ([name]) => `Hello, ${name ?? ""}!`,
  }),
  test_input_required_result_sampling: () => ({
    rounds: [["capital_question"]],
    done: ([answer]) => `Sampling answered: ${answer ?? ""}`,
  }),
  test_input_required_result_list_roots: () => ({
    rounds: [["client_roots"]],
    done: ([roots]) => `Client roots: ${roots ?? ""}`,
  }),
  test_input_required_result_request_state: () => ({
    rounds: [["confirm"]],
    sealed: true,
    done: ([ok]) => `state-ok, confirmed: ${ok ?? ""}`,
  }),
  test_input_required_result_tampered_state: () => ({
    rounds: [["confirm"]],
    sealed: true,
    done: ([ok]) => `state-ok, confirmed: ${ok ?? ""}`,
  }),
  test_input_required_result_multiple_inputs: () => ({
    rounds: [["user_name", "greeting", "client_roots"]],
    sealed: true,
    done: (answers) => `All inputs received: ${answers.join(" | ")}`,
  }),
  test_input_required_result_multi_round: () => ({
    rounds: [["step1"], ["step2"]],
    sealed: true,
    done: ([color]) => `Multi-round complete: favorite color ${color ?? ""}`,
  }),
  // Needs the client's model, asked for in-band: the SDK refuses the call with -32021 (HTTP 400)
  // when the request's client did not declare sampling.
  test_missing_capability: () => ({
    rounds: [["capital_question"]],
    done: ([answer]) => `Sampling answered: ${answer ?? ""}`,
  }),
  test_input_required_result_capabilities: (ctx) => ({
    // Only what this request's client declared: anything more could never be answered.
    rounds: [
      (["user_name", "capital_question", "client_roots"] as const).filter(
        (q) => declared(ctx)[NEEDS[q]] !== undefined,
      ),
    ],
    done: (answers) => `Inputs received: ${answers.join(" | ")}`,
  }),
};

export function createEverythingServerV2(changes: ListChanges): McpServer {
  // One key for every instance: each round of a flow reaches a new server (one per request).
  const codec = createRequestStateCodec<{ tool: string; round: number }>({ key: STATE_KEY });
  const mcp = new McpServer(
    { name: "mcp-pdp-conformance-everything-v2", version: "1.0.0" },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
      supportedProtocolVersions: [MODERN, ...SUPPORTED_PROTOCOL_VERSIONS],
      requestState: { verify: codec.verify },
    },
  );

  /** Runs one round of a flow: asks what is still unanswered, opens the next round, or completes. */
  async function runFlow(name: string, flow: Flow, ctx: ServerContext) {
    // Already verified by the codec: a forged or expired state never reaches the handler.
    const state = ctx.mcpReq.requestState<{ tool: string; round: number }>();
    if (state !== undefined && state.tool !== name)
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, "requestState of another request");
    const round = state?.round ?? 0;
    const asked = flow.rounds[round] ?? [];
    const answers = asked.map((q) => answerOf(ctx, q));
    const missing = asked.filter((_, i) => answers[i] === undefined);
    const ask = async (questions: readonly Question[], at: number) =>
      inputRequired({
        inputRequests: requests(questions),
        ...(flow.sealed ? { requestState: await codec.mint({ tool: name, round: at }) } : {}),
      });
    if (missing.length > 0) return ask(missing, round);
    const next = flow.rounds[round + 1];
    if (next) return ask(next, round + 1);
    return text(flow.done(answers.filter((a) => a !== undefined))) as CallToolResult;
  }

  async function callTool(name: string, args: Record<string, unknown>, ctx: ServerContext) {
    const fixed = FIXED_RESULTS[name];
    if (fixed) return fixed;
    const flow = FLOWS[name];
    if (flow) return runFlow(name, flow(ctx), ctx);
    const elicit = elicitation(name, args);
    if (elicit) {
      // Push-style, as the legacy scenarios expect: the SDK refuses it on a 2026-07-28 request.
      const answer = await ctx.mcpReq.elicitInput(elicit.params);
      return text(
        `${elicit.prefix}${answer.action}, content=${JSON.stringify(answer.content ?? {})}`,
      );
    }
    switch (name) {
      case "test_tool_with_logging":
      case "test_logging_tool":
        for (const [i, message] of LOG_MESSAGES.entries()) {
          if (i > 0) await sleep(50);
          await ctx.mcpReq.log("info", message);
        }
        return text("Logging tool finished");
      case "test_tool_with_progress": {
        const token = ctx.mcpReq._meta?.progressToken;
        for (const [i, progress] of PROGRESS_STEPS.entries()) {
          if (i > 0) await sleep(50);
          if (token !== undefined) {
            await ctx.mcpReq.notify({
              method: "notifications/progress",
              params: { progressToken: token, progress, total: 100 },
            });
          }
        }
        return text("Progress tool finished");
      }
      case "test_sampling": {
        // Behind the stateless legacy fallback the client's answer reaches another server
        // instance and never this one: fail in a second rather than the runner's thirty.
        const answer = await ctx.mcpReq.requestSampling(
          {
            messages: [{ role: "user", content: { type: "text", text: String(args.prompt) } }],
            maxTokens: 100,
          },
          { timeout: 1000 },
        );
        const content = Array.isArray(answer.content) ? answer.content[0] : answer.content;
        return text(
          `LLM response: ${content?.type === "text" ? content.text : String(content?.type)}`,
        );
      }
      case "test_param_header":
        return text(`Region: ${String(args.region)}`);
      case "test_trigger_tool_change":
        changes.toolsChanged();
        return text("Tool list changed");
      case "test_trigger_prompt_change":
        changes.promptsChanged();
        return text("Prompt list changed");
      case "test_reconnection":
        ctx.http?.closeSSE?.();
        await sleep(200);
        return text("Reconnection test completed successfully");
      default:
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${name}`);
    }
  }

  // Tools through `McpServer`, which checks a call's `Mcp-Param-*` headers against the tool's
  // `x-mcp-header` declarations (SEP-2243); the schemas are JSON Schema as written, which v2
  // types more narrowly than 1.x.
  for (const tool of [...(TOOLS as Tool[]), ...MODERN_TOOLS]) {
    mcp.registerTool(
      tool.name,
      {
        description: tool.description ?? tool.name,
        inputSchema: fromJsonSchema(tool.inputSchema as Parameters<typeof fromJsonSchema>[0]),
      },
      (args, ctx) => callTool(tool.name, args as Record<string, unknown>, ctx),
    );
  }
  // The rest through the low-level server, which serves the scenarios' data as it is.
  const server = mcp.server;

  server.setRequestHandler("resources/list", () => ({ resources: STATIC_RESOURCES }));
  server.setRequestHandler("resources/templates/list", () => ({ resourceTemplates: [TEMPLATE] }));
  server.setRequestHandler("resources/read", (request) => {
    const { uri } = request.params;
    const result = readResource(uri);
    if (!result)
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, "Resource not found", { uri });
    return result;
  });
  server.setRequestHandler("resources/subscribe", () => ({}));
  server.setRequestHandler("resources/unsubscribe", () => ({}));

  server.setRequestHandler("prompts/list", () => ({ prompts: [...PROMPTS, INPUT_PROMPT] }));
  server.setRequestHandler("prompts/get", async (request, ctx) => {
    const { name } = request.params;
    if (name === INPUT_PROMPT.name) {
      const context = answerOf(ctx, "user_context");
      if (context === undefined)
        return inputRequired({ inputRequests: requests(["user_context"]) });
      const result: GetPromptResult = {
        messages: [
          { role: "user", content: { type: "text", text: `Use this context: ${context}` } },
        ],
      };
      return result;
    }
    const result = getPrompt(name, request.params.arguments ?? {});
    if (!result)
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown prompt: ${name}`);
    return Promise.resolve(result);
  });

  server.setRequestHandler("completion/complete", (request) => ({
    completion: complete(request.params.argument.value),
  }));

  return mcp;
}

function requests(questions: readonly Question[]): InputRequests {
  return Object.fromEntries(questions.map((q) => [q, QUESTIONS[q]()]));
}

/** The HMAC key sealing `requestState`; per process, since one process serves every round. */
const STATE_KEY = randomBytes(32);
