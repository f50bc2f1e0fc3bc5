/** Stable string codes of every error mcp-pdp raises or records in an error decision. */
export type McpPdpErrorCode =
  | "PDP_UNAVAILABLE"
  | "PDP_TIMEOUT"
  | "PDP_ABORTED"
  | "PDP_BAD_RESPONSE"
  | "PDP_UNAUTHORIZED"
  | "PDP_ERROR"
  | "CIRCUIT_OPEN"
  | "CONFIG_INVALID"
  | "POLICY_INVALID"
  | "IDENTITY_INVALID"
  | "CHECK_FAILED"
  | "REQUEST_INVALID";

/** Marks mcp-pdp errors in a way that survives duplicated copies of this module (`instanceof` does not). */
const ERROR_BRAND = Symbol.for("mcp-pdp.error");

/**
 * Base class of every error mcp-pdp throws. These are local errors: they never cross the wire as
 * they are (the guard turns a failure into a deny with a safe reason).
 */
export class McpPdpError extends Error {
  readonly code: McpPdpErrorCode;

  constructor(code: McpPdpErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, ERROR_BRAND, { value: true });
  }
}

/** A configuration value (option or environment variable) is invalid. */
export class ConfigError extends McpPdpError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONFIG_INVALID", message, options);
  }
}

/** A policy document is invalid. The message names the file, the rule and the field. */
export class PolicyError extends McpPdpError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("POLICY_INVALID", message, options);
  }
}

/** A PDP could not be asked, or answered something unusable. */
export class PdpError extends McpPdpError {}

/**
 * Thrown by an authorization check to deny with its own message (which is shown to the client).
 * Any other exception thrown by a check denies with a generic reason.
 */
export class AuthorizationError extends Error {
  constructor(message = "Unauthorized") {
    super(message);
    this.name = "AuthorizationError";
  }
}

/** Whether a value is an mcp-pdp error (works across duplicated module copies). */
export function isMcpPdpError(value: unknown): value is McpPdpError {
  return (
    value instanceof McpPdpError ||
    (typeof value === "object" &&
      value !== null &&
      (value as Record<symbol, unknown>)[ERROR_BRAND] === true)
  );
}

/** A short, secret-free description of an unknown thrown value. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Checks an integer option: `undefined` gives `fallback`; a value that is not an integer from
 * `min` to `max` throws a {@link ConfigError} naming `where` and the option.
 */
export function integerOption(
  where: string,
  name: string,
  value: number | undefined,
  fallback: number,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(`${where}: ${name} must be an integer ${range}, got ${String(value)}`);
  }
  return value;
}
