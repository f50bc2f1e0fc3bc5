import { Authorizer, type RequestContext } from "@mcp-pdp/core";
import { memoryAuditSink } from "@mcp-pdp/core/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type EunomiaFake, startEunomiaFake } from "../../../test/fakes/eunomia.js";
import { type EunomiaAuthorizeOptions, eunomiaOptionsFromEnv } from "../src/index.js";

let fake: EunomiaFake;
const opened: EunomiaAuthorizeOptions[] = [];

beforeAll(async () => {
  fake = await startEunomiaFake({ policy: () => true });
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.pdp.close()));
  fake.reset();
  fake.setPolicy(() => true);
});
afterAll(() => fake.close());

function authorizer(audit: false | ReturnType<typeof memoryAuditSink> = false): Authorizer {
  const options = eunomiaOptionsFromEnv({}, { EUNOMIA_ENDPOINT: fake.url });
  opened.push(options);
  return new Authorizer({ ...options, audit });
}

/** eunomia-mcp's principal for the agent `bot` with no user headers, plus `extra` attributes. */
const bot = (extra: Record<string, unknown> = {}) => ({
  uri: "agent:bot",
  attributes: { agent_id: "bot", user_id: "unknown", user_agent: "undefined", ...extra },
});

/** What eunomia-mcp 0.3.10 sends as the principal for the given request headers. */
const cases: {
  name: string;
  headers: Record<string, string>;
  principal: { uri: string; attributes: Record<string, unknown> };
}[] = [
  {
    name: "every header: agent, user, user agent and the bearer key",
    headers: {
      "x-agent-id": "claude",
      "x-user-id": "u1",
      "user-agent": "ua/1",
      authorization: "Bearer key-123",
    },
    principal: {
      uri: "agent:claude",
      attributes: { agent_id: "claude", user_id: "u1", user_agent: "ua/1", api_key: "key-123" },
    },
  },
  {
    name: "no header at all: unknown agent and user, undefined user agent, no api_key",
    headers: {},
    principal: {
      uri: "agent:unknown",
      attributes: { agent_id: "unknown", user_id: "unknown", user_agent: "undefined" },
    },
  },
  {
    name: "an agent alone: user and user agent defaulted",
    headers: { "x-agent-id": "bot" },
    principal: bot(),
  },
  {
    name: "an Authorization without the Bearer scheme is the key as it is",
    headers: { "x-agent-id": "bot", authorization: "raw-key" },
    principal: bot({ api_key: "raw-key" }),
  },
  {
    name: "only `Bearer ` with that case is removed, as Python's str.replace does",
    headers: { "x-agent-id": "bot", authorization: "bearer low" },
    principal: bot({ api_key: "bearer low" }),
  },
  {
    name: "an empty Authorization gives no api_key",
    headers: { "x-agent-id": "bot", authorization: "" },
    principal: bot(),
  },
];

describe("eunomiaOptionsFromEnv sends eunomia-mcp's principal", () => {
  it.each(cases)("$name", async ({ headers, principal }) => {
    const context: RequestContext = { headers };
    await authorizer().authorize("tools/call", { name: "add", arguments: { a: 1 } }, context);
    expect(fake.checks()).toHaveLength(1);
    expect(fake.checks()[0]?.principal).toEqual(principal);
  });

  it("lets a rule on api_key decide, and keeps the key out of audit events", async () => {
    const key = "eunomia_api_key_5555";
    fake.setPolicy((c) => c.principal.attributes.api_key !== key);
    const audit = memoryAuditSink();
    const a = authorizer(audit);
    const revoked = await a.authorize(
      "tools/call",
      { name: "add" },
      { headers: { "x-agent-id": "claude", authorization: `Bearer ${key}` } },
    );
    expect(revoked).toMatchObject({ kind: "decided", decision: { allow: false } });
    const other = await a.authorize(
      "tools/call",
      { name: "add" },
      { headers: { "x-agent-id": "claude", authorization: "Bearer another" } },
    );
    expect(other).toMatchObject({ kind: "decided", decision: { allow: true } });
    expect(audit.events).toHaveLength(2);
    expect(JSON.stringify(audit.events)).not.toContain(key);
  });
});
