import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  type AuditEvent,
  type AuditSink,
  decisionFields,
  jsonLinesAuditSink,
  noopAuditSink,
  teeAuditSink,
} from "../src/audit.js";
import { memoryAuditSink } from "../src/testing.js";

function event(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    time: new Date().toISOString(),
    type: "decision",
    pdp: "test",
    subject: { id: "ada", authenticated: true, roles: ["admin"] },
    method: "tools/call",
    phase: "call",
    resource: { type: "mcp_server" },
    action: "greet",
    allow: true,
    source: "pdp",
    latencyMs: 1.5,
    requestId: 7,
    sessionId: "s1",
    ...overrides,
  };
}

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

function lines(text: string): unknown[] {
  expect(text.endsWith("\n")).toBe(true);
  return text
    .slice(0, -1)
    .split("\n")
    .map((l) => JSON.parse(l) as unknown);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mcp-pdp-audit-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("jsonLinesAuditSink", () => {
  it("writes one parseable JSON object per line to a stream", async () => {
    const { stream, text } = collect();
    const sink = jsonLinesAuditSink({ destination: stream });
    const a = event({ action: "a" });
    const b = event({ action: "b\nwith a newline", allow: false, reason: 'quote " here' });
    sink.write(a);
    sink.write(b);
    await sink.flush?.();
    expect(lines(text())).toEqual([a, b]);
  });

  it("appends to a file, keeping what was there", async () => {
    const path = join(dir, "append.jsonl");
    const first = jsonLinesAuditSink({ destination: path });
    first.write(event({ action: "one" }));
    await first.close?.();
    const second = jsonLinesAuditSink({ destination: path });
    second.write(event({ action: "two" }));
    second.write(event({ action: "three" }));
    await second.close?.();
    const written = lines(await readFile(path, "utf8")) as AuditEvent[];
    expect(written.map((e) => e.action)).toEqual(["one", "two", "three"]);
  });

  it("has every event on disk once flush resolves", async () => {
    const path = join(dir, "flush.jsonl");
    const sink = jsonLinesAuditSink({ destination: path });
    sink.write(event({ action: "x" }));
    sink.write(event({ action: "y" }));
    await sink.flush?.();
    const written = lines(await readFile(path, "utf8")) as AuditEvent[];
    expect(written.map((e) => e.action)).toEqual(["x", "y"]);
    await sink.close?.();
  });

  it("flushes immediately when nothing is pending", async () => {
    const { stream } = collect();
    const sink = jsonLinesAuditSink({ destination: stream });
    await expect(sink.flush?.()).resolves.toBeUndefined();
  });

  it("writes out pending events on close and leaves a stream it does not own open", async () => {
    const { stream, text } = collect();
    const sink = jsonLinesAuditSink({ destination: stream });
    sink.write(event());
    await sink.close?.();
    expect(lines(text())).toHaveLength(1);
    expect(stream.writableEnded).toBe(false);
  });

  it("never throws when the stream fails, and reports the failure once", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const failing = new Writable({
        write(_chunk, _encoding, callback) {
          callback(new Error("disk full"));
        },
      });
      const sink = jsonLinesAuditSink({ destination: failing });
      expect(() => {
        sink.write(event());
        sink.write(event());
      }).not.toThrow();
      await new Promise((resolve) => setImmediate(resolve));
      expect(() => {
        sink.write(event());
      }).not.toThrow();
      await expect(sink.flush?.()).resolves.toBeUndefined();
      await expect(sink.close?.()).resolves.toBeUndefined();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toContain("disk full");
    } finally {
      warn.mockRestore();
    }
  });

  it("never throws when the stream's write itself throws", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const throwing = new PassThrough();
      throwing.write = () => {
        throw new Error("boom");
      };
      const sink = jsonLinesAuditSink({ destination: throwing });
      expect(() => {
        sink.write(event());
      }).not.toThrow();
      await expect(sink.flush?.()).resolves.toBeUndefined();
    } finally {
      warn.mockRestore();
    }
  });

  it("never throws when the file cannot be opened", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const sink = jsonLinesAuditSink({ destination: join(dir, "missing", "dir", "audit.jsonl") });
      expect(() => {
        sink.write(event());
      }).not.toThrow();
      await expect(sink.flush?.()).resolves.toBeUndefined();
      await expect(sink.close?.()).resolves.toBeUndefined();
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
    }
  });
});

describe("teeAuditSink", () => {
  it("sends every event to every sink", async () => {
    const a = memoryAuditSink();
    const b = memoryAuditSink();
    const tee = teeAuditSink(a, b);
    const e = event();
    tee.write(e);
    await tee.flush?.();
    await tee.close?.();
    expect(a.events).toEqual([e]);
    expect(b.events).toEqual([e]);
  });

  it("flushes and closes every sink that can", async () => {
    const calls: string[] = [];
    const sink = (name: string): AuditSink => ({
      write() {},
      flush: () => {
        calls.push(`flush ${name}`);
        return Promise.resolve();
      },
      close: () => {
        calls.push(`close ${name}`);
        return Promise.resolve();
      },
    });
    const tee = teeAuditSink(sink("a"), noopAuditSink, sink("b"));
    await tee.flush?.();
    await tee.close?.();
    expect(calls.sort()).toEqual(["close a", "close b", "flush a", "flush b"]);
  });

  it("still delivers to the other sinks when one throws", () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const broken: AuditSink = {
        write() {
          throw new Error("broken sink");
        },
      };
      const after = memoryAuditSink();
      const tee = teeAuditSink(broken, after);
      expect(() => {
        tee.write(event());
      }).not.toThrow();
      expect(after.events).toHaveLength(1);
    } finally {
      warn.mockRestore();
    }
  });
});

describe("memoryAuditSink", () => {
  it("keeps events in order and clears them", () => {
    const sink = memoryAuditSink();
    sink.write(event({ action: "1" }));
    sink.write(event({ action: "2" }));
    expect(sink.events.map((e) => e.action)).toEqual(["1", "2"]);
    sink.clear();
    expect(sink.events).toEqual([]);
  });
});

describe("noopAuditSink and decisionFields", () => {
  it("drops events without throwing", () => {
    expect(() => {
      noopAuditSink.write(event());
    }).not.toThrow();
  });

  it("copies only the decision fields that are set", () => {
    expect(decisionFields({ allow: true, source: "cache" })).toEqual({
      allow: true,
      source: "cache",
    });
    expect(
      decisionFields({
        allow: false,
        source: "error",
        reason: "timeout",
        decisionId: "d1",
        errorCode: "PDP_TIMEOUT",
        applicable: false,
      }),
    ).toEqual({
      allow: false,
      source: "error",
      reason: "timeout",
      decisionId: "d1",
      errorCode: "PDP_TIMEOUT",
    });
  });
});
