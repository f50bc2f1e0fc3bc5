import { randomUUID } from "node:crypto";
import {
  type AuthorizationRequest,
  type CheckOptions,
  ConfigError,
  type Decision,
  PdpError,
  type PolicyDecisionPoint,
  describeError,
} from "@mcp-pdp/core";
import {
  type CerbosCheckInput,
  type CerbosMappingOptions,
  type ResolvedCerbosMapping,
  resolveCerbosMapping,
  toCerbos,
} from "./mapping.js";
import { HttpTransport } from "./transport.js";
import {
  type CerbosCheckResponse,
  type CerbosResult,
  cerbosCheckResponseSchema,
  cerbosErrorSchema,
} from "./wire.js";

/** Default base URL of the Cerbos HTTP API. */
export const DEFAULT_CERBOS_URL = "http://localhost:3592";
/** Cerbos' own default for `server.requestLimits.maxResourcesPerRequest`. */
export const DEFAULT_MAX_RESOURCES_PER_REQUEST = 50;
/** Default per-request timeout, in milliseconds. */
export const DEFAULT_CERBOS_TIMEOUT_MS = 1000;

const CHECK_PATH = "/api/check/resources";

/** Options of {@link cerbosPdp}. */
export interface CerbosPdpOptions extends CerbosMappingOptions {
  /** Base URL of the Cerbos HTTP API. @defaultValue `"http://localhost:3592"` */
  readonly url?: string;
  /** Extra headers sent with every request (for a proxy in front of Cerbos). Never logged. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Per-request timeout in milliseconds. @defaultValue 1000 */
  readonly timeoutMs?: number;
  /**
   * Resources per `CheckResources` call; larger bulk checks are split. Must not exceed the
   * server's `server.requestLimits.maxResourcesPerRequest`. @defaultValue 50
   */
  readonly maxResourcesPerRequest?: number;
  /** Keep-alive connections to Cerbos. @defaultValue 10 */
  readonly connections?: number;
  /**
   * Asks Cerbos for the matched policy of each decision: it names the policy in `reason` and marks
   * decisions no policy matched as not applicable (so `firstApplicable` falls through).
   * @defaultValue true
   */
  readonly includeMeta?: boolean;
  /** Largest answer accepted, in bytes. @defaultValue 8 MiB */
  readonly maxResponseBytes?: number;
  /** The PDP's name in audit events and errors. @defaultValue `"cerbos"` */
  readonly name?: string;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) {
    throw new ConfigError(`cerbos.${name} must be a positive integer, got ${String(value)}`);
  }
  return v;
}

function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`cerbos.url must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ConfigError(`cerbos.url must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.username !== "" || parsed.password !== "" || parsed.search !== "") {
    // Credentials would end up in error messages; they belong in `headers`.
    throw new ConfigError("cerbos.url must not hold credentials or a query; use headers instead");
  }
  return parsed.toString();
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Validates header names and values without ever echoing a value (it may be a secret). */
export function checkHeaders(
  headers: Readonly<Record<string, string>> | undefined,
  what = "cerbos.headers",
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (!HEADER_NAME.test(name)) {
      throw new ConfigError(`${what}: ${JSON.stringify(name)} is not a valid header name`);
    }
    if (typeof value !== "string" || /[\r\n\0]/.test(value)) {
      throw new ConfigError(`${what}: the value of header ${name} must be a single-line string`);
    }
    out[name.toLowerCase()] = value;
  }
  return out;
}

function errorDecision(code: string, reason: string): Decision {
  return { allow: false, source: "error", errorCode: code, reason };
}

function errorOf(error: unknown, pdpName: string): Decision {
  if (error instanceof PdpError) return errorDecision(error.code, `${pdpName}: ${error.message}`);
  return errorDecision("PDP_ERROR", `${pdpName}: ${describeError(error)}`);
}

function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

function statusCode(status: number): string {
  if (status === 401 || status === 403) return "PDP_UNAUTHORIZED";
  if (status === 429 || status >= 500) return "PDP_UNAVAILABLE";
  return "PDP_ERROR";
}

/** A rule's `output` names the reason: a string, or an object with a string `reason`. */
function outputReason(result: CerbosResult, action: string): string | undefined {
  for (const output of result.outputs ?? []) {
    if (output.action !== undefined && output.action !== action) continue;
    const val = output.val;
    if (typeof val === "string" && val !== "") return val;
    if (typeof val === "object" && val !== null) {
      const reason = (val as { reason?: unknown }).reason;
      if (typeof reason === "string" && reason !== "") return reason;
    }
  }
  return undefined;
}

function decisionOf(
  result: CerbosResult,
  input: CerbosCheckInput,
  callId: string | undefined,
  pdpName: string,
): Decision {
  const { action } = input;
  const effect = result.actions[action];
  if (effect !== "EFFECT_ALLOW" && effect !== "EFFECT_DENY") {
    return errorDecision(
      "PDP_BAD_RESPONSE",
      effect === undefined
        ? `${pdpName}: the answer has no effect for action ${action}`
        : `${pdpName}: unknown effect ${truncate(effect, 40)} for action ${action}`,
    );
  }
  const allow = effect === "EFFECT_ALLOW";
  const matched = result.meta?.actions?.[action]?.matchedPolicy;
  const noMatch = matched === "NO_MATCH";
  const kind = input.entry.resource.kind;
  const reason =
    outputReason(result, action) ??
    (noMatch
      ? `no Cerbos policy matches ${kind}/${action}`
      : matched !== undefined && matched !== ""
        ? `${allow ? "allowed" : "denied"} by ${matched}`
        : `Cerbos ${allow ? "allowed" : "denied"} ${kind}/${action}`);
  return {
    allow,
    source: "pdp",
    reason,
    ...(callId !== undefined ? { decisionId: callId } : {}),
    ...(noMatch ? { applicable: false } : {}),
  };
}

interface Batch {
  readonly principalJson: string;
  /** Positions in the caller's request list, their translations and serialized entries. */
  readonly items: {
    readonly index: number;
    readonly input: CerbosCheckInput;
    readonly json: string;
  }[];
}

/**
 * Parses and checks a `CheckResources` answer against what was sent. Returns the decisions in
 * request order, or throws a {@link PdpError} when the answer as a whole cannot be trusted.
 */
function readAnswer(text: string, requestId: string, batch: Batch, pdpName: string): Decision[] {
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    throw new PdpError("PDP_BAD_RESPONSE", "the answer is not JSON");
  }
  const parsed = cerbosCheckResponseSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
    throw new PdpError("PDP_BAD_RESPONSE", `the answer has an unexpected shape${where}`);
  }
  const answer: CerbosCheckResponse = parsed.data;
  if (answer.requestId !== undefined && answer.requestId !== requestId) {
    throw new PdpError("PDP_BAD_RESPONSE", "the answer belongs to another request");
  }
  if (answer.results.length !== batch.items.length) {
    throw new PdpError(
      "PDP_BAD_RESPONSE",
      `the answer has ${answer.results.length} results for ${batch.items.length} resources`,
    );
  }
  // Cerbos answers in request order; a result for another resource means the order cannot be
  // trusted for any item.
  return batch.items.map(({ input }, i) => {
    const result = answer.results[i] as CerbosResult;
    const sent = input.entry.resource;
    if (result.resource.id !== sent.id || result.resource.kind !== sent.kind) {
      throw new PdpError("PDP_BAD_RESPONSE", `result ${i} is for another resource`);
    }
    return decisionOf(result, input, answer.cerbosCallId, pdpName);
  });
}

/**
 * A Cerbos PDP over the HTTP API. Each neutral request becomes one resource of a
 * `POST /api/check/resources` call; a bulk check sends one call per principal (split into chunks of
 * `maxResourcesPerRequest`). Every failure is a deny with `source: "error"`; `check` never rejects.
 */
export function cerbosPdp(options: CerbosPdpOptions = {}): PolicyDecisionPoint {
  const name = options.name ?? "cerbos";
  const mapping: ResolvedCerbosMapping = resolveCerbosMapping(options);
  const maxResources = positiveInteger(
    "maxResourcesPerRequest",
    options.maxResourcesPerRequest,
    DEFAULT_MAX_RESOURCES_PER_REQUEST,
  );
  const includeMeta = options.includeMeta ?? true;
  const transport = new HttpTransport({
    url: checkUrl(options.url ?? DEFAULT_CERBOS_URL),
    headers: checkHeaders(options.headers),
    timeoutMs: positiveInteger("timeoutMs", options.timeoutMs, DEFAULT_CERBOS_TIMEOUT_MS),
    connections: positiveInteger("connections", options.connections, 10),
    maxResponseBytes: positiveInteger(
      "maxResponseBytes",
      options.maxResponseBytes,
      8 * 1024 * 1024,
    ),
  });

  async function send(batch: Batch, signal: AbortSignal | undefined): Promise<Decision[]> {
    const requestId = randomUUID();
    try {
      // Entries were serialized one by one when grouped, so one bad attribute value fails its own
      // request only.
      const body =
        `{"requestId":${JSON.stringify(requestId)},` +
        (includeMeta ? `"includeMeta":true,` : "") +
        `"principal":${batch.principalJson},` +
        `"resources":[${batch.items.map((item) => item.json).join(",")}]}`;
      const answer = await transport.postJson(CHECK_PATH, body, signal);
      if (answer.status !== 200) {
        let detail = "";
        try {
          const parsed = cerbosErrorSchema.safeParse(JSON.parse(answer.text));
          if (parsed.success) detail = `: ${truncate(parsed.data.message)}`;
        } catch {
          // A non-JSON error body says nothing more than the status.
        }
        const d = errorDecision(
          statusCode(answer.status),
          `${name}: HTTP ${answer.status}${detail}`,
        );
        return batch.items.map(() => d);
      }
      return readAnswer(answer.text, requestId, batch, name);
    } catch (error) {
      const d = errorOf(error, name);
      return batch.items.map(() => d);
    }
  }

  async function checkMany(
    requests: readonly AuthorizationRequest[],
    checkOptions?: CheckOptions,
  ): Promise<Decision[]> {
    const out = new Array<Decision>(requests.length);
    const signal = checkOptions?.signal;
    if (signal?.aborted) {
      return requests.map(() => errorDecision("PDP_ABORTED", `${name}: the check was aborted`));
    }
    // One call per principal: Cerbos takes one principal and many resources.
    const groups = new Map<string, Batch>();
    requests.forEach((request, index) => {
      let input: CerbosCheckInput;
      try {
        input = toCerbos(request, mapping);
      } catch (error) {
        out[index] = errorDecision(
          "PDP_ERROR",
          `${name}: cannot express the request for Cerbos: ${describeError(error)}`,
        );
        return;
      }
      let key: string;
      let json: string;
      try {
        key = JSON.stringify(input.principal);
        json = JSON.stringify(input.entry);
      } catch (error) {
        out[index] = errorDecision(
          "PDP_ERROR",
          `${name}: the request's attributes are not JSON: ${describeError(error)}`,
        );
        return;
      }
      const group = groups.get(key) ?? { principalJson: key, items: [] };
      group.items.push({ index, input, json });
      groups.set(key, group);
    });
    const calls: Promise<void>[] = [];
    for (const group of groups.values()) {
      for (let start = 0; start < group.items.length; start += maxResources) {
        const chunk: Batch = {
          principalJson: group.principalJson,
          items: group.items.slice(start, start + maxResources),
        };
        calls.push(
          send(chunk, signal).then((decisions) => {
            chunk.items.forEach((item, i) => {
              out[item.index] = decisions[i] as Decision;
            });
          }),
        );
      }
    }
    await Promise.all(calls);
    return out;
  }

  return {
    name,
    async check(request, checkOptions) {
      const [decision] = await checkMany([request], checkOptions);
      return decision ?? errorDecision("PDP_ERROR", `${name}: no decision`);
    },
    checkMany,
    close: () => transport.close(),
  };
}
