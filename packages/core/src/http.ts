/**
 * JSON over HTTP for remote PDP adapters: one keep-alive connection pool per PDP, a per-request
 * timeout combined with the caller's signal, response validation with zod, and every failure
 * turned into a value with a stable code (never a thrown error), so an adapter's `check` can map
 * it straight to an error deny.
 */
import { Pool } from "undici";
import type { z } from "zod";
import { ConfigError, type McpPdpErrorCode, integerOption } from "./errors.js";
import type { AuthorizationRequest, CheckOptions, Decision, PolicyDecisionPoint } from "./model.js";

/** The error codes a failed PDP call can have. */
export type PdpFailureCode = Extract<
  McpPdpErrorCode,
  | "PDP_TIMEOUT"
  | "PDP_UNAVAILABLE"
  | "PDP_UNAUTHORIZED"
  | "PDP_BAD_RESPONSE"
  | "PDP_ABORTED"
  | "PDP_ERROR"
>;

/** A failed PDP call. The reason is safe to log: it never holds header values (API keys). */
export interface PdpFailure {
  readonly ok: false;
  readonly code: PdpFailureCode;
  readonly reason: string;
  /** The HTTP status, when the PDP answered with one. */
  readonly status?: number;
}

/** A successful PDP call: a 2xx status and a body that passed the schema. */
export interface PdpSuccess<T> {
  readonly ok: true;
  readonly status: number;
  readonly body: T;
}

/** The outcome of one PDP call. */
export type PdpOutcome<T> = PdpSuccess<T> | PdpFailure;

/** A PDP reached over HTTP: bulk checks, a health probe, and a connection pool to close. */
export interface RemotePdp extends PolicyDecisionPoint {
  checkMany(requests: readonly AuthorizationRequest[], options?: CheckOptions): Promise<Decision[]>;
  /** Whether the PDP's health endpoint says it is up. Never rejects. */
  healthy(options?: CheckOptions): Promise<boolean>;
  /** Closes the connection pool; later checks are error denies. */
  close(): Promise<void>;
}

/** Options of {@link JsonHttpClient}. */
export interface JsonHttpClientOptions {
  /** Base URL of the PDP; a path prefix (`http://host/opa`) is kept in front of every path. */
  readonly url: string;
  /** The PDP's name, used in failure reasons (`"permit"`, `"opa"`, ...). */
  readonly name: string;
  /** Milliseconds one request may take, connection and body included. @defaultValue 1000 */
  readonly timeoutMs?: number;
  /**
   * Headers sent with every request. Their values are treated as secrets: they are removed from
   * any text that could reach a reason.
   */
  readonly headers?: Readonly<Record<string, string>>;
  /** Keep-alive connections kept open to the PDP. @defaultValue 16 */
  readonly connections?: number;
  /** Largest response body accepted, in bytes. @defaultValue 8 MiB */
  readonly maxResponseBytes?: number;
}

/** Options of one request. */
export interface JsonRequestOptions {
  /** The caller's signal; when it aborts, the request ends with `PDP_ABORTED`. */
  readonly signal?: AbortSignal;
  /** Statuses (besides 2xx) whose body is parsed as a success. @defaultValue none */
  readonly acceptStatus?: readonly number[];
  /** Extra headers for this request (treated as secrets like the client's headers). */
  readonly headers?: Readonly<Record<string, string>>;
}

const DEFAULT_TIMEOUT_MS = 1000;
const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;

/** Transport error codes meaning "the PDP cannot be reached". */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ETIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_CLOSED",
  "UND_ERR_DESTROYED",
]);

const TIMED_OUT = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/**
 * The texts to scrub from messages: each header value, and the credential after a scheme
 * (`Bearer <key>` -> `<key>`), longest first so a value is removed before its parts.
 */
function secretsOf(headers: Readonly<Record<string, string>>): string[] {
  const out = new Set<string>();
  for (const value of Object.values(headers)) {
    out.add(value);
    const credential = /^\S+\s+(\S.*)$/.exec(value)?.[1];
    if (credential !== undefined) out.add(credential);
  }
  return [...out].filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
}

function failure(code: PdpFailureCode, reason: string, status?: number): PdpFailure {
  return { ok: false, code, reason, ...(status !== undefined ? { status } : {}) };
}

function errorCodeOf(error: unknown): string | undefined {
  // undici and Node put the code on the error or, for connection errors, on its cause.
  for (let e: unknown = error, depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The failure code for an HTTP status that is not a success. */
export function statusFailureCode(status: number): PdpFailureCode {
  if (status === 401 || status === 403) return "PDP_UNAUTHORIZED";
  if (status === 408) return "PDP_TIMEOUT";
  if (status === 429 || status === 502 || status === 503 || status === 504)
    return "PDP_UNAVAILABLE";
  return "PDP_ERROR";
}

/**
 * A small JSON-over-HTTP client for one PDP, on one undici keep-alive {@link Pool}. Every method
 * resolves (never rejects) to a {@link PdpOutcome}.
 */
export class JsonHttpClient {
  readonly name: string;
  readonly timeoutMs: number;
  readonly #origin: string;
  readonly #prefix: string;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #secrets: string[];
  readonly #maxBytes: number;
  readonly #pool: Pool;
  #closed = false;

  constructor(options: JsonHttpClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch (error) {
      // The value is not repeated: a mistyped URL may carry a token.
      throw new ConfigError(
        `${options.name}: the PDP URL is not a valid URL; expected http(s)://host[:port][/path]`,
        { cause: error },
      );
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new ConfigError(
        `${options.name}: the PDP URL must be http or https, got ${url.protocol}`,
      );
    }
    if (url.username !== "" || url.password !== "") {
      throw new ConfigError(
        `${options.name}: put credentials in the adapter's options, not in the PDP URL`,
      );
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new ConfigError(
        `${options.name}: timeoutMs must be a positive number, got ${timeoutMs}`,
      );
    }
    const connections = integerOption(options.name, "connections", options.connections, 16);
    this.name = options.name;
    this.timeoutMs = timeoutMs;
    this.#origin = url.origin;
    this.#prefix = url.pathname.replace(/\/+$/, "");
    this.#headers = { ...options.headers };
    this.#secrets = secretsOf(this.#headers);
    this.#maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_BYTES;
    this.#pool = new Pool(this.#origin, { connections, pipelining: 1 });
  }

  /** The PDP's origin (scheme, host and port), for messages. */
  get origin(): string {
    return this.#origin;
  }

  /** POSTs a JSON body and validates the JSON answer. */
  post<T>(
    path: string,
    body: unknown,
    schema: z.ZodType<T>,
    options?: JsonRequestOptions,
  ): Promise<PdpOutcome<T>> {
    return this.request("POST", path, body, schema, options);
  }

  /** GETs a path and validates the JSON answer. */
  get<T>(path: string, schema: z.ZodType<T>, options?: JsonRequestOptions): Promise<PdpOutcome<T>> {
    return this.request("GET", path, undefined, schema, options);
  }

  /** Sends one request. Never rejects. */
  async request<T>(
    method: string,
    path: string,
    body: unknown,
    schema: z.ZodType<T>,
    options: JsonRequestOptions = {},
  ): Promise<PdpOutcome<T>> {
    const caller = options.signal;
    if (caller?.aborted)
      return failure("PDP_ABORTED", `${this.name} PDP call aborted by the caller`);
    if (this.#closed) return failure("PDP_UNAVAILABLE", `${this.name} PDP client is closed`);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = caller ? AbortSignal.any([caller, timeout]) : timeout;
    const secrets = options.headers
      ? [...this.#secrets, ...secretsOf(options.headers)]
      : this.#secrets;
    let status: number | undefined;
    try {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const response = await this.#pool.request({
        method,
        path: this.#prefix + path,
        headers: {
          accept: "application/json",
          ...(text !== undefined ? { "content-type": "application/json" } : {}),
          ...this.#headers,
          ...options.headers,
        },
        ...(text !== undefined ? { body: text } : {}),
        signal,
      });
      status = response.statusCode;
      const ok =
        (status >= 200 && status < 300) || (options.acceptStatus?.includes(status) ?? false);
      if (!ok) {
        await response.body.dump().catch(() => undefined);
        return failure(
          statusFailureCode(status),
          `${this.name} PDP answered HTTP ${status} to ${method} ${path}`,
          status,
        );
      }
      const raw = await this.#readCapped(response.body);
      if (raw === undefined) {
        return failure(
          "PDP_BAD_RESPONSE",
          `${this.name} PDP answered a body larger than ${this.#maxBytes} bytes`,
          status,
        );
      }
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        return failure(
          "PDP_BAD_RESPONSE",
          `${this.name} PDP answered a body that is not JSON`,
          status,
        );
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue && issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
        return failure(
          "PDP_BAD_RESPONSE",
          this.#redact(
            `${this.name} PDP answered an unexpected body${where}: ${issue?.message ?? "invalid"}`,
            secrets,
          ),
          status,
        );
      }
      return { ok: true, status, body: parsed.data };
    } catch (error) {
      return this.#fromError(error, caller, timeout, status, secrets);
    }
  }

  async #readCapped(
    body: AsyncIterable<Buffer> & { destroy(): unknown },
  ): Promise<string | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += chunk.length;
      if (size > this.#maxBytes) {
        body.destroy();
        return undefined;
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString("utf8");
  }

  #fromError(
    error: unknown,
    caller: AbortSignal | undefined,
    timeout: AbortSignal,
    status: number | undefined,
    secrets: readonly string[],
  ): PdpFailure {
    if (caller?.aborted) {
      return failure("PDP_ABORTED", `${this.name} PDP call aborted by the caller`, status);
    }
    const code = errorCodeOf(error);
    if (timeout.aborted || (code !== undefined && TIMED_OUT.has(code))) {
      return failure(
        "PDP_TIMEOUT",
        `${this.name} PDP did not answer within ${this.timeoutMs} ms`,
        status,
      );
    }
    if (code !== undefined && UNREACHABLE.has(code)) {
      const what =
        code === "UND_ERR_CLOSED" || code === "UND_ERR_DESTROYED"
          ? "client is closed"
          : `unreachable at ${this.#origin} (${code})`;
      return failure("PDP_UNAVAILABLE", `${this.name} PDP ${what}`, status);
    }
    const message = error instanceof Error ? error.message : String(error);
    return failure(
      "PDP_ERROR",
      this.#redact(`${this.name} PDP call failed: ${code ? `${code}: ` : ""}${message}`, secrets),
      status,
    );
  }

  #redact(text: string, secrets: readonly string[]): string {
    let out = text;
    for (const secret of secrets) out = out.split(secret).join("[redacted]");
    return out;
  }

  /** Closes the connection pool. Later requests fail with `PDP_UNAVAILABLE`. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.close().catch(() => undefined);
  }
}

/**
 * An error deny (`source: "error"`): what every failure to decide becomes, with a reason safe to
 * log and a stable code (`PDP_TIMEOUT`, `PDP_BAD_RESPONSE`, ...).
 */
export function errorDecision(reason: string, errorCode: string): Decision {
  return { allow: false, source: "error", reason, errorCode };
}

/** The same error deny for each of `count` requests (a failed bulk call denies every item). */
export function failureDecisions(
  failure: Pick<PdpFailure, "code" | "reason">,
  count: number,
): Decision[] {
  const decision = errorDecision(failure.reason, failure.code);
  return Array.from({ length: count }, () => decision);
}

/**
 * Bounds the number of concurrent calls; waiting callers whose signal fires drop out. Shared by
 * every caller of one PDP, it caps the PDP's load however many checks run at once.
 */
export class Limiter {
  readonly #max: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  /** `max`: calls allowed in flight at once. */
  constructor(max: number) {
    this.#max = max;
  }

  /** Resolves `true` once a slot is held, or `false` when `signal` fires first. */
  acquire(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (this.#active < this.#max) {
      this.#active++;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const grant = () => {
        signal?.removeEventListener("abort", abort);
        this.#active++;
        resolve(true);
      };
      const abort = () => {
        const i = this.#waiting.indexOf(grant);
        if (i >= 0) this.#waiting.splice(i, 1);
        resolve(false);
      };
      signal?.addEventListener("abort", abort, { once: true });
      this.#waiting.push(grant);
    });
  }

  /** Gives back a slot held after `acquire` resolved `true`. */
  release(): void {
    this.#active--;
    this.#waiting.shift()?.();
  }
}

/**
 * Maps items with at most `limit` calls of `fn` in flight, keeping the input order. For PDPs
 * without a bulk endpoint: bounded fan-out instead of one burst of N requests.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  await Promise.all(workers);
  return results;
}

/**
 * Splits items into chunks of at most `size` (never an empty chunk), runs `fn` on at most
 * `concurrency` chunks at a time, and concatenates the answers in input order. For PDPs whose bulk
 * endpoint has a maximum size.
 */
export async function mapInChunks<T, R>(
  items: readonly T[],
  size: number,
  concurrency: number,
  fn: (chunk: readonly T[], offset: number) => Promise<readonly R[]>,
): Promise<R[]> {
  if (!Number.isInteger(size) || size < 1)
    throw new ConfigError(`chunk size must be a positive integer, got ${size}`);
  const chunks: { chunk: readonly T[]; offset: number }[] = [];
  for (let offset = 0; offset < items.length; offset += size) {
    chunks.push({ chunk: items.slice(offset, offset + size), offset });
  }
  const answers = await mapWithConcurrency(chunks, concurrency, (c) => fn(c.chunk, c.offset));
  const out: R[] = [];
  for (const answer of answers) out.push(...answer);
  return out;
}

/** What {@link checkInChunks} needs to know about a PDP's bulk endpoint. */
export interface ChunkedCheckOptions<R, Q, A> {
  /** The PDP's name, for reasons. */
  readonly name: string;
  /** Translates one request to the PDP's wire form; an exception denies every request as an error. */
  readonly build: (request: R) => Q;
  /** Largest number of queries in one call. */
  readonly size: number;
  /** Calls in flight at once. */
  readonly concurrency: number;
  /** Posts one chunk; a success holds one answer per query, in order. */
  readonly send: (chunk: readonly Q[]) => Promise<PdpOutcome<readonly A[]>>;
  /** The decision for one answer. */
  readonly decide: (answer: A) => Decision;
}

/**
 * A bulk check against an endpoint with a maximum size: builds every query, posts them in chunks
 * (never an empty one), and decides each answer. A failed call, or an answer of the wrong length,
 * denies its chunk as an error and nothing else. Never rejects.
 */
export async function checkInChunks<R, Q, A>(
  requests: readonly R[],
  options: ChunkedCheckOptions<R, Q, A>,
): Promise<Decision[]> {
  const { name, size, concurrency, send, decide } = options;
  if (requests.length === 0) return [];
  let queries: Q[];
  try {
    queries = requests.map((r) => options.build(r));
  } catch (error) {
    const failed = buildFailure(name, error);
    return requests.map(() => failed);
  }
  return mapInChunks(queries, size, concurrency, async (chunk) => {
    const outcome = await send(chunk);
    if (!outcome.ok) return failureDecisions(outcome, chunk.length);
    const answers = outcome.body;
    if (answers.length !== chunk.length) {
      return failureDecisions(
        {
          code: "PDP_BAD_RESPONSE",
          reason: `${name} PDP answered ${answers.length} decisions to a bulk check of ${chunk.length}`,
        },
        chunk.length,
      );
    }
    return answers.map(decide);
  });
}

/**
 * The error deny for a request translation that threw (a custom query builder, for instance): a
 * check must deny, never reject. The error's message is kept; it holds nothing the adapter keeps
 * secret.
 */
export function buildFailure(name: string, error: unknown): Decision {
  return errorDecision(
    `${name}: building the request failed: ${error instanceof Error ? error.message : String(error)}`,
    "PDP_ERROR",
  );
}
