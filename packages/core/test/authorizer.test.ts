import { describe, expect, it, vi } from "vitest";
import { type AuditSink, defaultAuditSink } from "../src/audit.js";
import {
  type Authorization,
  Authorizer,
  normalizeDecision,
  safeCheck,
  safeCheckMany,
} from "../src/authorizer.js";
import { PdpError } from "../src/errors.js";
import { fixedIdentity, headerIdentity, type RequestContext } from "../src/identity.js";
import { withResilience } from "../src/decorators/resilience.js";
import type { AuthorizationRequest, Decision, PolicyDecisionPoint, Subject } from "../src/model.js";
import { allowAll, denyAll, functionPdp, memoryAuditSink, recordingPdp } from "../src/testing.js";

const ada: Subject = { id: "ada", authenticated: true, roles: ["dev"] };

function setup(pdp: PolicyDecisionPoint, subject: Subject = ada) {
  const audit = memoryAuditSink();
  const authorizer = new Authorizer({
    pdp,
    audit,
    identity: () => subject,
  });
  return { authorizer, audit };
}

function decided(a: Authorization) {
  if (a.kind !== "decided") throw new Error("expected a decision");
  return a;
}

/** A PDP whose check returns whatever it is given, bypassing the type system as a buggy PDP would. */
function rawPdp(answer: () => unknown): PolicyDecisionPoint {
  return { name: "raw", check: () => answer() as Promise<Decision> };
}

const tools = [
  { name: "alpha", description: "a" },
  { name: "beta_tool", annotations: { readOnlyHint: true } },
  { description: "no name" },
  { name: "gamma" },
];

describe("Authorizer.authorize", () => {
  it("bypasses initialize, ping and notifications without asking the PDP or auditing", async () => {
    const pdp = recordingPdp();
    const { authorizer, audit } = setup(pdp);
    for (const method of ["initialize", "ping", "notifications/initialized"]) {
      expect(await authorizer.authorize(method, {}, {})).toEqual({ kind: "bypass" });
    }
    expect(pdp.requests).toHaveLength(0);
    expect(audit.events).toHaveLength(0);
    expect(authorizer.isBypassed("ping")).toBe(true);
    expect(authorizer.isBypassed("tools/call")).toBe(false);
  });

  it("allows when the PDP allows and records one audit event with the decision's context", async () => {
    const { authorizer, audit } = setup(
      functionPdp(() => ({ allow: true, source: "pdp", reason: "rule r1", decisionId: "d-1" })),
    );
    const a = decided(
      await authorizer.authorize(
        "tools/call",
        { name: "get_weather", arguments: { city: "Paris" } },
        { requestId: 42, sessionId: "sess-1" },
      ),
    );
    expect(a.decision).toMatchObject({ allow: true, source: "pdp", reason: "rule r1" });
    expect(a.subject).toBe(ada);
    expect(a.request.action).toBe("get-weather");
    expect(a.request.resource.attributes).toMatchObject({ arg_city: "Paris" });
    expect(audit.events).toHaveLength(1);
    const event = audit.events[0]!;
    expect(event).toMatchObject({
      type: "decision",
      pdp: "function",
      subject: { id: "ada", authenticated: true, roles: ["dev"] },
      method: "tools/call",
      phase: "call",
      resource: { type: "mcp_server" },
      action: "get-weather",
      allow: true,
      reason: "rule r1",
      decisionId: "d-1",
      source: "pdp",
      requestId: 42,
      sessionId: "sess-1",
    });
    expect(typeof event.latencyMs).toBe("number");
    expect(event.latencyMs).toBeGreaterThanOrEqual(0);
    expect(Number.isNaN(Date.parse(event.time))).toBe(false);
  });

  it("denies when the PDP denies and audits the deny with the resource key", async () => {
    const { authorizer, audit } = setup(denyAll("not yours"));
    const a = decided(await authorizer.authorize("resources/read", { uri: "file:///x" }, {}));
    expect(a.decision).toMatchObject({ allow: false, reason: "not yours" });
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]).toMatchObject({
      allow: false,
      reason: "not yours",
      method: "resources/read",
      resource: { type: "mcp_server_resources", key: "file:///x" },
      action: "read",
    });
    expect(audit.events[0]?.requestId).toBeUndefined();
    expect(audit.events[0]?.sessionId).toBeUndefined();
  });

  it("never puts a bearer token, header or argument value of the request in an audit event", async () => {
    const token = "eyJhbGciOi.secret-token-value.signature";
    const audit = memoryAuditSink();
    const authorizer = new Authorizer({ pdp: allowAll(), audit });
    const context: RequestContext = {
      headers: { authorization: `Bearer ${token}`, "x-api-key": "api-key-value" },
      authInfo: { token, clientId: "client-1", scopes: ["read"], extra: { roles: ["r"] } },
      requestId: 1,
    };
    await authorizer.authorize(
      "tools/call",
      { name: "t", arguments: { password: "pw-123" } },
      context,
    );
    await authorizer.filterList("tools/list", { tools: [{ name: "t" }] }, context, ada);
    const text = JSON.stringify(audit.events);
    expect(audit.events.length).toBeGreaterThan(0);
    expect(text).not.toContain("secret-token-value");
    expect(text).not.toContain("api-key-value");
    expect(text).not.toContain("pw-123");
    expect(audit.events[0]?.subject.id).toBe("client-1");
  });

  it("audits a digest, never the token, when the subject's id is a credential", async () => {
    const token = "tok_live_0123456789abcdef";
    const audit = memoryAuditSink();
    // Calls fail, so the resilience decorator audits them too; list items are allowed.
    const pdp = recordingPdp(
      functionPdp((r) => {
        if (r.operation.phase === "call") throw new PdpError("PDP_UNAVAILABLE", "down");
        return true;
      }),
    );
    const authorizer = new Authorizer({
      pdp: withResilience({ audit, retries: 0 })(pdp),
      audit,
      identity: headerIdentity({
        header: "authorization",
        regex: "^[Bb]earer (.+)$",
        allowCredentialAsIdentity: true,
      }),
    });
    const context: RequestContext = { headers: { authorization: `Bearer ${token}` } };
    await authorizer.authorize("tools/call", { name: "t" }, context);
    await authorizer.filterList("tools/list", { tools: [{ name: "t" }] }, context, {
      id: token,
      authenticated: true,
      idIsCredential: true,
    });
    expect(pdp.requests[0]?.subject.id).toBe(token);
    // The resilience decorator's error event and the Authorizer's, the item and the list summary.
    expect(audit.events).toHaveLength(4);
    expect(audit.events.filter((e) => e.source === "error")).toHaveLength(2);
    expect(JSON.stringify(audit.events)).not.toContain(token);
    const digest = audit.events[0]?.subject.id;
    expect(digest).toMatch(/^sha256:[0-9a-f]{32}$/);
    expect(audit.events.every((e) => e.subject.id === digest)).toBe(true);
  });

  it("denies with source error and audits when the PDP throws", async () => {
    const { authorizer, audit } = setup(
      rawPdp(() => {
        throw new Error("connection refused");
      }),
    );
    const a = decided(await authorizer.authorize("tools/call", { name: "t" }, {}));
    expect(a.decision).toMatchObject({ allow: false, source: "error", errorCode: "PDP_ERROR" });
    expect(a.decision.reason).toContain("connection refused");
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]).toMatchObject({
      allow: false,
      source: "error",
      errorCode: "PDP_ERROR",
    });
  });

  it("keeps the code of an mcp-pdp error a PDP rejects with", async () => {
    const { authorizer } = setup(
      rawPdp(() => Promise.reject(new PdpError("PDP_UNAVAILABLE", "down"))),
    );
    const a = decided(await authorizer.authorize("tools/call", { name: "t" }, {}));
    expect(a.decision).toMatchObject({
      allow: false,
      source: "error",
      errorCode: "PDP_UNAVAILABLE",
    });
  });

  it.each([
    ["undefined", undefined],
    ["null", null],
    ["a string", "boom"],
    ["an object with a numeric code", { code: 500 }],
  ])("denies with source error when the PDP throws %s", async (_, thrown) => {
    const { authorizer, audit } = setup(
      rawPdp(() => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- a buggy PDP may throw anything
        throw thrown;
      }),
    );
    const a = decided(await authorizer.authorize("tools/call", { name: "t" }, {}));
    expect(a.decision.allow).toBe(false);
    expect(a.decision.source).toBe("error");
    expect(typeof a.decision.errorCode).toBe("string");
    expect(audit.events).toHaveLength(1);
  });

  it.each([
    ["an un-awaited promise as allow", () => Promise.resolve({ allow: Promise.resolve(true) })],
    ["a truthy string as allow", () => Promise.resolve({ allow: "yes", source: "pdp" })],
    ["the number 1 as allow", () => Promise.resolve({ allow: 1, source: "pdp" })],
    ["undefined", () => Promise.resolve(undefined)],
    ["null", () => Promise.resolve(null)],
    ["true instead of a decision", () => Promise.resolve(true)],
    ["a synchronous value instead of a promise", () => ({ allow: "true" })],
  ])("denies when the PDP answers %s", async (_, answer) => {
    const { authorizer, audit } = setup(rawPdp(answer));
    const a = decided(await authorizer.authorize("tools/call", { name: "t" }, {}));
    expect(a.decision.allow).toBe(false);
    expect(a.decision.source).toBe("error");
    expect(a.decision.errorCode).toBe("PDP_BAD_RESPONSE");
    expect(audit.events[0]?.allow).toBe(false);
  });

  it("waits for a PDP that answers late and decides with its answer", async () => {
    const late = functionPdp(
      () =>
        new Promise<boolean>((resolve) =>
          setTimeout(() => {
            resolve(true);
          }, 50),
        ),
      "late",
    );
    const { authorizer, audit } = setup(late);
    const a = decided(await authorizer.authorize("tools/call", { name: "t" }, {}));
    expect(a.decision.allow).toBe(true);
    expect(audit.events[0]?.allow).toBe(true);
  });

  it("decides the coarse list check on {server}_tools:list", async () => {
    const pdp = recordingPdp();
    const { authorizer } = setup(pdp);
    const a = decided(await authorizer.authorize("tools/list", {}, {}));
    expect(a.request.resource.type).toBe("mcp_server_tools");
    expect(a.request.action).toBe("list");
    expect(pdp.checkCalls).toBe(1);
  });

  it("copies the subject's tenant into the resource", async () => {
    const pdp = recordingPdp();
    const { authorizer, audit } = setup(pdp, { id: "ada", authenticated: true, tenant: "acme" });
    decided(await authorizer.authorize("tools/call", { name: "t" }, {}));
    expect(pdp.requests[0]?.resource.tenant).toBe("acme");
    expect(audit.events[0]?.subject.tenant).toBe("acme");
  });

  it("leaves the resource without a tenant when the subject has none", async () => {
    const pdp = recordingPdp();
    const { authorizer } = setup(pdp);
    decided(await authorizer.authorize("tools/call", { name: "t" }, {}));
    expect(pdp.requests[0]?.resource.tenant).toBeUndefined();
    expect(Object.hasOwn(pdp.requests[0]!.resource, "tenant")).toBe(false);
  });

  it("uses a subject given in the options instead of resolving one", async () => {
    const identity = vi.fn(() => ada);
    const authorizer = new Authorizer({ pdp: allowAll(), audit: false, identity });
    const bob: Subject = { id: "bob", authenticated: true };
    const a = decided(
      await authorizer.authorize("tools/call", { name: "t" }, {}, { subject: bob }),
    );
    expect(a.subject).toBe(bob);
    expect(identity).not.toHaveBeenCalled();
  });

  it("passes the abort signal to the PDP", async () => {
    const seen: (AbortSignal | undefined)[] = [];
    const pdp = functionPdp((_, options) => {
      seen.push(options?.signal);
      return true;
    });
    const { authorizer } = setup(pdp);
    const controller = new AbortController();
    await authorizer.authorize("tools/call", { name: "t" }, {}, { signal: controller.signal });
    expect(seen[0]).toBe(controller.signal);
  });

  it("gives an anonymous subject when the identity resolver throws", async () => {
    const pdp = recordingPdp();
    const audit = memoryAuditSink();
    const authorizer = new Authorizer({
      pdp,
      audit,
      identity: () => {
        throw new Error("resolver broke");
      },
    });
    const a = decided(await authorizer.authorize("tools/call", { name: "t" }, {}));
    expect(a.subject).toMatchObject({ id: "anonymous", authenticated: false });
    expect(a.subject.attributes).toMatchObject({ identity_error: "resolver broke" });
    expect(pdp.requests[0]?.subject.id).toBe("anonymous");
    expect(audit.events[0]?.subject).toEqual({ id: "anonymous", authenticated: false });
  });

  it("gives an anonymous subject when the identity resolver rejects or answers garbage", async () => {
    for (const identity of [
      () => Promise.reject(new Error("async failure")),
      () => null as unknown as Subject,
      () => ({ id: 42 }) as unknown as Subject,
    ]) {
      const authorizer = new Authorizer({ pdp: allowAll(), audit: false, identity });
      const subject = await authorizer.resolveSubject({});
      expect(subject).toMatchObject({ id: "anonymous", authenticated: false });
    }
  });

  it("uses the SDK's auth info by default", async () => {
    const authorizer = new Authorizer({ pdp: allowAll(), audit: false });
    const a = decided(
      await authorizer.authorize(
        "tools/call",
        { name: "t" },
        { authInfo: { token: "x", clientId: "c1", scopes: [] } },
      ),
    );
    expect(a.subject).toMatchObject({ id: "c1", authenticated: true });
    const b = decided(await authorizer.authorize("tools/call", { name: "t" }, {}));
    expect(b.subject.authenticated).toBe(false);
  });

  it("warns once when two listed tools normalise to the same action, unless names are raw", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const page = { tools: [{ name: "get_user" }, { name: "get.user" }, { name: "other" }] };
      const authorizer = new Authorizer({ pdp: allowAll(), audit: false });
      await authorizer.filterList("tools/list", page, {}, ada);
      await authorizer.filterList("tools/list", page, {}, ada);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toContain(
        'tools "get_user" and "get.user" both map to action "get-user"',
      );
      expect(warn.mock.calls[0]?.[1]).toMatchObject({ code: "MCP_PDP_TOOL_ACTION_COLLISION" });
      // A name seen again on a later page is no collision.
      await authorizer.filterList("tools/list", { tools: [{ name: "other" }] }, {}, ada);
      expect(warn).toHaveBeenCalledTimes(1);
      const raw = new Authorizer({ pdp: allowAll(), audit: false, mapping: { toolNames: "raw" } });
      await raw.filterList("tools/list", page, {}, ada);
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
    }
  });

  it("keeps its decision when the audit sink throws", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const broken: AuditSink = {
        write() {
          throw new Error("audit down");
        },
      };
      const authorizer = new Authorizer({ pdp: allowAll(), audit: broken, identity: () => ada });
      const a = decided(await authorizer.authorize("tools/call", { name: "t" }, {}));
      expect(a.decision.allow).toBe(true);
      const denying = new Authorizer({ pdp: denyAll(), audit: broken, identity: () => ada });
      const d = decided(await denying.authorize("tools/call", { name: "t" }, {}));
      expect(d.decision.allow).toBe(false);
      const list = await authorizer.filterList("tools/list", { tools: [{ name: "a" }] }, {}, ada);
      expect(list.visible).toBe(1);
    } finally {
      warn.mockRestore();
    }
  });

  it("audits nothing with audit false", async () => {
    const authorizer = new Authorizer({ pdp: denyAll(), audit: false, identity: () => ada });
    const a = decided(await authorizer.authorize("tools/call", { name: "t" }, {}));
    expect(a.decision.allow).toBe(false);
  });
});

describe("Authorizer.filterList", () => {
  it("decides a page with one bulk check, keeps the order and the other fields", async () => {
    const pdp = recordingPdp(functionPdp((r) => r.operation.name !== "beta_tool"));
    const { authorizer } = setup(pdp);
    const page = { tools: tools, nextCursor: "page-2", _meta: { trace: "t" } };
    const out = await authorizer.filterList("tools/list", page, { requestId: 3 }, ada);
    expect(pdp.bulkCalls).toEqual([3]);
    expect(pdp.checkCalls).toBe(0);
    expect(out.result).toEqual({
      tools: [tools[0], tools[3]],
      nextCursor: "page-2",
      _meta: { trace: "t" },
    });
    expect(out.items).toBe(4);
    expect(out.visible).toBe(2);
    expect(page.tools).toHaveLength(4);
  });

  it("asks about each item in the list phase with the call's resource and action and no arguments", async () => {
    const pdp = recordingPdp();
    const { authorizer } = setup(pdp);
    await authorizer.filterList("tools/list", { tools }, {}, ada);
    expect(pdp.requests.map((r) => r.action)).toEqual(["alpha", "beta-tool", "gamma"]);
    for (const r of pdp.requests) {
      expect(r.operation.phase).toBe("list");
      expect(r.operation.method).toBe("tools/call");
      expect(r.operation.arguments).toBeUndefined();
      expect(r.resource.type).toBe("mcp_server");
      expect(r.subject).toBe(ada);
    }
  });

  it("hides an item without a name", async () => {
    const { authorizer } = setup(allowAll());
    const out = await authorizer.filterList("tools/list", { tools }, {}, ada);
    expect((out.result.tools as unknown[]).map((t) => (t as { name?: string }).name)).toEqual([
      "alpha",
      "beta_tool",
      "gamma",
    ]);
  });

  it("audits each item and one summary of the list", async () => {
    const { authorizer, audit } = setup(functionPdp((r) => r.operation.name === "alpha"));
    await authorizer.filterList("tools/list", { tools }, { requestId: 9, sessionId: "s" }, ada);
    const items = audit.events.filter((e) => e.type === "decision");
    const summaries = audit.events.filter((e) => e.type === "list");
    expect(items.map((e) => [e.action, e.allow, e.phase])).toEqual([
      ["alpha", true, "list"],
      ["beta-tool", false, "list"],
      ["gamma", false, "list"],
    ]);
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatchObject({
      method: "tools/list",
      phase: "list",
      resource: { type: "mcp_server_tools" },
      action: "list",
      items: 4,
      visible: 1,
      requestId: 9,
      sessionId: "s",
    });
    for (const e of audit.events) expect(e.requestId).toBe(9);
  });

  it("hides everything when the bulk answer has the wrong length", async () => {
    const short: PolicyDecisionPoint = {
      name: "short",
      check: () => Promise.resolve({ allow: true, source: "pdp" }),
      checkMany: () => Promise.resolve([{ allow: true, source: "pdp" }]),
    };
    const { authorizer, audit } = setup(short);
    const out = await authorizer.filterList("tools/list", { tools }, {}, ada);
    expect(out.result.tools).toEqual([]);
    expect(out.visible).toBe(0);
    const items = audit.events.filter((e) => e.type === "decision");
    expect(items).toHaveLength(3);
    for (const e of items)
      expect(e).toMatchObject({ allow: false, source: "error", errorCode: "PDP_BAD_RESPONSE" });
  });

  it("hides everything when the bulk check fails", async () => {
    const failing: PolicyDecisionPoint = {
      name: "failing",
      check: () => Promise.resolve({ allow: true, source: "pdp" }),
      checkMany: () => Promise.reject(new Error("bulk endpoint down")),
    };
    const { authorizer } = setup(failing);
    const out = await authorizer.filterList("tools/list", { tools }, {}, ada);
    expect(out.result.tools).toEqual([]);
  });

  it("falls back to one check per item for a PDP without checkMany", async () => {
    const pdp = recordingPdp(functionPdp((r) => r.operation.name !== "gamma"));
    const single: PolicyDecisionPoint = { name: pdp.name, check: pdp.check.bind(pdp) };
    const { authorizer } = setup(single);
    const out = await authorizer.filterList("tools/list", { tools }, {}, ada);
    expect(pdp.checkCalls).toBe(3);
    expect(pdp.bulkCalls).toEqual([]);
    expect(out.visible).toBe(2);
  });

  it("hides an item whose decision is not a boolean allow", async () => {
    const odd: PolicyDecisionPoint = {
      name: "odd",
      check: () => Promise.resolve({ allow: true, source: "pdp" }),
      checkMany: (reqs) =>
        Promise.resolve(
          reqs.map((_, i) => (i === 0 ? { allow: "yes" } : { allow: true })) as Decision[],
        ),
    };
    const { authorizer } = setup(odd);
    const out = await authorizer.filterList("tools/list", { tools }, {}, ada);
    expect(out.result.tools).toEqual([tools[1], tools[3]]);
  });

  it("copies the subject's tenant into every item's resource", async () => {
    const pdp = recordingPdp();
    const { authorizer } = setup(pdp);
    await authorizer.filterList("tools/list", { tools }, {}, { ...ada, tenant: "acme" });
    expect(pdp.requests.map((r) => r.resource.tenant)).toEqual(["acme", "acme", "acme"]);
  });

  it("filters resources by uri and templates by uri template", async () => {
    const pdp = recordingPdp(functionPdp((r) => !String(r.operation.uri).includes("secret")));
    const { authorizer } = setup(pdp);
    const resources = await authorizer.filterList(
      "resources/list",
      {
        resources: [
          { uri: "file:///public", name: "p" },
          { uri: "file:///secret", name: "s" },
          { name: "no uri" },
        ],
      },
      {},
      ada,
    );
    expect(resources.result.resources).toEqual([{ uri: "file:///public", name: "p" }]);
    const templates = await authorizer.filterList(
      "resources/templates/list",
      {
        resourceTemplates: [
          { uriTemplate: "file:///secret/{x}", name: "s" },
          { uriTemplate: "file:///docs/{x}", name: "d" },
        ],
      },
      {},
      ada,
    );
    expect(templates.result.resourceTemplates).toEqual([
      { uriTemplate: "file:///docs/{x}", name: "d" },
    ]);
    expect(pdp.requests.map((r) => r.action)).toEqual(["read", "read", "read", "read"]);
  });

  it("filters prompts by name", async () => {
    const { authorizer } = setup(functionPdp((r) => r.resource.key === "ok"));
    const out = await authorizer.filterList(
      "prompts/list",
      { prompts: [{ name: "ok" }, { name: "no" }] },
      {},
      ada,
    );
    expect(out.result.prompts).toEqual([{ name: "ok" }]);
  });

  it("gives an empty page for a result that is not an object or has no item array", async () => {
    const pdp = recordingPdp();
    const { authorizer } = setup(pdp);
    for (const result of [null, "x", 42, { tools: "not an array" }, {}]) {
      const out = await authorizer.filterList("tools/list", result, {}, ada);
      expect(out.result.tools).toEqual([]);
      expect(out.visible).toBe(0);
    }
    expect(pdp.requests).toHaveLength(0);
  });

  it("remembers metadata from a list and gives it to a later call of the same component", async () => {
    const pdp = recordingPdp();
    const { authorizer } = setup(pdp);
    await authorizer.filterList(
      "tools/list",
      {
        tools: [
          {
            name: "delete_all",
            title: "Delete all",
            description: "Deletes everything",
            annotations: { destructiveHint: true },
            _meta: { tags: ["admin", "danger"] },
          },
        ],
      },
      {},
      ada,
    );
    expect(pdp.requests[0]?.operation.metadata?.tags).toEqual(["admin", "danger"]);
    pdp.reset();
    await authorizer.authorize("tools/call", { name: "delete_all" }, {});
    expect(pdp.requests[0]?.operation.metadata).toEqual({
      title: "Delete all",
      description: "Deletes everything",
      annotations: { destructiveHint: true },
      meta: { tags: ["admin", "danger"] },
      tags: ["admin", "danger"],
    });
    pdp.reset();
    await authorizer.authorize("tools/call", { name: "other" }, {});
    expect(pdp.requests[0]?.operation.metadata).toBeUndefined();
  });

  it("never takes metadata from what the client sends", async () => {
    const pdp = recordingPdp();
    const { authorizer } = setup(pdp);
    await authorizer.authorize(
      "tools/call",
      { name: "t", _meta: { tags: ["safe"] }, metadata: { tags: ["safe"] } },
      {},
    );
    expect(pdp.requests[0]?.operation.metadata).toBeUndefined();
  });

  it("gives an empty page for every list method", () => {
    expect(Authorizer.emptyList("tools/list")).toEqual({ tools: [] });
    expect(Authorizer.emptyList("resources/list")).toEqual({ resources: [] });
    expect(Authorizer.emptyList("resources/templates/list")).toEqual({ resourceTemplates: [] });
    expect(Authorizer.emptyList("prompts/list")).toEqual({ prompts: [] });
    expect(Authorizer.emptyList("tools/call")).toBeUndefined();
  });
});

describe("Authorizer construction and close", () => {
  it("rejects invalid mapping options", () => {
    expect(
      () => new Authorizer({ pdp: allowAll(), audit: false, mapping: { serverName: "" } }),
    ).toThrow(/serverName/);
  });

  it("uses the mapping options", async () => {
    const pdp = recordingPdp();
    const authorizer = new Authorizer({
      pdp,
      audit: false,
      identity: fixedIdentity("op"),
      mapping: { serverName: "weather", bypass: [] },
    });
    expect(await authorizer.authorize("ping", {}, {})).toMatchObject({ kind: "decided" });
    expect(pdp.requests[0]?.resource.type).toBe("weather_ping");
    expect(authorizer.buildRequest("tools/list", {}, ada).resource.type).toBe("weather_tools");
  });

  it("flushes the audit sink on close but closes neither it nor the PDP, which may be shared", async () => {
    const calls: string[] = [];
    const pdp: PolicyDecisionPoint = {
      ...allowAll(),
      close: () => {
        calls.push("pdp.close");
        return Promise.resolve();
      },
    };
    const audit: AuditSink = {
      write() {},
      flush: () => {
        calls.push("audit.flush");
        return Promise.resolve();
      },
      close: () => {
        calls.push("audit.close");
        return Promise.resolve();
      },
    };
    const sessions = [new Authorizer({ pdp, audit }), new Authorizer({ pdp, audit })];
    await sessions[0]!.close();
    expect(calls).toEqual(["audit.flush"]);
    expect((await sessions[1]!.authorize("tools/call", { name: "t" }, {})).kind).toBe("decided");
  });

  it("only flushes the process-wide default audit sink on close", async () => {
    const shared = defaultAuditSink();
    const close = vi.spyOn(shared, "close");
    const flush = vi.spyOn(shared, "flush");
    try {
      await new Authorizer({ pdp: allowAll() }).close();
      expect(flush).toHaveBeenCalledTimes(1);
      expect(close).not.toHaveBeenCalled();
    } finally {
      close.mockRestore();
      flush.mockRestore();
    }
  });
});

describe("safeCheck, safeCheckMany and normalizeDecision", () => {
  const request = new Authorizer({ pdp: allowAll(), audit: false }).buildRequest(
    "tools/call",
    { name: "t" },
    ada,
  );

  it("passes a well-formed decision through", () => {
    const d: Decision = { allow: true, source: "pdp", reason: "ok" };
    expect(normalizeDecision(d)).toBe(d);
    expect(normalizeDecision({ allow: false, source: "cache" })).toEqual({
      allow: false,
      source: "cache",
    });
  });

  it("never resolves to an allow for a malformed decision", () => {
    for (const value of [undefined, null, true, "allow", { allow: "true" }, { allow: 1 }, {}, []]) {
      const d = normalizeDecision(value);
      expect(d.allow).toBe(false);
      expect(d.source).toBe("error");
    }
  });

  it("never rejects", async () => {
    const throwing = rawPdp(() => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- a buggy PDP may throw anything
      throw undefined;
    });
    await expect(safeCheck(throwing, request)).resolves.toMatchObject({
      allow: false,
      source: "error",
    });
    await expect(safeCheckMany(throwing, [request, request])).resolves.toHaveLength(2);
    const bulkThrowing: PolicyDecisionPoint = {
      name: "bulk",
      check: () => Promise.resolve({ allow: true, source: "pdp" }),
      checkMany: () => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- a buggy PDP may throw anything
        throw null;
      },
    };
    const answers = await safeCheckMany(bulkThrowing, [request, request]);
    expect(answers.map((d) => d.allow)).toEqual([false, false]);
  });

  it("asks nothing for an empty bulk check", async () => {
    const pdp = recordingPdp();
    expect(await safeCheckMany(pdp, [])).toEqual([]);
    expect(pdp.bulkCalls).toEqual([]);
  });

  it("denies every request of a bulk answer that is not an array", async () => {
    const notArray: PolicyDecisionPoint = {
      name: "x",
      check: () => Promise.resolve({ allow: true, source: "pdp" }),
      checkMany: () => Promise.resolve({ 0: { allow: true } } as unknown as Decision[]),
    };
    const answers = await safeCheckMany(notArray, [request]);
    expect(answers).toEqual([
      expect.objectContaining({ allow: false, errorCode: "PDP_BAD_RESPONSE" }),
    ]);
  });

  it("keeps the requests' order in a fallback without checkMany", async () => {
    const requests: AuthorizationRequest[] = ["a", "b", "c"].map((name) => ({
      ...request,
      operation: { ...request.operation, name },
    }));
    const delays: Record<string, number> = { a: 30, b: 0, c: 10 };
    const slow: PolicyDecisionPoint = {
      name: "slow",
      check: (r) =>
        new Promise((resolve) =>
          setTimeout(
            () => {
              resolve({ allow: true, source: "pdp", reason: r.operation.name ?? "" });
            },
            delays[r.operation.name ?? ""],
          ),
        ),
    };
    const answers = await safeCheckMany(slow, requests);
    expect(answers.map((d) => d.reason)).toEqual(["a", "b", "c"]);
  });
});

describe("requests that cannot be decided faithfully", () => {
  it("are denied as REQUEST_INVALID without asking the PDP, and audited", async () => {
    const pdp = recordingPdp(allowAll());
    const audit = memoryAuditSink();
    const authorizer = new Authorizer({ pdp, audit, identity: fixedIdentity("alice") });
    const ambiguous = await authorizer.authorize(
      "tools/call",
      { name: "t", arguments: { a: { b: 1 }, a_b: 2 } },
      {},
    );
    const badUri = await authorizer.authorize("resources/read", { uri: "no uri here" }, {});
    for (const outcome of [ambiguous, badUri]) {
      expect(outcome.kind === "decided" && outcome.decision).toMatchObject({
        allow: false,
        source: "error",
        errorCode: "REQUEST_INVALID",
      });
    }
    expect(pdp.requests).toEqual([]);
    expect(audit.events.map((e) => e.errorCode)).toEqual(["REQUEST_INVALID", "REQUEST_INVALID"]);
  });
});
