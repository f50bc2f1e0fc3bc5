/**
 * Building blocks shared by the PDP fakes and the conformance suite: a JSON HTTP server on
 * 127.0.0.1 with failure switches, a black-hole server (accepts connections, never answers) and a
 * closed port (refuses connections).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { type Socket, createServer as createTcpServer } from "node:net";
import type { AddressInfo } from "node:net";

/** One request a fake received. */
export interface RecordedRequest {
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The parsed JSON body, or the raw text when it was not JSON (undefined when empty). */
  readonly body: unknown;
}

/**
 * Switches every fake supports. They apply to the decision endpoints (not to health or admin
 * endpoints) until changed; {@link FailureSwitches.reset} turns them all off.
 */
export interface FailureSwitches {
  /** Delays every decision answer by this many milliseconds (0 = none). */
  latency(ms: number): void;
  /** Answers every decision request with this HTTP status and a JSON error body (undefined = off). */
  errorStatus(status: number | undefined): void;
  /** Answers 200 with a body that is not JSON. */
  garbage(on: boolean): void;
  /** Answers 200 with valid JSON of the wrong shape. */
  wrongShape(on: boolean): void;
  /** Answers a bulk request with one decision too few. */
  wrongBulkLength(on: boolean): void;
  /** Turns every switch off and forgets recorded requests. */
  reset(): void;
}

/** What a started fake offers besides its protocol. */
export interface FakeServer extends FailureSwitches {
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Every request received, in order (health and admin included). */
  readonly requests: RecordedRequest[];
  /** The most requests handled at the same time since the last reset. */
  maxInFlight(): number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** The state of the switches, read by a fake's route handlers. */
export interface SwitchState {
  latencyMs: number;
  errorStatus: number | undefined;
  garbage: boolean;
  wrongShape: boolean;
  wrongBulkLength: boolean;
}

/** A JSON answer of a route handler. */
export interface JsonReply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Handles one parsed request; returns undefined for "no such route" (404). */
export type RouteHandler = (
  request: RecordedRequest,
  state: SwitchState,
) => JsonReply | undefined | Promise<JsonReply | undefined>;

/** Options of {@link startJsonServer}. */
export interface JsonServerOptions {
  /** Whether the switches apply to a request (decision endpoints only). */
  readonly isDecision: (request: RecordedRequest) => boolean;
  readonly handle: RouteHandler;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, reply: JsonReply): void {
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...reply.headers,
  });
  res.end(text);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a JSON HTTP server on 127.0.0.1 (random port) that records requests and applies the
 * failure switches to decision endpoints before calling the handler.
 */
export async function startJsonServer(options: JsonServerOptions): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const state: SwitchState = {
    latencyMs: 0,
    errorStatus: undefined,
    garbage: false,
    wrongShape: false,
    wrongBulkLength: false,
  };
  const sockets = new Set<Socket>();
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on("close", () => {
      inFlight--;
    });
    void (async () => {
      const text = await readBody(req);
      let body: unknown = undefined;
      if (text !== "") {
        try {
          body = JSON.parse(text) as unknown;
        } catch {
          body = text;
        }
      }
      const recorded: RecordedRequest = {
        method: req.method ?? "GET",
        path: req.url ?? "/",
        headers: req.headers,
        body,
      };
      requests.push(recorded);
      if (options.isDecision(recorded)) {
        if (state.latencyMs > 0) await sleep(state.latencyMs);
        if (res.destroyed) return;
        if (state.errorStatus !== undefined) {
          sendJson(res, { status: state.errorStatus, body: { error: "injected failure" } });
          return;
        }
        if (state.garbage) {
          res.writeHead(200, { "content-type": "application/json" });
          res.end("<html>not json{");
          return;
        }
      }
      const reply = await options.handle(recorded, state);
      if (res.destroyed) return;
      sendJson(res, reply ?? { status: 404, body: { detail: "Not Found" } });
    })().catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, { status: 500, body: { error: String(error) } });
      else res.destroy();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    maxInFlight: () => maxInFlight,
    latency(ms) {
      state.latencyMs = ms;
    },
    errorStatus(status) {
      state.errorStatus = status;
    },
    garbage(on) {
      state.garbage = on;
    },
    wrongShape(on) {
      state.wrongShape = on;
    },
    wrongBulkLength(on) {
      state.wrongBulkLength = on;
    },
    reset() {
      state.latencyMs = 0;
      state.errorStatus = undefined;
      state.garbage = false;
      state.wrongShape = false;
      state.wrongBulkLength = false;
      requests.length = 0;
      maxInFlight = inFlight;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}

/** A server that accepts TCP connections and never answers: every request to it times out. */
export interface BlackHole {
  readonly url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Starts a {@link BlackHole} on 127.0.0.1. */
export async function startBlackHole(): Promise<BlackHole> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createTcpServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}

/**
 * A URL on 127.0.0.1 where nothing listens (a port that was bound, then released): connecting to it
 * is refused.
 */
export async function closedPortUrl(): Promise<string> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return `http://127.0.0.1:${port}`;
}
