import { createWriteStream } from "node:fs";
import type { Writable } from "node:stream";
import type { Decision, DecisionSource } from "./model.js";

/** One structured audit record. Secrets (API keys, bearer tokens) never appear in it. */
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

/** Receives audit events. `write` must not throw; it should not block. */
export interface AuditSink {
  write(event: AuditEvent): void;
  /** Writes out anything buffered. */
  flush?(): Promise<void>;
  /** Flushes and releases the destination. */
  close?(): Promise<void>;
}

/** Options of {@link jsonLinesAuditSink}. */
export interface JsonLinesAuditSinkOptions {
  /** A stream, or a file path appended to. @defaultValue `process.stderr` (stdout carries stdio MCP traffic) */
  readonly destination?: Writable | string;
}

/** Writes one JSON object per line to a stream or file. */
export function jsonLinesAuditSink(options: JsonLinesAuditSinkOptions = {}): AuditSink {
  const dest = options.destination ?? process.stderr;
  const ownStream = typeof dest === "string";
  const stream: Writable =
    typeof dest === "string" ? createWriteStream(dest, { flags: "a" }) : dest;
  // A failing destination must never take the server down; audit loss is reported once.
  let reported = false;
  stream.on("error", (error: Error) => {
    if (!reported) process.emitWarning(`mcp-pdp audit sink failed: ${error.message}`);
    reported = true;
  });
  return {
    write(event) {
      stream.write(JSON.stringify(event) + "\n");
    },
    flush() {
      return new Promise((resolve) => {
        if (stream.writableLength === 0) resolve();
        else
          stream.once("drain", () => {
            resolve();
          });
      });
    },
    close() {
      if (!ownStream) return Promise.resolve();
      return new Promise((resolve) =>
        stream.end(() => {
          resolve();
        }),
      );
    },
  };
}

let stderrSink: AuditSink | undefined;

/** The default sink: JSON lines on stderr, one instance per process. */
export function defaultAuditSink(): AuditSink {
  stderrSink ??= jsonLinesAuditSink({ destination: process.stderr });
  return stderrSink;
}

/** Sends every event to several sinks. */
export function teeAuditSink(...sinks: readonly AuditSink[]): AuditSink {
  return {
    write(event) {
      for (const sink of sinks) sink.write(event);
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
    ...(decision.reason !== undefined ? { reason: decision.reason } : {}),
    ...(decision.decisionId !== undefined ? { decisionId: decision.decisionId } : {}),
    ...(decision.errorCode !== undefined ? { errorCode: decision.errorCode } : {}),
  };
}
