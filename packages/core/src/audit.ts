import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import type { Writable } from "node:stream";
import { boundedText } from "./mapping.js";
import type { AuthorizationRequest, Decision, DecisionSource, Subject } from "./model.js";

/**
 * One structured audit record. Secrets (API keys, bearer tokens) never appear in it, and no text
 * field is longer than {@link AUDIT_TEXT_LIMIT} characters: a longer one (a name, URI or request
 * id a client sent) is recorded in its {@link boundedText} form.
 */
export interface AuditEvent {
  /** ISO-8601 time of the decision. */
  readonly time: string;
  /** `decision` for one check; `list` for the summary of a filtered list. */
  readonly type: "decision" | "list";
  readonly pdp: string;
  readonly subject: {
    readonly id: string;
    readonly authenticated: boolean;
    readonly roles?: readonly string[];
    readonly tenant?: string;
  };
  /** Why the caller is unauthenticated (`invalid token (ERR_JWT_EXPIRED)`); never the credential. */
  readonly identity_error?: string;
  readonly method: string;
  readonly phase: "call" | "list";
  readonly resource: { readonly type: string; readonly key?: string };
  readonly action: string;
  readonly allow: boolean;
  readonly reason?: string;
  readonly source: DecisionSource;
  readonly decisionId?: string;
  readonly errorCode?: string;
  /** Milliseconds spent deciding (for a list summary: the whole page). */
  readonly latencyMs: number;
  readonly requestId?: string | number;
  readonly sessionId?: string;
  /** For a list summary: items in the page, and how many were visible. */
  readonly items?: number;
  readonly visible?: number;
}

/** The longest text an audit event records whole; a longer one is recorded shortened. */
export const AUDIT_TEXT_LIMIT = 4096;

/**
 * A value as an audit event records it: a string longer than {@link AUDIT_TEXT_LIMIT} becomes its
 * {@link boundedText} form (whatever a client sends is never written out in full); a number stays.
 */
export function auditText<T extends string | number>(value: T): T {
  return (typeof value === "string" ? boundedText(value, AUDIT_TEXT_LIMIT) : value) as T;
}

/** Receives audit events. `write` must not throw; it should not block. */
export interface AuditSink {
  write(event: AuditEvent): void;
  /** Writes out anything buffered. */
  flush?(): Promise<void>;
  /** Flushes and releases the destination. */
  close?(): Promise<void>;
}

const guardedStreams = new WeakSet<Writable>();

/** Options of {@link jsonLinesAuditSink}. */
export interface JsonLinesAuditSinkOptions {
  /** A stream, or a file path appended to. @defaultValue `process.stderr` (stdout carries stdio MCP traffic) */
  readonly destination?: Writable | string;
}

/** Warns once per failing destination: audit loss is reported, never thrown into a request. */
function warnOnce(what: string): (error: unknown) => void {
  let reported = false;
  return (error) => {
    if (reported) return;
    reported = true;
    process.emitWarning(
      `mcp-pdp ${what} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  };
}

/** Writes one JSON object per line to a stream or file. */
export function jsonLinesAuditSink(options: JsonLinesAuditSinkOptions = {}): AuditSink {
  const dest = options.destination ?? process.stderr;
  const ownStream = typeof dest === "string";
  const stream: Writable =
    typeof dest === "string" ? createWriteStream(dest, { flags: "a" }) : dest;
  // A failing destination must never take the server down.
  const report = warnOnce("audit sink");
  // One listener per stream, however many sinks share it (process.stderr is shared by default).
  if (!guardedStreams.has(stream)) {
    guardedStreams.add(stream);
    stream.on("error", report);
  }
  // Writes not yet handed to the destination; `drain` alone cannot tell (it fires only after a
  // write returned false), so each write's callback is counted.
  let pending = 0;
  let waiters: (() => void)[] = [];
  const settle = (): void => {
    pending--;
    if (pending > 0) return;
    const ready = waiters;
    waiters = [];
    for (const resolve of ready) resolve();
  };
  const flush = (): Promise<void> =>
    pending === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve));
  return {
    write(event) {
      pending++;
      try {
        stream.write(JSON.stringify(event) + "\n", settle);
      } catch (error) {
        settle();
        report(error);
      }
    },
    flush,
    async close() {
      await flush();
      if (!ownStream || stream.destroyed || stream.writableFinished) return;
      await new Promise<void>((resolve) => {
        stream.once("close", resolve);
        stream.end(() => {
          resolve();
        });
      });
    },
  };
}

let stderrSink: AuditSink | undefined;

/** The default sink: JSON lines on stderr, one instance per process. */
export function defaultAuditSink(): AuditSink {
  stderrSink ??= jsonLinesAuditSink({ destination: process.stderr });
  return stderrSink;
}

/** Sends every event to several sinks; a sink that throws does not keep the event from the others. */
export function teeAuditSink(...sinks: readonly AuditSink[]): AuditSink {
  const report = warnOnce("audit sink");
  return {
    write(event) {
      for (const sink of sinks) {
        try {
          sink.write(event);
        } catch (error) {
          report(error);
        }
      }
    },
    async flush() {
      await Promise.all(sinks.map((s) => s.flush?.() ?? Promise.resolve()));
    },
    async close() {
      await Promise.all(sinks.map((s) => s.close?.() ?? Promise.resolve()));
    },
  };
}

/** A sink that drops everything. */
export const noopAuditSink: AuditSink = { write() {} };

/** Copies the decision fields of an audit event. */
export function decisionFields(
  decision: Decision,
): Pick<AuditEvent, "allow" | "reason" | "source" | "decisionId" | "errorCode"> {
  return {
    allow: decision.allow,
    source: decision.source,
    ...(decision.reason !== undefined ? { reason: auditText(decision.reason) } : {}),
    ...(decision.decisionId !== undefined ? { decisionId: auditText(decision.decisionId) } : {}),
    ...(decision.errorCode !== undefined ? { errorCode: auditText(decision.errorCode) } : {}),
  };
}

/**
 * The subject as an audit event records it. An id that is itself a credential
 * ({@link Subject.idIsCredential}) is replaced by `sha256:` and the first 16 bytes of its SHA-256
 * in hex: stable enough to correlate one caller's events, useless as a token.
 */
export function auditSubject(subject: Subject): AuditEvent["subject"] {
  const id =
    subject.idIsCredential === true
      ? `sha256:${createHash("sha256").update(subject.id).digest("hex").slice(0, 32)}`
      : auditText(subject.id);
  return {
    id,
    authenticated: subject.authenticated,
    ...(subject.roles ? { roles: subject.roles } : {}),
    ...(subject.tenant !== undefined ? { tenant: auditText(subject.tenant) } : {}),
  };
}

/** The request and session an audit event belongs to. */
export interface AuditCorrelation {
  readonly requestId?: string | number;
  readonly sessionId?: string;
}

/** The audit event of one decision; `latencyMs` is kept to the microsecond. */
export function decisionEvent(
  pdp: string,
  request: AuthorizationRequest,
  decision: Decision,
  latencyMs: number,
  correlation: AuditCorrelation = {},
): AuditEvent {
  return {
    time: new Date().toISOString(),
    type: "decision",
    pdp,
    subject: auditSubject(request.subject),
    ...identityError(request.subject),
    method: auditText(request.operation.method),
    phase: request.operation.phase,
    resource: {
      type: auditText(request.resource.type),
      ...(request.resource.key !== undefined ? { key: auditText(request.resource.key) } : {}),
    },
    action: auditText(request.action),
    ...decisionFields(decision),
    latencyMs: Math.round(latencyMs * 1000) / 1000,
    ...(correlation.requestId !== undefined ? { requestId: auditText(correlation.requestId) } : {}),
    ...(correlation.sessionId !== undefined ? { sessionId: auditText(correlation.sessionId) } : {}),
  };
}

/** The resolver's reason for an unauthenticated subject, so an operator sees why a token failed. */
export function identityError(subject: Subject): Pick<AuditEvent, "identity_error"> {
  const reason = subject.authenticated ? undefined : subject.attributes?.identity_error;
  return typeof reason === "string" ? { identity_error: reason } : {};
}
