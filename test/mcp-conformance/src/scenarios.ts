/**
 * What the conformance scenarios require of a server, independent of the SDK that serves it: the
 * tools, resources and prompts they name and the exact content they check. The SDK 1.x and SDK v2
 * everything servers both serve this, so the two differ only where their SDKs do.
 */
import type {
  CallToolResult,
  ElicitRequestFormParams,
  GetPromptResult,
  ReadResourceResult,
  Tool,
} from "@modelcontextprotocol/sdk/types.js";

/** A 1x1 PNG. */
export const PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/** A WAV header with no samples: the scenario checks the MIME type and that data is present. */
export const WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=";

export const NO_ARGS = { type: "object", properties: {} } as const;

export const TOOLS: Tool[] = [
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

export const STATIC_RESOURCES = [
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

export const PROMPTS = [
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

export const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms);
  });

export const text = (value: string): CallToolResult => ({
  content: [{ type: "text", text: value }],
});

/** `undefined` for a URI no resource has: each server answers that with its SDK's -32602. */
export function readResource(uri: string): ReadResourceResult | undefined {
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
  return undefined;
}

/** `undefined` for an unknown prompt, which each server refuses with its SDK's error. */
export function getPrompt(
  name: string,
  args: Record<string, string | undefined>,
): GetPromptResult | undefined {
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
      return undefined;
  }
}

/** The tools whose answer depends on nothing but their name. */
export const FIXED_RESULTS: Record<string, CallToolResult> = {
  test_simple_text: text("This is a simple text response for testing."),
  test_image_content: { content: [{ type: "image", data: PNG, mimeType: "image/png" }] },
  test_audio_content: { content: [{ type: "audio", data: WAV, mimeType: "audio/wav" }] },
  test_embedded_resource: {
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
  },
  test_multiple_content_types: {
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
  },
  test_error_handling: {
    isError: true,
    content: [{ type: "text", text: "This tool intentionally returns an error for testing" }],
  },
};

export const LOG_MESSAGES = [
  "Tool execution started",
  "Tool processing data",
  "Tool execution completed",
] as const;

export const PROGRESS_STEPS = [0, 50, 100] as const;

/** The template the resources-templates scenarios read through. */
export const TEMPLATE = {
  uriTemplate: "test://template/{id}/data",
  name: "template-data",
  description: "Data for one id",
  mimeType: "application/json",
};

/** The values offered for any completion, filtered by what the client typed. */
export function complete(prefix: string): { values: string[]; total: number; hasMore: boolean } {
  const values = ["paris", "park", "party"].filter((v) => v.startsWith(prefix));
  return { values, total: values.length, hasMore: false };
}

/**
 * The form elicitations of the legacy (push-style) elicitation tools, and the prefix of the text
 * the tool answers with the client's answer.
 */
export function elicitation(
  tool: string,
  args: Record<string, unknown>,
): { params: ElicitRequestFormParams; prefix: string } | undefined {
  switch (tool) {
    case "test_elicitation":
      return {
        prefix: "User response: action=",
        params: {
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
      };
    case "test_elicitation_sep1034_defaults":
      return {
        prefix: "Elicitation completed: action=",
        params: {
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
      };
    case "test_elicitation_sep1330_enums":
      return {
        prefix: "Elicitation completed: action=",
        params: {
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
      };
    default:
      return undefined;
  }
}
