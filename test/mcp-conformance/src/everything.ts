/**
 * The SDK 1.x everything server, serving the scenarios' requirements (./scenarios.ts) with the
 * SDK's low-level `Server`, which, unlike `McpServer`, sends a tool's JSON Schema exactly as written
 * (the 2020-12 scenario checks `$schema`, `$defs` and friends survive).
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  type CallToolResult,
  CompleteRequestSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import {
  complete,
  elicitation,
  FIXED_RESULTS,
  getPrompt,
  LOG_MESSAGES,
  PROGRESS_STEPS,
  PROMPTS,
  readResource,
  sleep,
  STATIC_RESOURCES,
  TEMPLATE,
  text,
  TOOLS,
} from "./scenarios.ts";

/** One server; the HTTP host makes one per session (and one per stateless request). */
export function createEverythingServer(): Server {
  const server = new Server(
    { name: "mcp-pdp-conformance-everything", version: "1.0.0" },
    {
      capabilities: {
        tools: {},
        resources: { subscribe: true },
        prompts: {},
        logging: {},
        completions: {},
      },
    },
  );

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: TOOLS }));
  server.setRequestHandler(
    CallToolRequestSchema,
    async (request, extra): Promise<CallToolResult> => {
      const { name } = request.params;
      const args = request.params.arguments ?? {};
      const fixed = FIXED_RESULTS[name];
      if (fixed) return fixed;
      const elicit = elicitation(name, args);
      if (elicit) {
        const answer = await extra.sendRequest(
          { method: "elicitation/create", params: elicit.params },
          ElicitResultSchema,
        );
        return text(
          `${elicit.prefix}${answer.action}, content=${JSON.stringify(answer.content ?? {})}`,
        );
      }
      switch (name) {
        case "test_tool_with_logging":
          for (const [i, message] of LOG_MESSAGES.entries()) {
            if (i > 0) await sleep(50);
            await extra.sendNotification({
              method: "notifications/message",
              params: { level: "info", data: message },
            });
          }
          return text("Logging tool finished");
        case "test_tool_with_progress": {
          const token = request.params._meta?.progressToken;
          for (const [i, progress] of PROGRESS_STEPS.entries()) {
            if (i > 0) await sleep(50);
            if (token !== undefined) {
              await extra.sendNotification({
                method: "notifications/progress",
                params: { progressToken: token, progress, total: 100 },
              });
            }
          }
          return text("Progress tool finished");
        }
        case "test_sampling": {
          const answer = await server.createMessage(
            {
              messages: [{ role: "user", content: { type: "text", text: String(args.prompt) } }],
              maxTokens: 100,
            },
            { signal: extra.signal },
          );
          return text(
            `LLM response: ${answer.content.type === "text" ? answer.content.text : answer.content.type}`,
          );
        }
        case "test_reconnection":
          // Closing the stream makes the client reconnect with Last-Event-ID; the answer is
          // replayed from the host's event store (SEP-1699 polling).
          extra.closeSSEStream?.();
          await sleep(200);
          return text("Reconnection test completed successfully");
        default:
          throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
      }
    },
  );

  server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: STATIC_RESOURCES }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [TEMPLATE],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, (request) => {
    const { uri } = request.params;
    const result = readResource(uri);
    // -32602 with the URI, as SEP-2164 asks, rather than an empty `contents`.
    if (!result) throw new McpError(ErrorCode.InvalidParams, "Resource not found", { uri });
    return result;
  });
  server.setRequestHandler(SubscribeRequestSchema, () => ({}));
  server.setRequestHandler(UnsubscribeRequestSchema, () => ({}));

  server.setRequestHandler(ListPromptsRequestSchema, () => ({ prompts: PROMPTS }));
  server.setRequestHandler(GetPromptRequestSchema, (request) => {
    const { name } = request.params;
    const result = getPrompt(name, request.params.arguments ?? {});
    if (!result) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
    return result;
  });

  server.setRequestHandler(CompleteRequestSchema, (request) => ({
    completion: complete(request.params.argument.value),
  }));
  server.setRequestHandler(SetLevelRequestSchema, () => ({}));

  return server;
}
