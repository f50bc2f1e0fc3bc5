/**
 * The server the conformance scenarios talk to. Each scenario names the tools, resources and prompts
 * it expects (its "Server Implementation Requirements"); the suite's own reference server is not
 * published, so this one is written from those requirements with the SDK's low-level `Server`,
 * which, unlike `McpServer`, sends a tool's JSON Schema exactly as written (the 2020-12 scenario
 * checks `$schema`, `$defs` and friends survive).
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  CallToolRequestSchema,
  type CallToolResult,
  CompleteRequestSchema,
  type ElicitRequestFormParams,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  type GetPromptResult,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type ReadResourceResult,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  type ServerNotification,
  type ServerRequest,
  type Tool,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

/** A 1x1 PNG. */
const PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/** A WAV header with no samples: the scenario checks the MIME type and that data is present. */
const WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=";

const NO_ARGS = { type: "object", properties: {} } as const;

const TOOLS: Tool[] = [
  { name: "test_simple_text", description: "Returns one text item", inputSchema: NO_ARGS },
  { name: "test_image_content", description: "Returns one PNG image", inputSchema: NO_ARGS },
  { name: "test_audio_content", description: "Returns one WAV clip", inputSchema: NO_ARGS },
  {
    name: "test_embedded_resource",
    description: "Returns an embedded resource",
    inputSchema: NO_ARGS,
  },
  {
    name: "test_multiple_content_types",
    description: "Returns text, image and resource",
    inputSchema: NO_ARGS,
  },
  {
    name: "test_tool_with_logging",
    description: "Logs three messages while it runs",
    inputSchema: NO_ARGS,
  },
  {
    name: "test_tool_with_progress",
    description: "Reports progress 0, 50, 100",
    inputSchema: NO_ARGS,
  },
  {
    name: "test_error_handling",
    description: "Always answers an isError result",
    inputSchema: NO_ARGS,
  },
  {
    name: "test_sampling",
    description: "Asks the client's model",
    inputSchema: {
      type: "object",
      properties: { prompt: { type: "string" } },
      required: ["prompt"],
    },
  },
  {
    name: "test_elicitation",
    description: "Asks the user",
    inputSchema: {
      type: "object",
      properties: { message: { type: "string" } },
      required: ["message"],
    },
  },
  {
    name: "test_elicitation_sep1034_defaults",
    description: "Elicits with defaults",
    inputSchema: NO_ARGS,
  },
  {
    name: "test_elicitation_sep1330_enums",
    description: "Elicits with every enum form",
    inputSchema: NO_ARGS,
  },
  {
    name: "test_reconnection",
    description: "Closes its SSE stream before answering",
    inputSchema: NO_ARGS,
  },
  {
    name: "json_schema_2020_12_tool",
    description: "Tool with JSON Schema 2020-12 features",
    inputSchema: {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      $defs: {
        address: {
          $anchor: "addressDef",
          type: "object",
          properties: { street: { type: "string" }, city: { type: "string" } },
        },
      },
      properties: {
        name: { type: "string" },
        address: { $ref: "#/$defs/address" },
        contactMethod: { type: "string", enum: ["phone", "email"] },
        phone: { type: "string" },
        email: { type: "string" },
      },
      allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
      if: { properties: { contactMethod: { const: "phone" } } },
      then: { required: ["phone"] },
      else: { required: ["email"] },
      additionalProperties: false,
    },
  },
];

const STATIC_RESOURCES = [
  {
    uri: "test://static-text",
    name: "static-text",
    description: "A text resource",
    mimeType: "text/plain",
  },
  {
    uri: "test://static-binary",
    name: "static-binary",
    description: "A PNG resource",
    mimeType: "image/png",
  },
  {
    uri: "test://watched-resource",
    name: "watched-resource",
    description: "Can be subscribed to",
    mimeType: "text/plain",
  },
];

const PROMPTS = [
  { name: "test_simple_prompt", description: "A prompt without arguments" },
  {
    name: "test_prompt_with_arguments",
    description: "A prompt with two arguments",
    arguments: [
      { name: "arg1", description: "First test argument", required: true },
      { name: "arg2", description: "Second test argument", required: true },
    ],
  },
  {
    name: "test_prompt_with_embedded_resource",
    description: "A prompt embedding a resource",
    arguments: [
      { name: "resourceUri", description: "URI of the resource to embed", required: true },
    ],
  },
  { name: "test_prompt_with_image", description: "A prompt with an image" },
];

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms);
  });

const text = (value: string): CallToolResult => ({ content: [{ type: "text", text: value }] });

function readResource(uri: string): ReadResourceResult {
  if (uri === "test://static-text") {
    return {
      contents: [
        { uri, mimeType: "text/plain", text: "This is the content of the static text resource." },
      ],
    };
  }
  if (uri === "test://static-binary")
    return { contents: [{ uri, mimeType: "image/png", blob: PNG }] };
  if (uri === "test://watched-resource")
    return { contents: [{ uri, mimeType: "text/plain", text: "watched" }] };
  const id = /^test:\/\/template\/([^/]+)\/data$/.exec(uri)?.[1];
  if (id !== undefined) {
    const data = JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` });
    return { contents: [{ uri, mimeType: "application/json", text: data }] };
  }
  // -32602 with the URI, as SEP-2164 asks, rather than an empty `contents`.
  throw new McpError(ErrorCode.InvalidParams, "Resource not found", { uri });
}

function getPrompt(name: string, args: Record<string, string>): GetPromptResult {
  switch (name) {
    case "test_simple_prompt":
      return {
        messages: [
          { role: "user", content: { type: "text", text: "This is a simple prompt for testing." } },
        ],
      };
    case "test_prompt_with_arguments":
      return {
        messages: [
          {
            role: "user",
            content: {
              type: "text",
              text: `Prompt with arguments: arg1='${args.arg1 ?? ""}', arg2='${args.arg2 ?? ""}'`,
            },
          },
        ],
      };
    case "test_prompt_with_embedded_resource":
      return {
        messages: [
          {
            role: "user",
            content: {
              type: "resource",
              resource: {
                uri: args.resourceUri ?? "test://embedded",
                mimeType: "text/plain",
                text: "Embedded resource content for testing.",
              },
            },
          },
          {
            role: "user",
            content: { type: "text", text: "Please process the embedded resource above." },
          },
        ],
      };
    case "test_prompt_with_image":
      return {
        messages: [
          { role: "user", content: { type: "image", data: PNG, mimeType: "image/png" } },
          { role: "user", content: { type: "text", text: "Please analyze the image above." } },
        ],
      };
    default:
      throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
  }
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Asks the client for input and answers with what came back, as the elicitation scenarios expect. */
async function elicit(
  extra: Extra,
  params: ElicitRequestFormParams,
  prefix: string,
): Promise<CallToolResult> {
  const answer = await extra.sendRequest(
    { method: "elicitation/create", params },
    ElicitResultSchema,
  );
  return text(`${prefix}${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
}

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
      const args = request.params.arguments ?? {};
      switch (request.params.name) {
        case "test_simple_text":
          return text("This is a simple text response for testing.");
        case "test_image_content":
          return { content: [{ type: "image", data: PNG, mimeType: "image/png" }] };
        case "test_audio_content":
          return { content: [{ type: "audio", data: WAV, mimeType: "audio/wav" }] };
        case "test_embedded_resource":
          return {
            content: [
              {
                type: "resource",
                resource: {
                  uri: "test://embedded-resource",
                  mimeType: "text/plain",
                  text: "This is an embedded resource content.",
                },
              },
            ],
          };
        case "test_multiple_content_types":
          return {
            content: [
              { type: "text", text: "Multiple content types test:" },
              { type: "image", data: PNG, mimeType: "image/png" },
              {
                type: "resource",
                resource: {
                  uri: "test://mixed-content-resource",
                  mimeType: "application/json",
                  text: JSON.stringify({ test: "data", value: 123 }),
                },
              },
            ],
          };
        case "test_tool_with_logging":
          for (const [i, message] of [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
          ].entries()) {
            if (i > 0) await sleep(50);
            await extra.sendNotification({
              method: "notifications/message",
              params: { level: "info", data: message },
            });
          }
          return text("Logging tool finished");
        case "test_tool_with_progress": {
          const token = request.params._meta?.progressToken;
          for (const [i, progress] of [0, 50, 100].entries()) {
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
        case "test_error_handling":
          return {
            isError: true,
            content: [
              { type: "text", text: "This tool intentionally returns an error for testing" },
            ],
          };
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
        case "test_elicitation": {
          return elicit(
            extra,
            {
              message: String(args.message),
              requestedSchema: {
                type: "object",
                properties: {
                  username: { type: "string", description: "User's response" },
                  email: { type: "string", description: "User's email address" },
                },
                required: ["username", "email"],
              },
            },
            "User response: action=",
          );
        }
        case "test_elicitation_sep1034_defaults": {
          return elicit(
            extra,
            {
              message: "Defaults for every primitive type",
              requestedSchema: {
                type: "object",
                properties: {
                  name: { type: "string", default: "John Doe" },
                  age: { type: "integer", default: 30 },
                  score: { type: "number", default: 95.5 },
                  status: {
                    type: "string",
                    enum: ["active", "inactive", "pending"],
                    default: "active",
                  },
                  verified: { type: "boolean", default: true },
                },
              },
            },
            "Elicitation completed: action=",
          );
        }
        case "test_elicitation_sep1330_enums": {
          return elicit(
            extra,
            {
              message: "Every enum form",
              requestedSchema: {
                type: "object",
                properties: {
                  untitledSingle: { type: "string", enum: ["option1", "option2", "option3"] },
                  titledSingle: {
                    type: "string",
                    oneOf: [
                      { const: "value1", title: "First Option" },
                      { const: "value2", title: "Second Option" },
                      { const: "value3", title: "Third Option" },
                    ],
                  },
                  legacyEnum: {
                    type: "string",
                    enum: ["opt1", "opt2", "opt3"],
                    enumNames: ["Option One", "Option Two", "Option Three"],
                  },
                  untitledMulti: {
                    type: "array",
                    items: { type: "string", enum: ["option1", "option2", "option3"] },
                  },
                  titledMulti: {
                    type: "array",
                    items: {
                      anyOf: [
                        { const: "value1", title: "First Choice" },
                        { const: "value2", title: "Second Choice" },
                        { const: "value3", title: "Third Choice" },
                      ],
                    },
                  },
                },
              },
            },
            "Elicitation completed: action=",
          );
        }
        case "test_reconnection":
          // Closing the stream makes the client reconnect with Last-Event-ID; the answer is
          // replayed from the host's event store (SEP-1699 polling).
          extra.closeSSEStream?.();
          await sleep(200);
          return text("Reconnection test completed successfully");
        default:
          throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
      }
    },
  );

  server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: STATIC_RESOURCES }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [
      {
        uriTemplate: "test://template/{id}/data",
        name: "template-data",
        description: "Data for one id",
        mimeType: "application/json",
      },
    ],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, (request) =>
    readResource(request.params.uri),
  );
  server.setRequestHandler(SubscribeRequestSchema, () => ({}));
  server.setRequestHandler(UnsubscribeRequestSchema, () => ({}));

  server.setRequestHandler(ListPromptsRequestSchema, () => ({ prompts: PROMPTS }));
  server.setRequestHandler(GetPromptRequestSchema, (request) =>
    getPrompt(request.params.name, request.params.arguments ?? {}),
  );

  server.setRequestHandler(CompleteRequestSchema, (request) => {
    const prefix = request.params.argument.value;
    const values = ["paris", "park", "party"].filter((v) => v.startsWith(prefix));
    return { completion: { values, total: values.length, hasMore: false } };
  });
  server.setRequestHandler(SetLevelRequestSchema, () => ({}));

  return server;
}
