import { describe, expect, it, vi } from "vitest";
import {
  type AuthCheck,
  type CheckContext,
  AuthorizationError,
  Authorizer,
  ConfigError,
  allOf,
  anyOf,
  checksPdp,
  firstApplicable,
  requireAuth,
  requireScopes,
  restrictTag,
} from "../src/index.js";
import { allowAll, denyAll, functionPdp, memoryAuditSink } from "../src/testing.js";
import { anonymous, callTool, listItem, request, user } from "./checks-helpers.js";

const reader = user("alice", { scopes: ["notes:read"] });
const writer = user("bob", { scopes: ["notes:read", "notes:write"] });

function later<T>(value: T, ms = 50): Promise<T> {
  return new Promise((resolve) =>
    setTimeout(() => {
      resolve(value);
    }, ms),
  );
}

describe("checksPdp: which checks run", () => {
  it("runs the default checks and then the tool's own, all of which must pass", async () => {
    const order: string[] = [];
    const pdp = checksPdp({
      default: (ctx) => {
        order.push("default");
        return ctx.subject.authenticated;
      },
      tools: {
        write_note: (ctx) => {
          order.push("tool");
          return (ctx.subject.scopes ?? []).includes("notes:write");
        },
      },
    });
    expect((await pdp.check(callTool("write_note", writer))).allow).toBe(true);
    expect(order).toEqual(["default", "tool"]);
    expect((await pdp.check(callTool("write_note", reader))).allow).toBe(false);
    expect((await pdp.check(callTool("write_note", anonymous))).allow).toBe(false);
  });

  it("stops at the first check that denies", async () => {
    const toolCheck = vi.fn(() => true);
    const pdp = checksPdp({ default: requireAuth(), tools: { t: toolCheck } });
    const d = await pdp.check(callTool("t", anonymous));
    expect(d).toMatchObject({ allow: false, source: "pdp", reason: "denied by requireAuth" });
    expect(toolCheck).not.toHaveBeenCalled();
  });

  it("accepts a list of checks per entry, all of which must pass", async () => {
    const pdp = checksPdp({ tools: { t: [requireAuth(), requireScopes("notes:write")] } });
    expect((await pdp.check(callTool("t", writer))).allow).toBe(true);
    const d = await pdp.check(callTool("t", reader));
    expect(d).toMatchObject({ allow: false, reason: "denied by requireScopes(notes:write)" });
  });

  it("applies a tool's checks only to that tool", async () => {
    const pdp = checksPdp({ default: [], tools: { delete_note: requireScopes("notes:write") } });
    expect((await pdp.check(callTool("delete_note", reader))).allow).toBe(false);
    expect((await pdp.check(callTool("read_note", reader))).allow).toBe(true);
  });

  it("applies a prompt's checks to prompts/get of that prompt", async () => {
    const pdp = checksPdp({ prompts: { summarize: requireScopes("notes:read") } });
    expect((await pdp.check(request("prompts/get", { name: "summarize" }, reader))).allow).toBe(
      true,
    );
    expect((await pdp.check(request("prompts/get", { name: "summarize" }, anonymous))).allow).toBe(
      false,
    );
  });

  it("does not confuse a prompt and a tool of the same name", async () => {
    const pdp = checksPdp({ tools: { same: () => true } });
    const d = await pdp.check(request("prompts/get", { name: "same" }, reader));
    expect(d).toMatchObject({ allow: false, applicable: false });
  });

  it("passes the subject, the operation with its metadata, and the request to a check", async () => {
    let seen: CheckContext | undefined;
    const pdp = checksPdp({
      tools: {
        t: (ctx) => {
          seen = ctx;
          return true;
        },
      },
    });
    const subject = user("alice", { roles: ["editor"], attributes: { sub: "alice", org: "acme" } });
    const req = callTool(
      "t",
      subject,
      { tags: ["x"], annotations: { readOnlyHint: true } },
      {
        q: 1,
      },
    );
    await pdp.check(req);
    expect(seen?.subject).toBe(subject);
    expect(seen?.request).toBe(req);
    expect(seen?.operation).toMatchObject({
      method: "tools/call",
      phase: "call",
      component: "tool",
      name: "t",
      arguments: { q: 1 },
      metadata: { tags: ["x"], annotations: { readOnlyHint: true } },
    });
  });

  it("hands the abort signal to the checks", async () => {
    let signal: AbortSignal | undefined;
    const pdp = checksPdp({
      default: (ctx) => {
        signal = ctx.signal;
        return true;
      },
    });
    const controller = new AbortController();
    await pdp.check(callTool("t", reader), { signal: controller.signal });
    expect(signal).toBe(controller.signal);
  });
});

describe("checksPdp: operations that are not about one component", () => {
  const pdp = checksPdp({
    default: requireAuth(),
    tools: { t: () => false },
    prompts: { p: () => false },
  });

  it("decides tools/list and the other list methods as a whole with the default checks only", async () => {
    for (const method of ["tools/list", "resources/list", "prompts/list"]) {
      expect((await pdp.check(request(method, {}, reader))).allow).toBe(true);
      expect((await pdp.check(request(method, {}, anonymous))).allow).toBe(false);
    }
  });

  it("decides completing a prompt with that prompt's checks, logging/setLevel with the default checks only", async () => {
    const completion = request(
      "completion/complete",
      { ref: { type: "ref/prompt", name: "p" } },
      reader,
    );
    expect((await pdp.check(completion)).allow).toBe(false);
    const other = request("completion/complete", { ref: { type: "ref/other" } }, reader);
    expect((await pdp.check(other)).allow).toBe(true);
    expect((await pdp.check(request("logging/setLevel", { level: "info" }, reader))).allow).toBe(
      true,
    );
  });

  it("denies them as not applicable when there is no default", async () => {
    const noDefault = checksPdp({ tools: { t: () => true } });
    const d = await noDefault.check(request("tools/list", {}, writer));
    expect(d).toEqual({
      allow: false,
      source: "pdp",
      reason: "no check configured for tools/list",
      applicable: false,
    });
  });
});

describe("checksPdp: when no check applies", () => {
  it("denies a component without an entry when there is no default, marked not applicable", async () => {
    const pdp = checksPdp({ tools: { other: () => true } });
    const d = await pdp.check(callTool("unlisted", writer));
    expect(d).toEqual({
      allow: false,
      source: "pdp",
      reason: 'no check configured for tool "unlisted"',
      applicable: false,
    });
  });

  it("denies everything when configured with nothing at all", async () => {
    const pdp = checksPdp({});
    expect(await pdp.check(callTool("t", writer))).toMatchObject({
      allow: false,
      applicable: false,
    });
  });

  it("allows what no check covers when the default is explicitly empty", async () => {
    const pdp = checksPdp({ default: [], tools: { admin: requireScopes("admin") } });
    expect(await pdp.check(callTool("public", anonymous))).toEqual({
      allow: true,
      source: "pdp",
      reason: "no check required",
    });
    expect((await pdp.check(request("tools/list", {}, anonymous))).allow).toBe(true);
    expect((await pdp.check(callTool("admin", anonymous))).allow).toBe(false);
  });

  it("allows a component whose entry is an empty list (explicitly public)", async () => {
    const pdp = checksPdp({ tools: { ping_tool: [] } });
    expect((await pdp.check(callTool("ping_tool", anonymous))).allow).toBe(true);
    expect((await pdp.check(callTool("other", anonymous))).applicable).toBe(false);
  });

  it("never reads an entry from the object prototype", async () => {
    const pdp = checksPdp({ tools: {} });
    for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      expect(await pdp.check(callTool(name, writer))).toMatchObject({
        allow: false,
        applicable: false,
      });
    }
  });

  it("lets firstApplicable hand an uncovered operation to the next PDP", async () => {
    const pdp = firstApplicable(
      checksPdp({ tools: { admin: requireScopes("admin") } }),
      functionPdp((r) => r.operation.name === "public", "fallback"),
    );
    expect((await pdp.check(callTool("public", anonymous))).allow).toBe(true);
    expect((await pdp.check(callTool("secret", anonymous))).allow).toBe(false);
    // A covered operation is decided by the checks, not passed on.
    expect(await pdp.check(callTool("admin", anonymous))).toMatchObject({
      allow: false,
      reason: "denied by requireScopes(admin)",
    });
  });
});

describe("checksPdp: what a check returns", () => {
  const decide = (check: AuthCheck) =>
    checksPdp({ tools: { t: check } }).check(callTool("t", reader));

  it("allows only on exactly true", async () => {
    expect(await decide(() => true)).toEqual({
      allow: true,
      source: "pdp",
      reason: "check #1 passed",
    });
  });

  it.each([
    ["false", false],
    ["1", 1],
    ['"yes"', "yes"],
    ['"true"', "true"],
    ["an object", {}],
    ["undefined", undefined],
    ["null", null],
    ["an object holding a promise", { allowed: Promise.resolve(true) }],
  ])("denies on %s", async (_label, value) => {
    const d = await decide(() => value as boolean);
    expect(d).toMatchObject({ allow: false, source: "pdp", reason: "denied by check #1" });
  });

  it("waits for a promise and denies when it resolves to false", async () => {
    expect((await decide(() => Promise.resolve(false))).allow).toBe(false);
    expect((await decide(() => Promise.resolve(true))).allow).toBe(true);
  });

  it("waits for an async check that resolves late", async () => {
    expect((await decide(() => later(true))).allow).toBe(true);
    expect((await decide(() => later(false))).allow).toBe(false);
    expect((await decide(() => later("yes" as unknown as boolean))).allow).toBe(false);
  });

  it("names a named function in the deny reason", async () => {
    function ownsNote(ctx: CheckContext): boolean {
      return ctx.operation.arguments?.owner === ctx.subject.id;
    }
    expect((await decide(ownsNote)).reason).toBe("denied by ownsNote");
  });
});

describe("checksPdp: exceptions", () => {
  it("denies with the message of an AuthorizationError", async () => {
    const pdp = checksPdp({
      tools: {
        t: () => {
          throw new AuthorizationError("notes are read-only on Sundays");
        },
      },
    });
    expect(await pdp.check(callTool("t", writer))).toEqual({
      allow: false,
      source: "pdp",
      reason: "notes are read-only on Sundays",
      message: "notes are read-only on Sundays",
    });
  });

  it("denies with the message of an AuthorizationError rejected by an async check", async () => {
    const pdp = checksPdp({
      tools: {
        t: async () => {
          await later(null, 5);
          throw new AuthorizationError("quota exceeded");
        },
      },
    });
    expect(await pdp.check(callTool("t", writer))).toMatchObject({
      reason: "quota exceeded",
      message: "quota exceeded",
    });
  });

  it("denies any other exception with a generic reason and reports it to onError", async () => {
    const onError = vi.fn();
    const pdp = checksPdp({
      tools: {
        t: function lookupOwner() {
          throw new Error("db password=hunter2 rejected");
        },
      },
      onError,
    });
    const req = callTool("t", writer);
    const d = await pdp.check(req);
    expect(d).toEqual({
      allow: false,
      source: "error",
      reason: "authorization check failed",
      errorCode: "CHECK_FAILED",
    });
    expect(JSON.stringify(d)).not.toContain("hunter2");
    expect(d.message).toBeUndefined();
    expect(onError).toHaveBeenCalledTimes(1);
    const [error, info] = onError.mock.calls[0] as [Error, { check: string; request: unknown }];
    expect(error.message).toBe("db password=hunter2 rejected");
    expect(info.check).toBe("lookupOwner");
    expect(info.request).toBe(req);
  });

  it("denies a rejected promise and a thrown non-Error the same way", async () => {
    const onError = vi.fn();
    const pdp = checksPdp({
      tools: {
        a: () => Promise.reject(new Error("secret a")),
        b: () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error
          throw "secret b";
        },
      },
      onError,
    });
    for (const name of ["a", "b"]) {
      const d = await pdp.check(callTool(name, writer));
      expect(d).toMatchObject({ allow: false, source: "error", errorCode: "CHECK_FAILED" });
      expect(d.reason).not.toContain("secret");
    }
    expect(onError).toHaveBeenCalledTimes(2);
  });

  it("still denies, without rejecting, when onError itself throws", async () => {
    const pdp = checksPdp({
      default: () => {
        throw new Error("x");
      },
      onError: () => {
        throw new Error("hook broken");
      },
    });
    await expect(pdp.check(callTool("t", writer))).resolves.toMatchObject({
      allow: false,
      errorCode: "CHECK_FAILED",
    });
  });

  it("writes the failure to stderr when no onError is given", async () => {
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const pdp = checksPdp({
        default: () => {
          throw new Error("backend down");
        },
      });
      await pdp.check(callTool("t", writer));
      expect(write).toHaveBeenCalledWith(
        'mcp-pdp: authorization check "default" failed on tools/call: backend down\n',
      );
    } finally {
      write.mockRestore();
    }
  });
});

describe("checksPdp: aborts", () => {
  it("denies with PDP_ABORTED when the signal is already aborted, running no check", async () => {
    const check = vi.fn(() => true);
    const pdp = checksPdp({ default: check });
    const d = await pdp.check(callTool("t", writer), { signal: AbortSignal.abort() });
    expect(d).toMatchObject({ allow: false, source: "error", errorCode: "PDP_ABORTED" });
    expect(check).not.toHaveBeenCalled();
  });

  it("stops waiting for a pending check when the signal aborts", async () => {
    const controller = new AbortController();
    const pdp = checksPdp({ default: () => new Promise<boolean>(() => undefined) });
    const pending = pdp.check(callTool("t", writer), { signal: controller.signal });
    controller.abort();
    expect(await pending).toMatchObject({ allow: false, errorCode: "PDP_ABORTED" });
  });
});

describe("checksPdp: list items", () => {
  const pdp = checksPdp({
    default: requireAuth(),
    tools: { write_note: requireScopes("notes:write") },
    resources: { "notes://note/{id}": requireScopes("notes:read") },
    prompts: { summarize: requireScopes("notes:read") },
  });

  it("decides the visibility of a tool with the same checks as calling it", async () => {
    const item = listItem("tools/list", { name: "write_note" }, reader);
    expect(item.operation.phase).toBe("list");
    expect((await pdp.check(item)).allow).toBe(false);
    expect((await pdp.check(listItem("tools/list", { name: "write_note" }, writer))).allow).toBe(
      true,
    );
  });

  it("decides a resource template item with the entry of that template", async () => {
    const item = { uriTemplate: "notes://note/{id}", name: "note" };
    expect((await pdp.check(listItem("resources/templates/list", item, reader))).allow).toBe(true);
    const stranger = user("eve");
    expect((await pdp.check(listItem("resources/templates/list", item, stranger))).allow).toBe(
      false,
    );
  });

  it("answers a bulk check in order", async () => {
    const items = ["write_note", "read_note", "write_note"].map((name) =>
      listItem("tools/list", { name }, reader),
    );
    const decisions = await pdp.checkMany?.(items);
    expect(decisions?.map((d) => d.allow)).toEqual([false, true, false]);
  });

  it("filters a list page through the Authorizer with the metadata the server listed", async () => {
    const authorizer = new Authorizer({
      pdp: checksPdp({ default: restrictTag("admin", { scopes: ["admin"] }) }),
      audit: false,
    });
    const page = {
      tools: [
        { name: "read_note", _meta: { tags: ["notes"] } },
        { name: "wipe", _meta: { tags: ["admin"] } },
      ],
      nextCursor: "c2",
    };
    const filtered = await authorizer.filterList("tools/list", page, {}, reader);
    expect(filtered.result).toEqual({ tools: [page.tools[0]], nextCursor: "c2" });
    const admin = user("root", { scopes: ["admin"] });
    const all = await authorizer.filterList("tools/list", page, {}, admin);
    expect(all.visible).toBe(2);
  });
});

describe("checksPdp: resources", () => {
  const pdp = checksPdp({
    resources: {
      "notes://note/{id}": requireScopes("notes:read"),
      "notes://note/secret": requireScopes("notes:secret"),
      "config://app": [],
    },
  });

  it("matches a concrete URI to a URI template entry", async () => {
    expect(
      (await pdp.check(request("resources/read", { uri: "notes://note/42" }, reader))).allow,
    ).toBe(true);
    const d = await pdp.check(request("resources/read", { uri: "notes://note/42" }, user("eve")));
    expect(d).toMatchObject({ allow: false, reason: "denied by requireScopes(notes:read)" });
  });

  it("applies every matching entry: a URI under a template also needs the template's checks", async () => {
    const secretOnly = user("s", { scopes: ["notes:secret"] });
    const both = user("t", { scopes: ["notes:secret", "notes:read"] });
    const uri = { uri: "notes://note/secret" };
    expect((await pdp.check(request("resources/read", uri, secretOnly))).allow).toBe(false);
    expect((await pdp.check(request("resources/read", uri, reader))).allow).toBe(false);
    expect((await pdp.check(request("resources/read", uri, both))).allow).toBe(true);
  });

  it("leaves a URI no entry matches to the default (here: none, so denied)", async () => {
    for (const uri of ["notes://note/42/raw", "notes://note/", "files://note/42"]) {
      expect(await pdp.check(request("resources/read", { uri }, reader))).toMatchObject({
        allow: false,
        applicable: false,
      });
    }
  });

  it("applies resource entries to subscriptions too", async () => {
    const sub = request("resources/subscribe", { uri: "notes://note/7" }, user("eve"));
    expect((await pdp.check(sub)).allow).toBe(false);
  });

  it("allows an exact URI entry that is explicitly public", async () => {
    expect(
      (await pdp.check(request("resources/read", { uri: "config://app" }, anonymous))).allow,
    ).toBe(true);
  });
});

describe("checksPdp: composition with other PDPs", () => {
  const checks = checksPdp({ default: requireAuth(), tools: { wipe: requireScopes("admin") } });

  it("allows under allOf only when the checks and the other PDP both allow", async () => {
    const pdp = allOf(
      checks,
      functionPdp((r) => r.subject.id !== "bob", "blocklist"),
    );
    expect((await pdp.check(callTool("read", reader))).allow).toBe(true);
    expect((await pdp.check(callTool("read", writer))).allow).toBe(false);
    expect((await pdp.check(callTool("read", anonymous))).allow).toBe(false);
    expect(pdp.name).toBe("allOf(checks,blocklist)");
  });

  it("stops allOf at a failing check without asking the next PDP", async () => {
    const next = vi.fn(() => true);
    const pdp = allOf(checks, functionPdp(next));
    expect((await pdp.check(callTool("wipe", reader))).allow).toBe(false);
    expect(next).not.toHaveBeenCalled();
  });

  it("bulk-filters through allOf", async () => {
    const pdp = allOf(checks, allowAll());
    const items = ["read", "wipe"].map((name) => listItem("tools/list", { name }, reader));
    expect((await pdp.checkMany?.(items))?.map((d) => d.allow)).toEqual([true, false]);
  });

  it("lets anyOf allow what another PDP allows", async () => {
    const pdp = anyOf(checks, denyAll());
    expect((await pdp.check(callTool("read", reader))).allow).toBe(true);
    expect((await pdp.check(callTool("wipe", reader))).allow).toBe(false);
  });

  it("audits a failed check through the Authorizer with the generic reason", async () => {
    const audit = memoryAuditSink();
    const authorizer = new Authorizer({
      pdp: checksPdp({
        name: "my-checks",
        default: () => {
          throw new Error("internal detail");
        },
        onError: () => undefined,
      }),
      audit,
    });
    const outcome = await authorizer.authorize(
      "tools/call",
      { name: "t" },
      { authInfo: { token: "tok", clientId: "c", scopes: [] } },
    );
    expect(outcome.kind === "decided" && outcome.decision.allow).toBe(false);
    expect(audit.events[0]).toMatchObject({
      pdp: "my-checks",
      allow: false,
      source: "error",
      errorCode: "CHECK_FAILED",
      reason: "authorization check failed",
    });
    expect(JSON.stringify(audit.events)).not.toContain("internal detail");
  });

  it("decides a call with the metadata the server declared, not what the client sends", async () => {
    const authorizer = new Authorizer({
      pdp: checksPdp({ default: restrictTag("admin", { scopes: ["admin"] }) }),
      audit: false,
    });
    authorizer.components.set("tool", "wipe", { tags: ["admin"] });
    authorizer.components.set("tool", "read", { tags: [] });
    const context = { authInfo: { token: "tok", clientId: "alice", scopes: ["notes:read"] } };
    const forged = { name: "wipe", _meta: { tags: [] }, arguments: { _meta: { tags: [] } } };
    const wipe = await authorizer.authorize("tools/call", forged, context);
    expect(wipe.kind === "decided" && wipe.decision.allow).toBe(false);
    const read = await authorizer.authorize("tools/call", { name: "read" }, context);
    expect(read.kind === "decided" && read.decision.allow).toBe(true);
  });
});

describe("checksPdp: configuration", () => {
  it("is named checks by default, or as told", () => {
    expect(checksPdp({}).name).toBe("checks");
    expect(checksPdp({ name: "notes-checks" }).name).toBe("notes-checks");
    expect(() => checksPdp({ name: " " })).toThrow(/name must be a non-empty string/);
  });

  it("rejects an unknown option so a misspelt one cannot leave a tool open", () => {
    expect(() => checksPdp({ tool: { t: requireAuth() } } as never)).toThrow(
      /unknown option "tool"/,
    );
  });

  it("rejects a value that is not a check, naming where it is", () => {
    expect(() => checksPdp({ default: "requireAuth" as never })).toThrow(
      /checksPdp: default must be a check function/,
    );
    expect(() => checksPdp({ tools: { t: [requireAuth(), true as never] } })).toThrow(
      'checksPdp: tools["t"][1] is not a check function',
    );
    expect(() => checksPdp({ prompts: [] as never })).toThrow(/prompts must be an object/);
    expect(() => checksPdp(null as never)).toThrow(ConfigError);
  });

  it("rejects a malformed resource template, naming the key", () => {
    expect(() => checksPdp({ resources: { "notes://{id": requireAuth() } })).toThrow(
      /resources\["notes:\/\/\{id"\]: unclosed "\{"/,
    );
  });
});
