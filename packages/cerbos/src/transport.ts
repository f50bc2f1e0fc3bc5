import { PdpError, describeError } from "@mcp-pdp/core";
import { Pool, errors as undiciErrors } from "undici";

/** The answer of one HTTP exchange. */
export interface HttpAnswer {
  readonly status: number;
  readonly text: string;
}

/** Options of {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** Base URL; a path (a proxy prefix) is kept in front of every request path. */
  readonly url: string;
  /** Headers sent with every request. Their values never appear in errors. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** Connections kept open to the PDP. */
  readonly connections: number;
  /** Largest response body accepted, in bytes. */
  readonly maxResponseBytes: number;
}

const CONNECT_FAILURES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_CLOSED",
  "UND_ERR_DESTROYED",
]);

function errorCodeOf(error: unknown): string | undefined {
  let current: unknown = error;
  // Connection errors arrive wrapped (AggregateError for dual-stack hosts, `cause` chains).
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    const inner = (current as { errors?: unknown[]; cause?: unknown }).errors?.[0];
    current = inner ?? (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * A keep-alive connection pool to one PDP with a per-request timeout. Every failure is thrown as a
 * {@link PdpError} with a stable code: `PDP_TIMEOUT`, `PDP_ABORTED` (the caller's signal),
 * `PDP_UNAVAILABLE` (refused, reset, closed) or `PDP_ERROR`.
 */
export class HttpTransport {
  readonly #pool: Pool;
  readonly #basePath: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  #closed = false;

  constructor(options: HttpTransportOptions) {
    const url = new URL(options.url);
    this.#basePath = url.pathname.replace(/\/+$/, "");
    this.#headers = { ...options.headers };
    this.#timeoutMs = options.timeoutMs;
    this.#maxResponseBytes = options.maxResponseBytes;
    this.#pool = new Pool(url.origin, {
      connections: options.connections,
      keepAliveTimeout: 30_000,
      connectTimeout: options.timeoutMs,
    });
  }

  /** POSTs a JSON body and reads the whole answer as text. */
  async postJson(path: string, body: string, signal?: AbortSignal): Promise<HttpAnswer> {
    if (signal?.aborted) throw new PdpError("PDP_ABORTED", "the check was aborted");
    if (this.#isClosed()) throw new PdpError("PDP_UNAVAILABLE", "the PDP client is closed");
    const timeout = new AbortController();
    const timer = setTimeout(() => {
      timeout.abort();
    }, this.#timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
    try {
      const response = await this.#pool.request({
        method: "POST",
        path: this.#basePath + path,
        headers: {
          ...this.#headers,
          "content-type": "application/json",
          accept: "application/json",
        },
        body,
        signal: combined,
      });
      const declared = Number(response.headers["content-length"] ?? 0);
      if (declared > this.#maxResponseBytes) {
        response.body.destroy();
        throw new PdpError(
          "PDP_BAD_RESPONSE",
          `the answer is larger than ${this.#maxResponseBytes} bytes`,
        );
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body) {
        const buffer = chunk as Buffer;
        size += buffer.length;
        if (size > this.#maxResponseBytes) {
          response.body.destroy();
          throw new PdpError(
            "PDP_BAD_RESPONSE",
            `the answer is larger than ${this.#maxResponseBytes} bytes`,
          );
        }
        chunks.push(buffer);
      }
      return { status: response.statusCode, text: Buffer.concat(chunks).toString("utf8") };
    } catch (error) {
      if (error instanceof PdpError) throw error;
      if (signal?.aborted)
        throw new PdpError("PDP_ABORTED", "the check was aborted", { cause: error });
      if (timeout.signal.aborted || error instanceof undiciErrors.HeadersTimeoutError) {
        throw new PdpError("PDP_TIMEOUT", `no answer within ${this.#timeoutMs} ms`, {
          cause: error,
        });
      }
      const code = errorCodeOf(error);
      if (code === "UND_ERR_CONNECT_TIMEOUT") {
        throw new PdpError("PDP_TIMEOUT", `no connection within ${this.#timeoutMs} ms`, {
          cause: error,
        });
      }
      if (this.#isClosed() || (code !== undefined && CONNECT_FAILURES.has(code))) {
        throw new PdpError("PDP_UNAVAILABLE", `cannot reach the PDP: ${code ?? "closed"}`, {
          cause: error,
        });
      }
      throw new PdpError("PDP_ERROR", `request failed: ${describeError(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  // A method rather than the field: the flag changes while a request is in flight.
  #isClosed(): boolean {
    return this.#closed;
  }

  /** Closes the pool; later requests fail with `PDP_UNAVAILABLE`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.close();
  }
}
