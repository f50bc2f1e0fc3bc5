import { Authorizer, type RequestContext } from "@mcp-pdp/core";
import { type AuthorizeOptions, withEnvironment } from "./authorize.js";
import { UNAUTHORIZED_CODE, clientReason, headerMap } from "./guard.js";

/** The per-request options of SDK v2's `handler.fetch` that the guard reads. */
interface FetchOptions {
  readonly authInfo?: NonNullable<RequestContext["authInfo"]> | undefined;
  readonly parsedBody?: unknown;
}

/** A fetch-shaped MCP handler: SDK v2's `createMcpHandler(...).fetch`. */
export type McpFetch<Options extends FetchOptions = FetchOptions> = (
  request: Request,
  options?: Options,
) => Promise<Response>;

/**
 * Request bodies read at most, in bytes: a larger one is refused with 413 rather than passed on
 * undecided (the handler's own limit may be higher).
 */
const MAX_BODY = 4 * 1024 * 1024;

/**
 * The body of `request` as text, or undefined when it is larger than {@link MAX_BODY} bytes: read
 * no further than that, so a huge body is never held whole. It reads the request itself, not a
 * clone: a clone's tee would keep everything read in the other branch.
 */
async function boundedText(request: Request): Promise<string | undefined> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY) return undefined;
  const stream = request.body;
  if (stream === null) return "";
  const reader = (stream as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY) {
      reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Decides each `subscriptions/listen` before SDK v2's `createMcpHandler` serves it. That entry
 * answers a listen itself, from a change-event bus, without handing it to the server the factory
 * made, so the guard `authorizeFactory` puts on that server never sees it. Wrap the handler's
 * `fetch` with this: a listen is decided as a guarded transport decides it (the default mapping
 * names every resource it subscribes to) and, when denied, answered with `-32010 Unauthorized`
 * before the handler opens any stream; every other request goes to the handler unchanged (and is
 * decided by the server's own guard). The options are read from the environment once, here.
 */
export function guardListen<Options extends FetchOptions>(
  fetch: McpFetch<Options>,
  options: AuthorizeOptions,
): McpFetch<Options> {
  const resolved = withEnvironment(options);
  const authorizer = new Authorizer(resolved);
  const exposeReasons = resolved.exposeReasons ?? false;
  return async function guardedFetch(request: Request, given?: Options): Promise<Response> {
    if (request.method !== "POST") return fetch(request, given);
    let body = given?.parsedBody;
    if (body === undefined) {
      const text = await boundedText(request);
      if (text === undefined) return new Response(null, { status: 413 });
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: the handler refuses it, and nothing is served. The body was read here, so the
        // handler gets a request that carries it again.
        const { method, headers } = request;
        return fetch(new Request(request.url, { method, headers, body: text }), given);
      }
      // Parsed once: the handler takes it as read instead of reading the body again.
      given = { ...given, parsedBody: body } as Options;
    }
    const headers = headerMap(request.headers);
    const authInfo = given?.authInfo;
    const context: RequestContext =
      authInfo !== undefined
        ? { transport: "http", headers, authInfo }
        : { transport: "http", headers };
    for (const message of Array.isArray(body) ? (body as unknown[]) : [body]) {
      if (typeof message !== "object" || message === null) continue;
      const { method, id, params } = message as {
        method?: unknown;
        id?: unknown;
        params?: unknown;
      };
      if (method !== "subscriptions/listen") continue;
      const outcome = await authorizer.authorize(method, params, context);
      if (outcome.kind === "bypass" || outcome.decision.allow) continue;
      const decision = outcome.decision;
      return Response.json({
        jsonrpc: "2.0",
        id: typeof id === "string" || typeof id === "number" ? id : null,
        error: {
          code: UNAUTHORIZED_CODE,
          message: "Unauthorized",
          data: {
            reason: clientReason(decision, exposeReasons),
            ...(decision.decisionId !== undefined ? { decisionId: decision.decisionId } : {}),
          },
        },
      });
    }
    return fetch(request, given);
  };
}
