/**
 * Hosts the SDK v2 everything server the way v2 serves HTTP: `createMcpHandler(factory)`, a fresh
 * server per request, both eras on one endpoint. Guarded, the factory is wrapped exactly as a user
 * wraps theirs, `createMcpHandler(authorizeFactory(factory, options))`, so the two hosts differ in
 * that call only. v2's handler is web-standard (`Request` in, `Response` out); the few lines below
 * put it on `node:http` so the runner reaches it over a real socket, streams included.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { authorizeFactory, type GuardOptions } from "@mcp-pdp/mcp";
import {
  createMcpHandler,
  hostHeaderValidationResponse,
  localhostAllowedHostnames,
  type McpHttpHandler,
} from "@modelcontextprotocol/server";
import { createEverythingServerV2 } from "./everything-v2.ts";
import type { Hosted } from "./serve.ts";

function toRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const v of [value ?? []].flat()) headers.append(name, v);
  }
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  return new Request(`http://${req.headers.host ?? "127.0.0.1"}${req.url ?? "/"}`, {
    method: req.method ?? "GET",
    headers,
    signal,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream, duplex: "half" } : {}),
  });
}

async function send(response: Response, res: ServerResponse): Promise<void> {
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (!response.body) {
    res.end();
    return;
  }
  // Chunk by chunk, so an SSE stream reaches the client as it is written.
  for await (const chunk of Readable.fromWeb(response.body)) {
    res.write(chunk);
  }
  res.end();
}

export async function serveEverythingV2(guard?: GuardOptions): Promise<Hosted> {
  // The list-changing tools publish on the handler built from their factory; it is only ever
  // called for a request, once the handler exists.
  const factory = () =>
    createEverythingServerV2({
      toolsChanged: () => {
        mcp.notify.toolsChanged();
      },
      promptsChanged: () => {
        mcp.notify.promptsChanged();
      },
    });
  const mcp: McpHttpHandler = createMcpHandler(guard ? authorizeFactory(factory, guard) : factory, {
    keepAliveMs: 0,
  });
  const allowedHosts = localhostAllowedHostnames();

  const http = createServer((req, res) => {
    const aborted = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) aborted.abort();
    });
    const request = toRequest(req, aborted.signal);
    // Host-header validation for loopback: the DNS rebinding scenario expects it.
    const rejected = hostHeaderValidationResponse(request, allowedHosts);
    (rejected ? Promise.resolve(rejected) : mcp.fetch(request))
      .then((response) => send(response, res))
      .catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(error));
      });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    async close() {
      await mcp.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => {
        http.close(() => {
          resolve();
        });
      });
    },
  };
}
