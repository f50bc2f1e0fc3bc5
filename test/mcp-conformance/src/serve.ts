/**
 * Hosts the SDK 1.x everything server over Streamable HTTP on loopback, either as it is or guarded by
 * `authorize()` the way a user guards an SDK 1.x server: one server and one transport per session,
 * `authorize()` on each server before `connect()`. The two hosts differ in that call only, so any
 * scenario that passes on one and fails on the other is mcp-pdp's doing.
 */
import { randomUUID } from "node:crypto";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { authorize, type GuardOptions } from "@mcp-pdp/mcp";
import { createMcpExpressApp } from "@modelcontextprotocol/sdk/server/express.js";
import {
  type EventStore,
  StreamableHTTPServerTransport,
} from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Request, Response } from "express";
import { createEverythingServer } from "./everything.ts";

export interface Hosted {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Keeps every event of a session so a client that lost its SSE stream can resume with
 * Last-Event-ID (the polling scenario closes the stream on purpose).
 */
function memoryEventStore(): EventStore {
  const events: { id: string; stream: string; message: JSONRPCMessage }[] = [];
  return {
    storeEvent(stream, message) {
      const id = `${stream}_${events.length}`;
      events.push({ id, stream, message });
      return Promise.resolve(id);
    },
    getStreamIdForEventId(eventId) {
      return Promise.resolve(events.find((e) => e.id === eventId)?.stream);
    },
    async replayEventsAfter(lastEventId, { send }) {
      const at = events.findIndex((e) => e.id === lastEventId);
      const stream = events[at]?.stream ?? "";
      for (const event of events.slice(at + 1)) {
        if (event.stream === stream) await send(event.id, event.message);
      }
      return stream;
    },
  };
}

export async function serveEverything(guard?: GuardOptions): Promise<Hosted> {
  // Host-header validation for 127.0.0.1: the DNS rebinding scenario expects it.
  const app = createMcpExpressApp({ host: "127.0.0.1" });
  const sessions = new Map<string, StreamableHTTPServerTransport>();

  const newServer = () => {
    const server = createEverythingServer();
    if (guard) authorize(server, guard);
    return server;
  };

  const handle = async (req: Request, res: Response) => {
    const id = req.header("mcp-session-id");
    if (id !== undefined) {
      const transport = sessions.get(id);
      if (transport) await transport.handleRequest(req, res, req.body);
      else
        res.status(404).json({
          jsonrpc: "2.0",
          error: { code: -32001, message: "Session not found" },
          id: null,
        });
      return;
    }
    if (req.method === "POST" && isInitializeRequest(req.body)) {
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore: memoryEventStore(),
        retryInterval: 100,
        onsessioninitialized: (sid) => {
          sessions.set(sid, transport);
        },
      });
      transport.onclose = () => {
        if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
      };
      await newServer().connect(transport);
      await transport.handleRequest(req, res, req.body);
      return;
    }
    // No session and no initialize: answered statelessly by a server of its own.
    // No generator: a stateless transport.
    const transport = new StreamableHTTPServerTransport({});
    const server = newServer();
    res.on("close", () => {
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  };
  app.all("/mcp", (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent)
        res
          .status(500)
          .json({ jsonrpc: "2.0", error: { code: -32603, message: String(error) }, id: null });
    });
  });

  const http: HttpServer = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => {
      resolve(s);
    });
  });
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    async close() {
      await Promise.all([...sessions.values()].map((t) => t.close()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => {
        http.close(() => {
          resolve();
        });
      });
    },
  };
}
