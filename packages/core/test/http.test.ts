import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  ConfigError,
  JsonHttpClient,
  Limiter,
  checkInChunks,
  errorDecision,
  integerOption,
  failureDecisions,
  mapInChunks,
  mapWithConcurrency,
  statusFailureCode,
} from "../src/index.js";

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let url: string;
let handler: Handler = (_req, res) => res.end("{}");
const seen: { path: string; headers: IncomingMessage["headers"]; body: string }[] = [];
const sockets = new Set<Socket>();
const clients: JsonHttpClient[] = [];

function client(options: Partial<ConstructorParameters<typeof JsonHttpClient>[0]> = {}) {
  const c = new JsonHttpClient({ url, name: "test", ...options });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ path: req.url ?? "", headers: req.headers, body });
      handler(req, res, body);
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  seen.length = 0;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

const shape = z.object({ allow: z.boolean() });

describe("JsonHttpClient", () => {
  it("posts JSON with the configured headers and validates the answer", async () => {
    handler = (_req, res, body) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ allow: (JSON.parse(body) as { n: number }).n === 1 }));
    };
    const c = client({ headers: { authorization: "Bearer secret-key" } });
    const outcome = await c.post("/check", { n: 1 }, shape);
    expect(outcome).toEqual({ ok: true, status: 200, body: { allow: true } });
    expect(seen[0]?.headers.authorization).toBe("Bearer secret-key");
    expect(seen[0]?.headers["content-type"]).toBe("application/json");
  });

  it("keeps the path prefix of the base URL", async () => {
    handler = (_req, res) => res.end('{"allow":false}');
    const outcome = await client({ url: `${url}/prefix/` }).get("/v1/x", shape);
    expect(outcome.ok).toBe(true);
    expect(seen[0]?.path).toBe("/prefix/v1/x");
  });

  it("maps statuses to failure codes and keeps the status", async () => {
    for (const [status, code] of [
      [401, "PDP_UNAUTHORIZED"],
      [403, "PDP_UNAUTHORIZED"],
      [500, "PDP_ERROR"],
      [503, "PDP_UNAVAILABLE"],
      [404, "PDP_ERROR"],
    ] as const) {
      handler = (_req, res) => {
        res.statusCode = status;
        res.end('{"error":"x"}');
      };
      const outcome = await client().post("/c", {}, shape);
      expect(outcome).toMatchObject({ ok: false, code, status });
    }
    expect(statusFailureCode(429)).toBe("PDP_UNAVAILABLE");
  });

  it("accepts extra statuses as success when asked", async () => {
    handler = (_req, res) => {
      res.statusCode = 207;
      res.end('{"allow":true}');
    };
    expect((await client().post("/c", {}, shape, { acceptStatus: [207] })).ok).toBe(true);
    handler = (_req, res) => {
      res.statusCode = 404;
      res.end('{"allow":true}');
    };
    expect(await client().post("/c", {}, shape, { acceptStatus: [207] })).toMatchObject({
      ok: false,
      status: 404,
    });
  });

  it("fails with PDP_BAD_RESPONSE on a body that is not JSON or has the wrong shape", async () => {
    handler = (_req, res) => res.end("<html>");
    expect(await client().post("/c", {}, shape)).toMatchObject({
      ok: false,
      code: "PDP_BAD_RESPONSE",
    });
    handler = (_req, res) => res.end('{"allow":"yes"}');
    const outcome = await client().post("/c", {}, shape);
    expect(outcome).toMatchObject({ ok: false, code: "PDP_BAD_RESPONSE" });
    expect(!outcome.ok && outcome.reason).toContain("allow");
  });

  it("fails with PDP_BAD_RESPONSE on a body above the size limit", async () => {
    handler = (_req, res) => res.end(JSON.stringify({ allow: true, pad: "x".repeat(5000) }));
    expect(await client({ maxResponseBytes: 1000 }).post("/c", {}, shape)).toMatchObject({
      ok: false,
      code: "PDP_BAD_RESPONSE",
    });
  });

  it("times out a slow answer, the body included", async () => {
    handler = (_req, res) => {
      res.write('{"allow":');
      setTimeout(() => res.end("true}"), 500);
    };
    expect(await client({ timeoutMs: 100 }).post("/c", {}, shape)).toMatchObject({
      ok: false,
      code: "PDP_TIMEOUT",
    });
  });

  it("reports the caller's abort as PDP_ABORTED, distinct from its own timeout", async () => {
    handler = (_req, res) => setTimeout(() => res.end('{"allow":true}'), 500);
    const controller = new AbortController();
    const pending = client({ timeoutMs: 5000 }).post("/c", {}, shape, {
      signal: controller.signal,
    });
    setTimeout(() => {
      controller.abort();
    }, 30);
    expect(await pending).toMatchObject({ ok: false, code: "PDP_ABORTED" });
    expect(await client().post("/c", {}, shape, { signal: AbortSignal.abort() })).toMatchObject({
      ok: false,
      code: "PDP_ABORTED",
    });
  });

  it("reports a refused connection and a closed client as PDP_UNAVAILABLE", async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    expect(await client({ url: `http://127.0.0.1:${port}` }).get("/", shape)).toMatchObject({
      ok: false,
      code: "PDP_UNAVAILABLE",
    });
    const c = client();
    await c.close();
    await c.close();
    expect(await c.get("/", shape)).toMatchObject({ ok: false, code: "PDP_UNAVAILABLE" });
  });

  it("never puts header values in a reason", async () => {
    const key = "sk-very-secret-0123456789";
    handler = (_req, res) => res.end(JSON.stringify({ allow: key }));
    const c = client({ headers: { authorization: `Bearer ${key}` } });
    const reasons: string[] = [];
    for (const status of [200, 401, 500]) {
      handler = (_req, res) => {
        res.statusCode = status;
        res.end(JSON.stringify({ allow: key, message: `bad key ${key}` }));
      };
      const outcome = await c.post("/c", { key }, shape);
      if (!outcome.ok) reasons.push(outcome.reason);
    }
    expect(reasons).toHaveLength(3);
    for (const r of reasons) expect(r).not.toContain(key);
    // An error message that quotes only the credential, without its scheme, is scrubbed too.
    const bad = client({
      url: "http://127.0.0.1:1",
      headers: { authorization: `Bearer ${key}\n` },
    });
    const outcome = await bad.get("/", shape);
    expect(outcome.ok).toBe(false);
    expect(JSON.stringify(outcome)).not.toContain(key);
  });

  it("refuses bad configuration", () => {
    expect(() => new JsonHttpClient({ url: "not a url", name: "x" })).toThrow(ConfigError);
    expect(() => new JsonHttpClient({ url: "//pdp?token=tok_4f9a", name: "x" })).toThrow(
      /^x: the PDP URL is not a valid URL; expected http\(s\):\/\/host\[:port\]\[\/path\]$/,
    );
    expect(() => new JsonHttpClient({ url: "ftp://h", name: "x" })).toThrow(/http or https/);
    expect(() => new JsonHttpClient({ url: "http://u:p@h", name: "x" })).toThrow(/credentials/);
    expect(() => new JsonHttpClient({ url, name: "x", timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});

describe("failure helpers", () => {
  it("builds error denies", () => {
    expect(errorDecision("slow", "PDP_TIMEOUT")).toEqual({
      allow: false,
      source: "error",
      reason: "slow",
      errorCode: "PDP_TIMEOUT",
    });
    expect(failureDecisions({ code: "PDP_ERROR", reason: "x" }, 3)).toHaveLength(3);
  });

  it("maps with bounded concurrency in order", async () => {
    let active = 0;
    let peak = 0;
    const out = await mapWithConcurrency([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 5 * (8 - n)));
      active--;
      return n * 2;
    });
    expect(out).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(peak).toBe(3);
    expect(await mapWithConcurrency([], 3, async () => 1)).toEqual([]);
  });

  it("splits into chunks of at most the size, never empty, answers in order", async () => {
    const seenChunks: number[][] = [];
    const out = await mapInChunks([1, 2, 3, 4, 5, 6, 7], 3, 2, async (chunk, offset) => {
      seenChunks.push([...chunk]);
      await new Promise((r) => setTimeout(r, chunk.length === 1 ? 1 : 10));
      return chunk.map((n, i) => `${offset + i}:${n}`);
    });
    expect(out).toEqual(["0:1", "1:2", "2:3", "3:4", "4:5", "5:6", "6:7"]);
    expect(seenChunks.map((c) => c.length).sort()).toEqual([1, 3, 3]);
    expect(await mapInChunks([], 3, 2, async () => ["x"])).toEqual([]);
    await expect(mapInChunks([1], 0, 1, async () => [])).rejects.toThrow(ConfigError);
  });

  it("lets at most max holders through a Limiter, and drops a waiter whose signal fires", async () => {
    const limiter = new Limiter(2);
    expect(await limiter.acquire()).toBe(true);
    expect(await limiter.acquire()).toBe(true);
    const controller = new AbortController();
    const impatient = limiter.acquire(controller.signal);
    let third = false;
    const waiting = limiter.acquire().then((held) => (third = held));
    controller.abort();
    expect(await impatient).toBe(false);
    await new Promise((r) => setTimeout(r, 5));
    expect(third).toBe(false);
    limiter.release();
    await waiting;
    expect(third).toBe(true);
  });

  it("checks in chunks, denying only the chunk whose answer has the wrong length", async () => {
    const sent: number[][] = [];
    const decisions = await checkInChunks([1, 2, 3, 4, 5], {
      name: "pdp",
      build: (n: number) => n * 10,
      size: 2,
      concurrency: 2,
      send: (chunk) => {
        sent.push([...chunk]);
        const answers = chunk.includes(30) ? [true] : chunk.map((q) => q !== 20);
        return Promise.resolve({ ok: true as const, status: 200, body: answers });
      },
      decide: (allow) => ({ allow, source: "pdp" as const }),
    });
    expect(sent).toEqual([[10, 20], [30, 40], [50]]);
    expect(decisions.map((d) => d.errorCode ?? d.allow)).toEqual([
      true,
      false,
      "PDP_BAD_RESPONSE",
      "PDP_BAD_RESPONSE",
      true,
    ]);
    expect(decisions[2]?.reason).toBe("pdp PDP answered 1 decisions to a bulk check of 2");
  });

  it("checks in chunks: a failed call denies its chunk, a failing build denies all, none is sent empty", async () => {
    const send = (chunk: readonly number[]) =>
      Promise.resolve(
        chunk[0] === 1
          ? { ok: false as const, code: "PDP_TIMEOUT" as const, reason: "slow" }
          : { ok: true as const, status: 200, body: chunk.map(() => true) },
      );
    const base = {
      name: "pdp",
      size: 1,
      concurrency: 1,
      send,
      decide: (a: boolean) => ({ allow: a, source: "pdp" as const }),
    };
    const failed = await checkInChunks([1, 2], { ...base, build: (n: number) => n });
    expect(failed.map((d) => d.errorCode ?? d.allow)).toEqual(["PDP_TIMEOUT", true]);
    const thrown = await checkInChunks([1, 2], {
      ...base,
      build: () => {
        throw new Error("no such user");
      },
    });
    expect(thrown).toEqual([
      errorDecision("pdp: building the request failed: no such user", "PDP_ERROR"),
      errorDecision("pdp: building the request failed: no such user", "PDP_ERROR"),
    ]);
    let calls = 0;
    expect(
      await checkInChunks([], {
        ...base,
        build: (n: number) => n,
        send: () => {
          calls++;
          return send([2]);
        },
      }),
    ).toEqual([]);
    expect(calls).toBe(0);
  });

  it("validates integer options, naming the option", () => {
    expect(integerOption("pdp", "size", undefined, 7)).toBe(7);
    expect(integerOption("pdp", "size", 0, 7, 0)).toBe(0);
    expect(() => integerOption("pdp", "size", 0, 7)).toThrow(
      "pdp: size must be an integer of at least 1, got 0",
    );
    expect(() => integerOption("pdp", "size", 1.5, 7, 1, 10)).toThrow(
      "pdp: size must be an integer from 1 to 10, got 1.5",
    );
    expect(() => integerOption("pdp", "size", 11, 7, 1, 10)).toThrow(ConfigError);
  });
});
