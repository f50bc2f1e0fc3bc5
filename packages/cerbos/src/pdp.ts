import { randomUUID } from "node:crypto";
import {
  type AuthorizationRequest,
  type CheckOptions,
  ConfigError,
  type Decision,
  JsonHttpClient,
  PdpError,
  type PolicyDecisionPoint,
  describeError,
  errorDecision,
  failureDecisions,
  integerOption,
} from "@mcp-pdp/core";
import { z } from "zod";
import {
  type CerbosCheckInput,
  type CerbosMappingOptions,
  type CerbosPrincipal,
  type ResolvedCerbosMapping,
  resolveCerbosMapping,
  toCerbos,
} from "./mapping.js";
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

function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The value is not repeated: a mistyped URL may carry a token.
    throw new ConfigError("cerbos.url must be an http(s) URL such as http://localhost:3592");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ConfigError(`cerbos.url must be an http(s) URL, got the scheme ${parsed.protocol}`);
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

function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
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
      effect === undefined
        ? `${pdpName}: the answer has no effect for action ${action}`
        : `${pdpName}: unknown effect ${truncate(effect, 40)} for action ${action}`,
      "PDP_BAD_RESPONSE",
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
  readonly principal: CerbosPrincipal;
  /** Positions in the caller's request list, and their translations. */
  readonly items: { readonly index: number; readonly input: CerbosCheckInput }[];
}

/**
 * Checks a `CheckResources` answer against what was sent and returns the decisions in request
 * order. Throws a {@link PdpError} when the answer as a whole cannot be trusted.
 */
function readAnswer(
  answer: CerbosCheckResponse,
  requestId: string,
  batch: Batch,
  pdpName: string,
): Decision[] {
  if (answer.requestId !== undefined && answer.requestId !== requestId) {
    throw new PdpError("PDP_BAD_RESPONSE", `${pdpName}: the answer belongs to another request`);
  }
  if (answer.results.length !== batch.items.length) {
    throw new PdpError(
      "PDP_BAD_RESPONSE",
      `${pdpName}: the answer has ${answer.results.length} results for ${batch.items.length} resources`,
    );
  }
  // Cerbos answers in request order. A result for another resource means the order cannot be
  // trusted for any item.
  return batch.items.map(({ input }, i) => {
    const result = answer.results[i] as CerbosResult;
    const sent = input.entry.resource;
    if (result.resource.id !== sent.id || result.resource.kind !== sent.kind) {
      throw new PdpError("PDP_BAD_RESPONSE", `${pdpName}: result ${i} is for another resource`);
    }
    return decisionOf(result, input, answer.cerbosCallId, pdpName);
  });
}

/**
 * A Cerbos PDP over the HTTP API. Each neutral request becomes one resource of a
 * `POST /api/check/resources` call; a bulk check sends one call per principal, split into chunks of
 * `maxResourcesPerRequest`. Every failure is a deny with `source: "error"`; `check` never rejects.
 */
export function cerbosPdp(options: CerbosPdpOptions = {}): PolicyDecisionPoint {
  const name = options.name ?? "cerbos";
  const mapping: ResolvedCerbosMapping = resolveCerbosMapping(options);
  const maxResources = integerOption(
    "cerbos",
    "maxResourcesPerRequest",
    options.maxResourcesPerRequest,
    DEFAULT_MAX_RESOURCES_PER_REQUEST,
  );
  const includeMeta = options.includeMeta ?? true;
  const client = new JsonHttpClient({
    name,
    url: checkUrl(options.url ?? DEFAULT_CERBOS_URL),
    headers: checkHeaders(options.headers),
    timeoutMs: integerOption("cerbos", "timeoutMs", options.timeoutMs, DEFAULT_CERBOS_TIMEOUT_MS),
    connections: integerOption("cerbos", "connections", options.connections, 10),
    maxResponseBytes: integerOption(
      "cerbos",
      "maxResponseBytes",
      options.maxResponseBytes,
      8 * 1024 * 1024,
    ),
  });

  async function send(batch: Batch, signal: AbortSignal | undefined): Promise<Decision[]> {
    const requestId = randomUUID();
    const body = {
      requestId,
      ...(includeMeta ? { includeMeta: true } : {}),
      principal: batch.principal,
      resources: batch.items.map((item) => item.input.entry),
    };
    // 400 carries Cerbos' reason (a validation error, a request limit): read it rather than drop it.
    const outcome = await client.post(CHECK_PATH, body, z.unknown(), {
      acceptStatus: [400],
      ...(signal ? { signal } : {}),
    });
    if (!outcome.ok) return failureDecisions(outcome, batch.items.length);
    try {
      if (outcome.status !== 200) {
        const error = cerbosErrorSchema.safeParse(outcome.body);
        const detail = error.success ? `: ${truncate(error.data.message)}` : "";
        throw new PdpError(
          "PDP_ERROR",
          `${name} PDP answered HTTP ${outcome.status} to POST ${CHECK_PATH}${detail}`,
        );
      }
      const parsed = cerbosCheckResponseSchema.safeParse(outcome.body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue && issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
        throw new PdpError("PDP_BAD_RESPONSE", `${name} PDP answered an unexpected body${where}`);
      }
      return readAnswer(parsed.data, requestId, batch, name);
    } catch (error) {
      const d = errorDecision(
        describeError(error),
        error instanceof PdpError ? error.code : "PDP_ERROR",
      );
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
      return requests.map(() =>
        errorDecision(`${name} PDP call aborted by the caller`, "PDP_ABORTED"),
      );
    }
    // One call per principal: Cerbos takes one principal and many resources.
    const groups = new Map<string, Batch>();
    requests.forEach((request, index) => {
      try {
        const input = toCerbos(request, mapping);
        const key = JSON.stringify(input.principal);
        const group = groups.get(key) ?? { principal: input.principal, items: [] };
        group.items.push({ index, input });
        groups.set(key, group);
      } catch (error) {
        out[index] = errorDecision(
          `${name}: cannot express the request for Cerbos: ${describeError(error)}`,
          "PDP_ERROR",
        );
      }
    });
    const calls: Promise<void>[] = [];
    for (const group of groups.values()) {
      for (let start = 0; start < group.items.length; start += maxResources) {
        const chunk: Batch = {
          principal: group.principal,
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
      return decision ?? errorDecision(`${name}: no decision`, "PDP_ERROR");
    },
    checkMany,
    close: () => client.close(),
  };
}
