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

/** Characters of one server-sent event held at most while waiting for the blank line ending it. */
const MAX_EVENT = 4 * 1024 * 1024;

/** The notification whose resource is decided again, for the listen's caller, as it leaves. */
const RESOURCE_UPDATED = "notifications/resources/updated";

/**
 * Whether one server-sent event of a listen's stream goes on: a `notifications/resources/updated`
 * only if `readable` says its URI may be read now (one without a URI never); any other event
 * (the acknowledgement, list changes, keep-alive comments, the closing result) as it is.
 */
async function keepEvent(
  event: string,
  readable: (uri: string) => Promise<boolean>,
): Promise<boolean> {
  const data: string[] = [];
  for (const line of event.split("\n")) {
    if (line.startsWith("data:")) data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
  }
  if (data.length === 0) return true;
  let message: unknown;
  try {
    message = JSON.parse(data.join("\n"));
  } catch {
    return true; // not a message: the client refuses it, and it names no resource
  }
  if ((message as { method?: unknown } | null)?.method !== RESOURCE_UPDATED) return true;
  const uri = (message as { params?: { uri?: unknown } }).params?.uri;
  return typeof uri === "string" && (await readable(uri));
}

/**
 * A listen's SSE stream with each resource update decided again as it passes (see
 * {@link keepEvent}), in order. An event longer than {@link MAX_EVENT} ends the stream with an
 * error rather than being held whole.
 */
function decidedUpdates(
  body: ReadableStream<Uint8Array>,
  readable: (uri: string) => Promise<boolean>,
): ReadableStream<Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = "";
  async function drain(
    controller: TransformStreamDefaultController<Uint8Array>,
    last: boolean,
  ): Promise<void> {
    // Lines may end in CRLF, LF or CR; a CR at the very end may be the first half of a CRLF.
    const held = !last && pending.endsWith("\r") ? "\r" : "";
    let text = (held ? pending.slice(0, -1) : pending).replace(/\r\n?/g, "\n");
    for (let end = text.indexOf("\n\n"); end !== -1; end = text.indexOf("\n\n")) {
      const event = text.slice(0, end);
      text = text.slice(end + 2);
      if (await keepEvent(event, readable)) controller.enqueue(encoder.encode(`${event}\n\n`));
    }
    pending = text + held;
    if (pending.length > MAX_EVENT) {
      throw new Error(`guardListen: a server-sent event over ${MAX_EVENT} characters`);
    }
    if (last && pending.length > 0) controller.enqueue(encoder.encode(pending));
  }
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        pending += decoder.decode(chunk, { stream: true });
        await drain(controller, false);
      },
      async flush(controller) {
        pending += decoder.decode();
        await drain(controller, true);
      },
    }),
  );
}

/**
 * Decides each `subscriptions/listen` before SDK v2's `createMcpHandler` serves it, and each update
 * the listen then delivers. That entry answers a listen itself, from a change-event bus, without
 * handing it to the server the factory made, so the guard `authorizeFactory` puts on that server
 * never sees it. Wrap the handler's `fetch` with this: a listen is decided as a guarded transport
 * decides it (the default mapping names every resource it subscribes to) and, when denied,
 * answered with `-32010 Unauthorized` before the handler opens any stream. On an allowed listen's
 * stream every `notifications/resources/updated` is decided again as a `resources/read` of its URI
 * for the caller (audited as one) and dropped when denied, so a permission revoked while the
 * listen is open withholds the next update. Every other request goes to the handler unchanged (and
 * is decided by the server's own guard). The options are read from the environment once, here.
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
    let listening = false;
    for (const message of Array.isArray(body) ? (body as unknown[]) : [body]) {
      if (typeof message !== "object" || message === null) continue;
      const { method, id, params } = message as {
        method?: unknown;
        id?: unknown;
        params?: unknown;
      };
      if (method !== "subscriptions/listen") continue;
      const outcome = await authorizer.authorize(method, params, context);
      if (outcome.kind === "bypass" || outcome.decision.allow) {
        listening = true;
        continue;
      }
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
    const response = await fetch(request, given);
    const type = response.headers.get("content-type") ?? "";
    if (!listening || response.body === null || !type.includes("text/event-stream")) {
      return response;
    }
    const readable = (uri: string): Promise<boolean> =>
      authorizer.authorize("resources/read", { uri }, context).then(
        (outcome) => outcome.kind === "bypass" || outcome.decision.allow,
        () => false, // not decided: withheld
      );
    const { status, statusText, headers: sent } = response;
    return new Response(decidedUpdates(response.body, readable), {
      status,
      statusText,
      headers: sent,
    });
  };
}
