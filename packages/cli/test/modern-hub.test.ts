import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import {
  PerRequestHTTPServerTransport,
  classifyInboundRequest,
} from "@modelcontextprotocol/server";
import { describe, expect, it } from "vitest";
import { PerRequestHTTPHub } from "../src/proxy/modern.js";

const MODERN = "2026-07-28";
const STAMP = "io.modelcontextprotocol/subscriptionId";
const ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": MODERN,
  "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

/** One exchange of `body` joined to `hub`: the hub's id of its request, and its HTTP response. */
async function exchange(
  hub: PerRequestHTTPHub,
  seen: JSONRPCMessage[],
  body: Record<string, unknown>,
): Promise<{ hubId: number; response: Promise<Response> }> {
  const route = classifyInboundRequest({ httpMethod: "POST", body, protocolVersionHeader: MODERN });
  if (route.kind !== "modern") throw new Error(`not a 2026-07-28 request: ${route.kind}`);
  const transport = new PerRequestHTTPServerTransport({ classification: route.classification });
  hub.attach(transport, {});
  await transport.start();
  const response = transport.handleMessage(route.message);
  const hubId = (seen.at(-1) as { id: number }).id;
  return { hubId, response };
}

/** The JSON-RPC messages of a finished SSE response. */
async function frames(response: Response): Promise<Record<string, unknown>[]> {
  const text = await response.text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("data: "))
    .map((line) => JSON.parse(line.slice("data: ".length)) as Record<string, unknown>);
}

function updated(stamp: unknown): JSONRPCMessage {
  return {
    jsonrpc: "2.0",
    method: "notifications/resources/updated",
    params: { uri: "note://a", _meta: { [STAMP]: stamp } },
  };
}

describe("PerRequestHTTPHub (the 2026-07-28 HTTP front's side of the shared bridge)", () => {
  it("sends a notification stamped with a listen's id to that listen's stream alone, under the caller's id, and ends the stream with its final result; one stamped with any other id goes nowhere", async () => {
    const hub = new PerRequestHTTPHub();
    const seen: JSONRPCMessage[] = [];
    hub.onmessage = (message) => {
      seen.push(message);
    };
    const listen = await exchange(hub, seen, {
      jsonrpc: "2.0",
      id: "x",
      method: "subscriptions/listen",
      params: { notifications: { resourceSubscriptions: ["note://a"] }, _meta: ENVELOPE },
    });
    const call = await exchange(hub, seen, {
      jsonrpc: "2.0",
      id: "x",
      method: "tools/call",
      params: { name: "t", arguments: {}, _meta: ENVELOPE },
    });
    expect(listen.hubId).not.toBe(call.hubId);

    // Stamped with a request that is no listen (even related to it), or with no exchange's id.
    await hub.send(updated(call.hubId), { relatedRequestId: call.hubId });
    await hub.send(updated(999));
    await hub.send(updated("x"));
    await hub.send(updated(listen.hubId));
    await hub.send({
      jsonrpc: "2.0",
      id: call.hubId,
      result: { resultType: "complete", content: [] },
    });
    await hub.send({
      jsonrpc: "2.0",
      id: listen.hubId,
      result: { resultType: "complete", _meta: { [STAMP]: listen.hubId } },
    });

    const answered = await call.response;
    expect(answered.headers.get("content-type")).toBe("application/json");
    expect(await answered.json()).toMatchObject({ id: "x", result: { content: [] } });
    const streamed = await listen.response;
    expect(streamed.headers.get("content-type")).toBe("text/event-stream");
    expect(await frames(streamed)).toEqual([
      {
        jsonrpc: "2.0",
        method: "notifications/resources/updated",
        params: { uri: "note://a", _meta: { [STAMP]: "x" } },
      },
      { jsonrpc: "2.0", id: "x", result: { resultType: "complete", _meta: { [STAMP]: "x" } } },
    ]);
    expect(hub.open).toBe(0);
  });

  it("tells the server at once that a request of its has no 2026-07-28 HTTP caller to go to, and why", async () => {
    const hub = new PerRequestHTTPHub();
    const seen: JSONRPCMessage[] = [];
    hub.onmessage = (message) => {
      seen.push(message);
    };
    await hub.send({ jsonrpc: "2.0", id: 3, method: "elicitation/create", params: {} });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(seen).toEqual([
      {
        jsonrpc: "2.0",
        id: 3,
        error: {
          code: -32601,
          message: expect.stringMatching(
            /elicitation\/create.*2026-07-28.*input_required/,
          ) as unknown,
        },
      },
    ]);
  });
});
