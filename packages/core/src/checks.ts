/**
 * Callable authorization checks: plain functions deciding one operation, attached to the server as
 * a whole and to single tools, resources and prompts, and run as a {@link PolicyDecisionPoint}.
 */
import { AuthorizationError, ConfigError, describeError } from "./errors.js";
import type {
  AuthorizationRequest,
  CheckOptions,
  ComponentKind,
  Decision,
  Operation,
  PolicyDecisionPoint,
  Subject,
} from "./model.js";

/** What a check sees of the operation being decided. */
export interface CheckContext {
  /** Who is asking; `attributes` holds the token's claims when there is a token. */
  readonly subject: Subject;
  /** The MCP operation, with the component's declared `metadata` (annotations, `meta`, `tags`) when known. */
  readonly operation: Operation;
  /** The whole authorization request (resource and action as mapped). */
  readonly request: AuthorizationRequest;
  /** Aborted when the decision is no longer wanted; a slow async check may stop early. */
  readonly signal?: AbortSignal;
}

/**
 * An authorization check. It allows by returning (or resolving to) exactly `true`; any other value
 * denies. Throwing {@link AuthorizationError} denies with its message; any other exception denies
 * with a generic reason.
 */
export type AuthCheck = (context: CheckContext) => boolean | Promise<boolean>;

/** One check or several, all of which must pass. */
export type AuthChecks = AuthCheck | readonly AuthCheck[];

function named<T extends AuthCheck>(name: string, check: T): T {
  Object.defineProperty(check, "name", { value: name });
  return check;
}

function labelOf(check: AuthCheck, index: number): string {
  return check.name !== "" ? check.name : `check #${index + 1}`;
}

function requireStrings(where: string, kind: string, values: readonly unknown[]): string[] {
  // A lone string would otherwise be read as a list of one-letter names.
  if (!Array.isArray(values)) throw new ConfigError(`${where}: ${kind}s must be an array`);
  for (const v of values as unknown[]) {
    if (typeof v !== "string" || v.trim() === "") {
      throw new ConfigError(`${where}: every ${kind} must be a non-empty string, got ${String(v)}`);
    }
  }
  return values as string[];
}

function hasAllScopes(subject: Subject, scopes: readonly string[]): boolean {
  const granted = subject.scopes ?? [];
  return scopes.every((s) => granted.includes(s));
}

function hasAnyRole(subject: Subject, roles: readonly string[]): boolean {
  const held = subject.roles ?? [];
  return roles.some((r) => held.includes(r));
}

/** Passes when the caller's identity was established (`subject.authenticated`). */
export function requireAuth(): AuthCheck {
  return named("requireAuth", (ctx) => ctx.subject.authenticated);
}

/**
 * Passes when the caller is authenticated and its token grants every one of the scopes.
 * @throws ConfigError when no scope is given
 */
export function requireScopes(...scopes: readonly string[]): AuthCheck {
  if (scopes.length === 0) throw new ConfigError("requireScopes: give at least one scope");
  const wanted = requireStrings("requireScopes", "scope", scopes);
  return named(
    `requireScopes(${wanted.join(",")})`,
    (ctx) => ctx.subject.authenticated && hasAllScopes(ctx.subject, wanted),
  );
}

/**
 * Passes when the caller is authenticated and holds at least one of the roles.
 * @throws ConfigError when no role is given
 */
export function requireRoles(...roles: readonly string[]): AuthCheck {
  if (roles.length === 0) throw new ConfigError("requireRoles: give at least one role");
  const wanted = requireStrings("requireRoles", "role", roles);
  return named(
    `requireRoles(${wanted.join(",")})`,
    (ctx) => ctx.subject.authenticated && hasAnyRole(ctx.subject, wanted),
  );
}

/** Options of {@link restrictTag}. Give `scopes`, `roles` or both. */
export interface RestrictTagOptions {
  /** Scopes a caller needs, all of them, to use a tagged component. @defaultValue none */
  readonly scopes?: readonly string[];
  /** Roles of which a caller needs one to use a tagged component. @defaultValue none */
  readonly roles?: readonly string[];
  /**
   * What to do with a component whose metadata is unknown (the server never declared it, or a
   * resource read through a template): `restrict` applies the requirements, since the tag cannot
   * be ruled out; `pass` lets it through.
   * @defaultValue `"restrict"`
   */
  readonly unknownMetadata?: "restrict" | "pass";
}

/**
 * Applies requirements only to components carrying `tag` in their declared metadata (`_meta.tags`);
 * other components, and operations not about one component (such as the whole `tools/list`),
 * pass. The caller must be authenticated, hold every scope in `scopes` and one role of `roles`.
 * @throws ConfigError when the tag is empty or neither scopes nor roles are given
 */
export function restrictTag(tag: string, options: RestrictTagOptions): AuthCheck {
  // Callers from plain JavaScript may pass anything: the guards below are for them.
  if (typeof (options as unknown) !== "object" || (options as unknown) === null)
    throw new ConfigError("restrictTag: give the scopes or roles a tagged component requires");
  if (typeof tag !== "string" || tag.trim() === "")
    throw new ConfigError("restrictTag: the tag must be a non-empty string");
  const scopes = requireStrings(`restrictTag(${tag})`, "scope", options.scopes ?? []);
  const roles = requireStrings(`restrictTag(${tag})`, "role", options.roles ?? []);
  if (scopes.length === 0 && roles.length === 0)
    throw new ConfigError(`restrictTag(${tag}): give scopes or roles a tagged component requires`);
  const unknown: unknown = options.unknownMetadata ?? "restrict";
  if (unknown !== "restrict" && unknown !== "pass")
    throw new ConfigError(
      `restrictTag(${tag}): unknownMetadata must be "restrict" or "pass", got ${String(unknown)}`,
    );
  return named(`restrictTag(${tag})`, ({ subject, operation }) => {
    if (operation.component === undefined) return true;
    const metadata = operation.metadata;
    const tagged = metadata ? (metadata.tags ?? []).includes(tag) : unknown === "restrict";
    if (!tagged) return true;
    return (
      subject.authenticated &&
      hasAllScopes(subject, scopes) &&
      (roles.length === 0 || hasAnyRole(subject, roles))
    );
  });
}

/** Only the value `true` allows: a truthy `1`, `"yes"` or a stray Promise object does not. */
function isTrue(value: unknown): boolean {
  return value === true;
}

function requireChecks(where: string, checks: readonly unknown[]): AuthCheck[] {
  if (checks.length === 0) throw new ConfigError(`${where}: give at least one check`);
  checks.forEach((c, i) => {
    if (typeof c !== "function")
      throw new ConfigError(`${where}: argument ${i + 1} is not a check function`);
  });
  return checks as AuthCheck[];
}

/**
 * Passes when every check passes; checks run in order and the first failure stops the chain.
 * Exceptions (an {@link AuthorizationError} included) propagate.
 */
export function allChecks(...checks: readonly AuthCheck[]): AuthCheck {
  const list = requireChecks("allChecks", checks);
  return named(`allChecks(${list.map(labelOf).join(",")})`, async (ctx) => {
    for (const check of list) if (!isTrue(await check(ctx))) return false;
    return true;
  });
}

/**
 * Passes when one check passes; checks run in order and the first pass stops the chain. An
 * {@link AuthorizationError} only fails its own alternative (the first one is rethrown when none
 * passes); any other exception propagates, failing closed.
 */
export function anyCheck(...checks: readonly AuthCheck[]): AuthCheck {
  const list = requireChecks("anyCheck", checks);
  return named(`anyCheck(${list.map(labelOf).join(",")})`, async (ctx) => {
    let refusal: AuthorizationError | undefined;
    for (const check of list) {
      try {
        if (isTrue(await check(ctx))) return true;
      } catch (error) {
        if (!(error instanceof AuthorizationError)) throw error;
        refusal ??= error;
      }
    }
    if (refusal) throw refusal;
    return false;
  });
}

interface CompiledTemplate {
  readonly key: string;
  readonly regex: RegExp;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * Compiles an RFC 6570 URI template into a matcher that accepts at least every URI the MCP SDK
 * would route to it (so a template's checks are never skipped for a URI it serves).
 */
function compileTemplate(template: string): RegExp {
  let body = "";
  let rest = template;
  while (rest.length > 0) {
    const open = rest.indexOf("{");
    const close = rest.indexOf("}");
    if (open === -1) {
      if (close !== -1) throw new ConfigError(`unbalanced "}" in URI template ${template}`);
      body += escapeRegExp(rest);
      break;
    }
    if (close !== -1 && close < open)
      throw new ConfigError(`unbalanced "}" in URI template ${template}`);
    const end = rest.indexOf("}", open);
    if (end === -1) throw new ConfigError(`unclosed "{" in URI template ${template}`);
    const expression = rest.slice(open + 1, end);
    if (expression === "" || expression.includes("{"))
      throw new ConfigError(`invalid expression {${expression}} in URI template ${template}`);
    body += escapeRegExp(rest.slice(0, open));
    switch (expression[0]) {
      case "+":
      case "#":
        body += ".+";
        break;
      case ".":
        body += "\\.[^/]+";
        break;
      case "/":
        body += "/[^/]+";
        break;
      case "?":
      case "&":
        body += `(?:\\${expression[0]}.*)?`;
        break;
      default:
        body += "[^/]+";
    }
    rest = rest.slice(end + 1);
  }
  return new RegExp(`^${body}$`, "s");
}

/**
 * Whether a resource URI matches a URI or URI template key: equal strings match, and
 * `notes://note/{id}` matches `notes://note/42`. A simple `{var}` matches one path segment; `{+var}`
 * and `{#var}` match anything; `{?a,b}` and `{&a}` match an optional query.
 * @throws ConfigError when the template is malformed
 */
export function matchesUriTemplate(template: string, uri: string): boolean {
  return template === uri || compileTemplate(template).test(uri);
}

/** Options of {@link checksPdp}. */
export interface ChecksPdpOptions {
  /**
   * Checks every operation must pass, before a component's own checks. They alone decide operations
   * not about one component (`tools/list` as a whole, `completion/complete`, ...). `[]` means "no
   * requirement": operations without their own checks are then allowed.
   * @defaultValue none: an operation with no entry of its own is denied (`applicable: false`)
   */
  readonly default?: AuthChecks;
  /** Checks per tool name. @defaultValue `{}` */
  readonly tools?: Readonly<Record<string, AuthChecks>>;
  /** Checks per resource URI or URI template (`notes://note/{id}`). @defaultValue `{}` */
  readonly resources?: Readonly<Record<string, AuthChecks>>;
  /** Checks per prompt name. @defaultValue `{}` */
  readonly prompts?: Readonly<Record<string, AuthChecks>>;
  /** The PDP's name in audit events. @defaultValue `"checks"` */
  readonly name?: string;
  /**
   * Receives an unexpected exception thrown by a check (the client only sees a generic reason).
   * @defaultValue one line on stderr
   */
  readonly onError?: (error: unknown, info: CheckErrorInfo) => void;
}

/** What {@link ChecksPdpOptions.onError} learns about a failed check. */
export interface CheckErrorInfo {
  /** The failing check's name (`requireScopes(a)`, the function's name, or `check #n`). */
  readonly check: string;
  readonly request: AuthorizationRequest;
}

const OPTION_KEYS = new Set(["default", "tools", "resources", "prompts", "name", "onError"]);

function checkList(where: string, value: unknown): readonly AuthCheck[] {
  if (typeof value === "function") return [value as AuthCheck];
  if (!Array.isArray(value))
    throw new ConfigError(`${where} must be a check function or an array of check functions`);
  value.forEach((c, i) => {
    if (typeof c !== "function") throw new ConfigError(`${where}[${i}] is not a check function`);
  });
  return value as AuthCheck[];
}

function entries(
  where: string,
  value: Readonly<Record<string, AuthChecks>> | undefined,
): Map<string, readonly AuthCheck[]> {
  const out = new Map<string, readonly AuthCheck[]>();
  if (value === undefined) return out;
  if (typeof value !== "object" || Array.isArray(value))
    throw new ConfigError(`${where} must be an object mapping names to checks`);
  for (const [key, checks] of Object.entries(value))
    out.set(key, checkList(`${where}[${JSON.stringify(key)}]`, checks));
  return out;
}

function describeTarget(operation: Operation): string {
  if (operation.component === undefined) return operation.method;
  const id = operation.name ?? operation.uri ?? "";
  return `${operation.component.replace("_", " ")} ${JSON.stringify(id)}`;
}

function writeCheckError(error: unknown, info: CheckErrorInfo): void {
  process.stderr.write(
    `mcp-pdp: authorization check ${JSON.stringify(info.check)} failed on ${info.request.operation.method}: ${describeError(error)}\n`,
  );
}

const ABORTED: Decision = {
  allow: false,
  source: "error",
  reason: "authorization check aborted",
  errorCode: "PDP_ABORTED",
};

/** Waits for a check's answer, or for the abort signal, whichever comes first. */
function settle(value: unknown, signal: AbortSignal | undefined): Promise<unknown> {
  const answer = Promise.resolve(value);
  if (!signal) return answer;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      resolve(ABORTED);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    answer.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * A PDP running callable checks. The checks of an operation are the `default` checks followed by
 * those of its component (a tool or prompt by name; a resource by URI and every URI template
 * matching it), all of which must pass. List items are decided by the same checks (with
 * `operation.phase: "list"` and no arguments), so what a caller sees is what it may use.
 *
 * Fails closed: a check allows only by returning exactly `true`; an {@link AuthorizationError}
 * denies with its message (as `reason`, and as `message`, which the guard shows to the client); any other exception denies with a generic reason (its text goes to
 * `onError`, never to the client); an operation no check applies to is denied with
 * `applicable: false`, so {@link firstApplicable} can hand it to the next PDP.
 *
 * @throws ConfigError for an unknown option, a value that is not a check, or a malformed URI template
 */
export function checksPdp(options: ChecksPdpOptions): PolicyDecisionPoint {
  const raw: unknown = options;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new ConfigError("checksPdp: options must be an object");
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key))
      throw new ConfigError(
        `checksPdp: unknown option ${JSON.stringify(key)} (expected ${[...OPTION_KEYS].join(", ")})`,
      );
  }
  const name = options.name ?? "checks";
  if (typeof name !== "string" || name.trim() === "")
    throw new ConfigError("checksPdp: name must be a non-empty string");
  const onError = options.onError ?? writeCheckError;
  const defaults =
    options.default === undefined ? undefined : checkList("checksPdp: default", options.default);
  const byKind: Record<"tool" | "prompt", Map<string, readonly AuthCheck[]>> = {
    tool: entries("checksPdp: tools", options.tools),
    prompt: entries("checksPdp: prompts", options.prompts),
  };
  const resources = entries("checksPdp: resources", options.resources);
  const templates: CompiledTemplate[] = [];
  for (const key of resources.keys()) {
    try {
      templates.push({ key, regex: compileTemplate(key) });
    } catch (error) {
      throw new ConfigError(
        `checksPdp: resources[${JSON.stringify(key)}]: ${describeError(error)}`,
      );
    }
  }

  /** The checks of the operation's own entries, or undefined when it has none. */
  const componentChecks = (operation: Operation): AuthCheck[] | undefined => {
    const kind: ComponentKind | undefined = operation.component;
    if (kind === undefined) return undefined;
    if (kind === "tool" || kind === "prompt") {
      const found = operation.name === undefined ? undefined : byKind[kind].get(operation.name);
      return found ? [...found] : undefined;
    }
    const uri = operation.uri;
    if (uri === undefined) return undefined;
    // Every matching key applies: a URI served through a template is held to that template's
    // checks as well as to any exact entry.
    let matched = false;
    const out: AuthCheck[] = [];
    for (const { key, regex } of templates) {
      if (key === uri || regex.test(uri)) {
        matched = true;
        out.push(...(resources.get(key) ?? []));
      }
    }
    return matched ? out : undefined;
  };

  const check = async (
    request: AuthorizationRequest,
    checkOptions?: CheckOptions,
  ): Promise<Decision> => {
    const { operation, subject } = request;
    const own = componentChecks(operation);
    if (defaults === undefined && own === undefined) {
      return {
        allow: false,
        source: "pdp",
        reason: `no check configured for ${describeTarget(operation)}`,
        applicable: false,
      };
    }
    const checks = [...(defaults ?? []), ...(own ?? [])];
    const signal = checkOptions?.signal;
    const context: CheckContext = {
      subject,
      operation,
      request,
      ...(signal !== undefined ? { signal } : {}),
    };
    for (const [index, fn] of checks.entries()) {
      if (signal?.aborted) return ABORTED;
      const label = labelOf(fn, index);
      let answer: unknown;
      try {
        answer = await settle(fn(context), signal);
      } catch (error) {
        if (error instanceof AuthorizationError)
          // The check chose this message for the caller: the guard shows `message` to the client.
          return { allow: false, source: "pdp", reason: error.message, message: error.message };
        try {
          onError(error, { check: label, request });
        } catch {
          // A failing error hook must not turn a deny into a rejection.
        }
        return {
          allow: false,
          source: "error",
          reason: "authorization check failed",
          errorCode: "CHECK_FAILED",
        };
      }
      if (answer === ABORTED) return ABORTED;
      if (!isTrue(answer)) return { allow: false, source: "pdp", reason: `denied by ${label}` };
    }
    return {
      allow: true,
      source: "pdp",
      reason:
        checks.length === 0
          ? "no check required"
          : checks.length === 1
            ? `${labelOf(checks[0] as AuthCheck, 0)} passed`
            : `all ${checks.length} checks passed`,
    };
  };

  return {
    name,
    check,
    checkMany: (requests, checkOptions) => Promise.all(requests.map((r) => check(r, checkOptions))),
  };
}
