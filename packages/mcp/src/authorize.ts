import {
  Authorizer,
  type ComponentKind,
  type ComponentMetadata,
  ConfigError,
  type Env,
  auditFromEnv,
  identityFromEnv,
  mappingFromEnv,
  metadataOf,
  readMcpPdpEnv,
  sealedCopy,
} from "@mcp-pdp/core";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { type GuardOptions, GuardedTransport } from "./guard.js";
import { TaskBindings } from "./tasks.js";
import { type SdkUriTemplate, matchesTemplate } from "./template-match.js";

/** The part of the SDK's low-level `Server` (a `Protocol`) that the guard patches. */
interface Connectable {
  connect(transport: Transport): Promise<void>;
  readonly transport?: Transport | undefined;
}

/** The part of `McpServer` read to learn the components it registered. */
interface McpServerLike {
  readonly server: Connectable;
}

function isMcpServer(value: unknown): value is McpServerLike {
  const inner = (value as { server?: unknown }).server;
  return (
    typeof inner === "object" &&
    inner !== null &&
    typeof (inner as Connectable).connect === "function"
  );
}

/**
 * Reads the metadata of a component an `McpServer` registered, so a call can be decided on the
 * server's own declaration even before any list was sent. The registrations are private fields of
 * the SDK's `McpServer`; if they are absent (another SDK line) this simply finds nothing.
 */
function registeredMetadata(
  server: object,
  kind: ComponentKind,
  id: string,
): ComponentMetadata | undefined {
  const table = (server as Record<string, unknown>)[REGISTRY_FIELDS[kind]];
  if (typeof table !== "object" || table === null) return undefined;
  const entries = table as Record<string, Record<string, unknown> | undefined>;
  const entry = Object.hasOwn(entries, id) ? entries[id] : undefined;
  if (!entry) {
    // A concrete URI read through a template takes the template's declaration.
    return kind === "resource" ? templateMetadata(server, id) : undefined;
  }
  return entryMetadata(entry);
}

const REGISTRY_FIELDS: Record<ComponentKind, string> = {
  tool: "_registeredTools",
  prompt: "_registeredPrompts",
  resource: "_registeredResources",
  resource_template: "_registeredResourceTemplates",
};

interface Memo {
  readonly title: unknown;
  readonly description: unknown;
  readonly annotations: unknown;
  readonly meta: unknown;
  readonly nested: unknown;
  readonly metadata: ComponentMetadata | undefined;
}
const memos = new WeakMap<object, Memo>();

/**
 * The metadata of one registration, recomputed only when the fields it is read from change (the
 * SDK's `update()` mutates the registration in place), so a call does not rebuild it every time.
 */
function entryMetadata(entry: Record<string, unknown>): ComponentMetadata | undefined {
  const memo = memos.get(entry);
  if (
    memo !== undefined &&
    memo.title === entry.title &&
    memo.description === entry.description &&
    memo.annotations === entry.annotations &&
    memo.meta === entry._meta &&
    memo.nested === entry.metadata
  ) {
    return memo.metadata;
  }
  // Resources keep title/description/_meta inside `metadata`.
  const merged =
    typeof entry.metadata === "object" && entry.metadata !== null
      ? { ...entry, ...entry.metadata }
      : entry;
  const read = metadataOf(merged);
  // A sealed copy: the registration's own objects stay the server's, and the cache can reuse what
  // it derived from this one as long as the registration does not change.
  const metadata = read && (sealedCopy(read) ?? read);
  memos.set(entry, {
    title: entry.title,
    description: entry.description,
    annotations: entry.annotations,
    meta: entry._meta,
    nested: entry.metadata,
    metadata,
  });
  return metadata;
}

/**
 * The declaration of the first registered template `uri` matches: the SDK routes a read to the
 * first match in registration order, so that template's metadata is what applies. Matched in
 * linear time (see template-match.ts): this runs before the read is decided, for any caller.
 * An `UndecidableTemplateMatch` is let through on purpose: the guard then refuses the read
 * rather than deciding it without the metadata its template may carry.
 */
function templateMetadata(server: object, uri: string): ComponentMetadata | undefined {
  const templates = (server as Record<string, unknown>)._registeredResourceTemplates;
  if (typeof templates !== "object" || templates === null) return undefined;
  for (const entry of Object.values(templates as Record<string, Record<string, unknown>>)) {
    const template = (entry.resourceTemplate as { uriTemplate?: SdkUriTemplate } | undefined)
      ?.uriTemplate;
    if (typeof template?.match !== "function") continue;
    if (matchesTemplate(template, uri)) return entryMetadata(entry);
  }
  return undefined;
}

/** Options of {@link authorize}. */
export interface AuthorizeOptions extends GuardOptions {
  /**
   * Where every option not given in code is read from: `MCP_PDP_IDENTITY*` and `MCP_PDP_JWT_*`
   * (identity), `MCP_SERVER_NAME`, `MCP_PDP_BYPASSED_METHODS`, `MCP_PDP_TOOL_NAMES`,
   * `MCP_PDP_FLATTEN_ARGUMENTS`, `MCP_PDP_ARGUMENT_PREFIX`, `MCP_PDP_MAX_NAME_LENGTH` and
   * `MCP_PDP_MAX_URI_LENGTH` (mapping, field by field),
   * `MCP_PDP_AUDIT`, `MCP_PDP_DENY_MODE` and `MCP_PDP_EXPOSE_REASONS`. The PDP is always given in
   * code (`localFromEnv()`, `opaFromEnv()`, ... read their own variables).
   * @defaultValue `process.env`
   */
  readonly env?: Env;
}

/**
 * The guard options with every one not given in code taken from the environment, so a server can
 * be configured by its environment alone. A bad value throws a {@link ConfigError} naming the
 * variable, so the server fails at start-up rather than deciding with a default.
 */
export function withEnvironment(options: AuthorizeOptions): GuardOptions {
  const { env = process.env, ...given } = options;
  const e = readMcpPdpEnv(env);
  const denyMode = given.denyMode ?? e.MCP_PDP_DENY_MODE;
  const exposeReasons = given.exposeReasons ?? e.MCP_PDP_EXPOSE_REASONS;
  return {
    ...given,
    identity: given.identity ?? identityFromEnv(env),
    mapping: { ...mappingFromEnv(env), ...given.mapping },
    audit: given.audit ?? auditFromEnv(env),
    ...(denyMode !== undefined ? { denyMode } : {}),
    ...(exposeReasons !== undefined ? { exposeReasons } : {}),
  };
}

/**
 * Secures a server built on `@modelcontextprotocol/sdk` (an `McpServer` or a low-level `Server`):
 * every transport it connects to from now on is guarded, whatever the order of tool registration.
 * Call it before `connect()`. Every option not given in code comes from the environment (see
 * {@link AuthorizeOptions.env}); options in code win. Returns the {@link Authorizer}, shared by all
 * the server's transports (call its `close()` on shutdown to flush the audit sink; close the PDP
 * yourself).
 */
export function authorize(server: object, options: AuthorizeOptions): Authorizer {
  const target: Connectable = isMcpServer(server) ? server.server : (server as Connectable);
  if (typeof target.connect !== "function") {
    throw new ConfigError(
      "authorize(): expected an McpServer or a Server from @modelcontextprotocol/sdk",
    );
  }
  if (target.transport !== undefined) {
    throw new ConfigError(
      "authorize(): the server is already connected; call authorize() before connect()",
    );
  }
  if ((target as { [GUARDED]?: true })[GUARDED]) {
    throw new ConfigError("authorize(): this server is already authorized");
  }
  // One task store for all the server's transports, so a task created over one connection (an
  // HTTP session) is its creator's on the next.
  const guard = { ...withEnvironment(options), tasks: options.tasks ?? new TaskBindings() };
  const authorizer = new Authorizer(guard);
  const handles = handlerLookup(target);
  if (isMcpServer(server)) {
    authorizer.components.setFallback((kind, id) => registeredMetadata(server, kind, id));
  }
  const connect = target.connect.bind(target);
  Object.defineProperty(target, GUARDED, { value: true });
  // A transport guarded by this server's own authorizer is kept; any other is guarded again, so
  // a transport wrapped elsewhere (with another policy) can't stand in for this server's.
  target.connect = (transport: Transport) =>
    connect(
      transport instanceof GuardedTransport && transport.authorizer === authorizer
        ? transport
        : new GuardedTransport(
            transport,
            authorizer,
            handles !== undefined ? { ...guard, handles } : guard,
          ),
    );
  return authorizer;
}

/**
 * Whether the server has a handler for a request method, read from the SDK's request handler map
 * (the same in 1.x and v2; a fallback handler takes every method), or undefined when the server
 * keeps no such map.
 */
function handlerLookup(server: object): ((method: string) => boolean) | undefined {
  const handlers = (server as { _requestHandlers?: unknown })._requestHandlers;
  if (!(handlers instanceof Map)) return undefined;
  return (method) =>
    handlers.has(method) ||
    typeof (server as { fallbackRequestHandler?: unknown }).fallbackRequestHandler === "function";
}

const GUARDED = Symbol.for("mcp-pdp.authorized");
