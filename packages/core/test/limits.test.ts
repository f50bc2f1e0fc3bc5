/**
 * What a client can make large (names, URIs, argument keys and values, methods, request ids) is
 * bounded before any work, denied as REQUEST_INVALID, and never retained or echoed in full.
 */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { AUDIT_TEXT_LIMIT, decisionEvent, jsonLinesAuditSink } from "../src/audit.js";
import { Authorizer } from "../src/authorizer.js";
import { withCache } from "../src/decorators/cache.js";
import { MAX_SNAPSHOT_CHARS, snapshotRequest } from "../src/decorators/request-key.js";
import { ConfigError } from "../src/errors.js";
import {
  DEFAULT_MAX_NAME_LENGTH,
  DEFAULT_MAX_URI_LENGTH,
  MAX_METHOD_LENGTH,
  boundArguments,
  boundedText,
  canonicalUri,
  exceedsArgumentLimits,
  flattenArguments,
  globMatcher,
  globToRegExp,
  mapListItem,
  mapRequest,
  resolveMapping,
  toolAction,
  uriAmbiguity,
} from "../src/mapping.js";
import type { Subject } from "../src/model.js";
import { functionPdp, memoryAuditSink, recordingPdp } from "../src/testing.js";

const defaults = resolveMapping();
const ada: Subject = { id: "ada", authenticated: true };
const MiB = 1 << 20;

/** A string of `n` characters, different for each `seed`. */
function big(n: number, seed = 0, fill = "_"): string {
  const tail = String(seed);
  return fill.repeat(n - tail.length) + tail;
}

function authorizer() {
  const audit = memoryAuditSink();
  const pdp = recordingPdp();
  const a = new Authorizer({ pdp, audit, identity: () => ada });
  return { a, audit, pdp };
}

describe("boundedText", () => {
  it("keeps a string within the limit as it is", () => {
    expect(boundedText("abc", 3)).toBe("abc");
  });

  it("shows the first 64 characters and the length of a longer one", () => {
    const s = big(MiB, 1, "a");
    const shown = boundedText(s, 256);
    expect(shown).toBe(`${"a".repeat(64)}…(${MiB} chars)`);
  });

  it("never shows more than the limit's worth of characters from the string", () => {
    expect(boundedText("abcdefgh", 4)).toBe("abcd…(8 chars)");
  });
});

describe("names over maxNameLength", () => {
  it("are limited to 256 characters by default", () => {
    expect(DEFAULT_MAX_NAME_LENGTH).toBe(256);
    expect(defaults.maxNameLength).toBe(256);
    expect(defaults.maxUriLength).toBe(DEFAULT_MAX_URI_LENGTH);
  });

  it("accept a tool name of exactly the limit", () => {
    const m = mapRequest("tools/call", { name: "a".repeat(256) }, defaults);
    expect(m.problem).toBeUndefined();
    expect(m.operation.name).toHaveLength(256);
  });

  it("deny a longer tool name, holding only its bounded form, and read no arguments", () => {
    const name = big(MiB);
    const m = mapRequest("tools/call", { name, arguments: { path: "/x" } }, defaults);
    expect(m.problem).toBe("the tool name is longer than 256 characters");
    expect(m.operation.name).toBe(boundedText(name, 256));
    expect(m.resource.attributes.tool_name).toBe(boundedText(name, 256));
    expect(m.operation.arguments).toBeUndefined();
    expect(m.resource.attributes.arg_path).toBeUndefined();
    expect(JSON.stringify(m).length).toBeLessThan(1024);
  });

  it("deny a longer prompt name the same way", () => {
    const m = mapRequest("prompts/get", { name: big(300) }, defaults);
    expect(m.problem).toBe("the prompt name is longer than 256 characters");
    expect(m.resource.key).toBe(boundedText(big(300), 256));
    expect(m.operation.component).toBe("prompt");
  });

  it("deny a method longer than MAX_METHOD_LENGTH, and never bypass it", () => {
    expect(MAX_METHOD_LENGTH).toBe(256);
    const method = `notifications/${big(MiB)}`;
    const m = resolveMapping({ bypass: ["notifications/*", "a*b*c"], maxNameLength: 8 });
    expect(m.isBypassed(method)).toBe(false);
    expect(m.isBypassed("notifications/initialized")).toBe(true);
    expect(mapRequest("tools/list", {}, m).problem).toBeUndefined();
    const mapped = mapRequest(method, {}, m);
    expect(mapped.problem).toBe("the method is longer than 256 characters");
    expect(mapped.resource.type).toBe("mcp_server_unknown");
    expect(mapped.operation.method.length).toBeLessThan(100);
    expect(JSON.stringify(mapped).length).toBeLessThan(1024);
  });

  it("deny an oversized completion reference", () => {
    const byName = mapRequest(
      "completion/complete",
      { ref: { type: "ref/prompt", name: big(MiB) } },
      defaults,
    );
    expect(byName.problem).toMatch(/completion reference is longer than 256/);
    expect(JSON.stringify(byName).length).toBeLessThan(1024);
    const byUri = mapRequest(
      "completion/complete",
      { ref: { type: "ref/resource", uri: `docs://${big(5000)}` } },
      defaults,
    );
    expect(byUri.problem).toMatch(/longer than 4096/);
  });

  it("hide a listed tool or prompt with a longer name", () => {
    expect(mapListItem("tools/list", { name: big(257) }, defaults)).toBeUndefined();
    expect(mapListItem("prompts/list", { name: big(257) }, defaults)).toBeUndefined();
    expect(mapListItem("tools/list", { name: "ok_tool" }, defaults)?.action).toBe("ok-tool");
  });

  it("follow a configured maxNameLength, which must be a positive integer", () => {
    const m = resolveMapping({ maxNameLength: 8 });
    expect(mapRequest("tools/call", { name: "abcdefgh" }, m).problem).toBeUndefined();
    expect(mapRequest("tools/call", { name: "abcdefghi" }, m).problem).toMatch(/longer than 8/);
    expect(() => resolveMapping({ maxNameLength: 0 })).toThrow(ConfigError);
    expect(() => resolveMapping({ maxUriLength: 1.5 })).toThrow(/maxUriLength/);
  });

  it("are answered as an error deny REQUEST_INVALID without asking the PDP, audited bounded", async () => {
    const { a, audit, pdp } = authorizer();
    const name = big(MiB);
    const outcome = await a.authorize("tools/call", { name }, { requestId: big(MiB, 2) });
    if (outcome.kind !== "decided") throw new Error("expected a decision");
    expect(outcome.decision).toMatchObject({
      allow: false,
      source: "error",
      errorCode: "REQUEST_INVALID",
    });
    expect(outcome.decision.reason).not.toContain("_".repeat(100));
    expect(pdp.requests).toHaveLength(0);
    const event = audit.events[0];
    expect(event?.action).toBe(boundedText(name, 256).replace(/_/g, "-"));
    expect(JSON.stringify(event).length).toBeLessThan(2048);
  });

  it("cost time linear in nothing but the limit: 50 names of 1 MiB are each denied in well under 50 ms", async () => {
    const { a } = authorizer();
    for (let i = 0; i < 50; i++) {
      const name = big(MiB, i);
      const started = performance.now();
      const outcome = await a.authorize("tools/call", { name }, {});
      expect(performance.now() - started).toBeLessThan(50);
      expect(outcome.kind === "decided" && outcome.decision.errorCode).toBe("REQUEST_INVALID");
    }
  });
});

describe("toolAction", () => {
  it("normalises a long name in linear time into a flat string of the same length", () => {
    const name = big(MiB);
    const started = performance.now();
    const action = toolAction(name, defaults);
    expect(performance.now() - started).toBeLessThan(200);
    expect(action).toHaveLength(MiB);
    expect(action.startsWith("---")).toBe(true);
    expect(toolAction("a.b/c_d", defaults)).toBe("a-b-c-d");
    expect(toolAction(`${"x".repeat(2000)}.y`, defaults)).toBe(`${"x".repeat(2000)}-y`);
  });
});

describe("argument keys", () => {
  it("are measured before the attribute name is built", () => {
    const key = big(MiB);
    const flat = flattenArguments({ [key]: 1, ok: 2 });
    expect({ ...flat.attributes }).toEqual({ arg_ok: 2 });
    expect(flat.dropped).toBe(true);
    expect(
      mapRequest("tools/call", { name: "t", arguments: { [key]: 1 } }, defaults).problem,
    ).toMatch(/limits/);
  });

  it("stop being read once maxKeys attributes were written", () => {
    const wide: Record<string, number> = {};
    for (let i = 0; i < 100_000; i++) wide[`k${i}`] = i;
    const flat = flattenArguments(wide, "arg_", { maxKeys: 4 });
    expect(Object.keys(flat.attributes)).toHaveLength(4);
    expect(flat.dropped).toBe(true);
  });
});

describe("argument overflow", () => {
  const longPath = `allowed/${"a".repeat(1100)}/../secret`;

  it("denies a string cut before a `..` by default, flattened or not", () => {
    for (const flattenArguments of [true, false]) {
      const m = mapRequest(
        "tools/call",
        { name: "read_file", arguments: { path: longPath } },
        resolveMapping({ flattenArguments }),
      );
      expect(m.problem, `flattenArguments: ${String(flattenArguments)}`).toMatch(/argumentLimits/);
    }
  });

  it("denies every kind of cut without flattening: depth, items, keys, key length", () => {
    const m = resolveMapping({ flattenArguments: false });
    let deep: unknown = "leaf";
    for (let i = 0; i < 7; i++) deep = { d: deep };
    const wide: Record<string, number> = {};
    for (let i = 0; i < 300; i++) wide[`k${i}`] = i;
    for (const args of [
      { deep },
      { list: new Array(65).fill(1) },
      wide,
      { ["k".repeat(257)]: 1 },
      { nested: { s: "x".repeat(1025) } },
    ]) {
      expect(mapRequest("tools/call", { name: "t", arguments: args }, m).problem).toMatch(/limits/);
      expect(mapRequest("prompts/get", { name: "p", arguments: args }, m).problem).toMatch(
        /limits/,
      );
    }
    expect(
      mapRequest("tools/call", { name: "t", arguments: { a: { b: ["x", 1] } } }, m).problem,
    ).toBeUndefined();
  });

  it("sends what fits with argumentOverflow truncate, flattened or not", () => {
    for (const flattenArguments of [true, false]) {
      const m = mapRequest(
        "tools/call",
        { name: "read_file", arguments: { path: longPath } },
        resolveMapping({ flattenArguments, argumentOverflow: "truncate" }),
      );
      expect(m.problem).toBeUndefined();
      expect(m.resource.attributes.arguments_truncated).toBe(flattenArguments ? true : undefined);
    }
  });

  it("exceedsArgumentLimits agrees with boundArguments", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 6; i++) deep = { d: deep };
    let deeper: unknown = 1;
    for (let i = 0; i < 7; i++) deeper = { d: deeper };
    const wide: Record<string, number> = {};
    for (let i = 0; i < 257; i++) wide[`k${i}`] = i;
    const cases: Record<string, unknown>[] = [
      {},
      { a: "x".repeat(1024) },
      { a: "x".repeat(1025) },
      { deep },
      { deeper },
      { list: new Array(64).fill("x") },
      { list: new Array(65).fill("x") },
      wide,
      { ["k".repeat(256)]: 1 },
      { ["k".repeat(257)]: 1 },
      { nested: [{ a: [{ b: "y".repeat(2000) }] }] },
    ];
    for (const args of cases) {
      expect(exceedsArgumentLimits(args), JSON.stringify(args).slice(0, 60)).toBe(
        boundArguments(args).truncated,
      );
    }
  });

  it("with flattening, denies exactly when flattening or boundArguments would cut", () => {
    const nested: Record<string, unknown> = {};
    for (let i = 0; i < 200; i++) nested[`a${i}`] = { x: 1 }; // 200 values, 400 object keys
    const empties: Record<string, unknown> = {};
    for (let i = 0; i < 300; i++) empties[`e${i}`] = {}; // no values at all
    const fits: Record<string, unknown> = {};
    for (let i = 0; i < 128; i++) fits[`f${i}`] = { x: 1 }; // exactly 256 object keys
    let deep: unknown = 1;
    for (let i = 0; i < 6; i++) deep = { d: deep };
    const cases: Record<string, unknown>[] = [
      nested,
      empties,
      fits,
      { deep },
      { s: "x".repeat(1024) },
      { s: "x".repeat(1025) },
      { list: new Array(65).fill({}) },
      { ["k".repeat(250)]: { longer: 1 } }, // the joined name is too long, the keys are not
    ];
    for (const args of cases) {
      const expected = flattenArguments(args).truncated || boundArguments(args).truncated;
      const mapped = mapRequest("tools/call", { name: "t", arguments: args }, defaults);
      expect(mapped.problem !== undefined, JSON.stringify(args).slice(0, 60)).toBe(expected);
    }
  });

  it("boundArguments drops a key longer than maxKeyLength", () => {
    const { value, truncated } = boundArguments({ ["k".repeat(MiB)]: 1, ok: 2 });
    expect({ ...value }).toEqual({ ok: 2 });
    expect(truncated).toBe(true);
  });

  it("boundArguments counts depth from the top-level values, as flattening does", () => {
    const within = { l1: { l2: { x: 1 } } };
    expect(boundArguments(within, { maxDepth: 2 }).truncated).toBe(false);
    expect(flattenArguments(within, "arg_", { maxDepth: 2 }).truncated).toBe(false);
    const over = { l1: { l2: { l3: { x: 1 } } } };
    expect(boundArguments(over, { maxDepth: 2 }).truncated).toBe(true);
    expect(flattenArguments(over, "arg_", { maxDepth: 2 }).truncated).toBe(true);
  });
});

describe("resource URIs", () => {
  const m = resolveMapping({ serverName: "docs" });
  const read = (uri: string) => mapRequest("resources/read", { uri }, m);

  it("over maxUriLength are denied before they are parsed, holding only their bounded form", () => {
    const uri = `docs://x/${big(MiB)}`;
    const mapped = read(uri);
    expect(mapped.problem).toBe("the resource URI is longer than 4096 characters");
    expect(mapped.resource.key).toBe(boundedText(uri, 4096));
    expect(JSON.stringify(mapped).length).toBeLessThan(1024);
    expect(read(`docs://x/${"a".repeat(4096 - 9)}`).problem).toBeUndefined();
    expect(
      mapListItem("resources/list", { uri: `docs://x/${"a".repeat(4096)}` }, m),
    ).toBeUndefined();
    expect(
      mapListItem("resources/templates/list", { uriTemplate: `docs://${"a".repeat(4096)}` }, m),
    ).toBeUndefined();
  });

  it.each([
    ["file:///tmp/My Notes.txt", "file:///tmp/My%20Notes.txt"],
    ["https://example.com", "https://example.com/"],
    ["docs://a/b/../c", "docs://a/c"],
    ["HTTPS://EXAMPLE.com:443/x", "https://example.com/x"],
    ["DOCS://host/x", "docs://host/x"],
    ["docs://a/%2e%2e/b", "docs://a/b"],
    ["docs://a/b%20c", "docs://a/b%20c"],
  ])("allows %j, decided as %j, with the raw spelling as resource_uri_raw", (raw, canonical) => {
    const mapped = read(raw);
    expect(mapped.problem).toBeUndefined();
    expect(mapped.operation.uri).toBe(canonical);
    expect(mapped.resource.key).toBe(canonical);
    expect(mapped.resource.attributes.resource_uri).toBe(canonical);
    expect(mapped.resource.attributes.resource_uri_raw).toBe(raw === canonical ? undefined : raw);
    // A listed resource is decided exactly as reading it.
    const listed = mapListItem("resources/list", { uri: raw }, m);
    expect(listed?.resource).toEqual(mapped.resource);
    expect(listed?.operation.uri).toBe(canonical);
  });

  it("adds no resource_uri_raw when the spelling is already canonical", () => {
    expect(read("docs://a/b").resource.attributes).toEqual({
      resource_uri: "docs://a/b",
      mcp_method: "resources/read",
    });
  });

  it.each([
    ["a tab", "docs://a/\tsecret", /tab or line break/],
    ["a line feed", "docs://a/se\ncret", /tab or line break/],
    ["a carriage return", "file:///notes/\r../etc/passwd", /tab or line break/],
    ["a leading space", " docs://a/b", /starts or ends/],
    ["a trailing control character", "docs://a/b\u0001", /starts or ends/],
    ["a leading NUL", "\u0000docs://a/b", /starts or ends/],
    ["a backslash in a special scheme", "http://a/b\\..\\c", /backslash/],
    ["a backslash in a file URI", "file:///notes\\..\\etc", /backslash/],
    ["a backslash in any scheme", "docs://a/b\\c", /backslash/],
    ["an unpaired surrogate", "docs://a/\uD800", /surrogate/],
  ])("denies a URI with %s (the parser would change it unseen)", (_what, raw, message) => {
    const mapped = read(raw);
    expect(mapped.problem).toMatch(message);
    expect(mapped.problem).not.toContain(raw);
    for (const method of ["resources/subscribe", "resources/unsubscribe"]) {
      expect(mapRequest(method, { uri: raw }, m).problem).toMatch(message);
    }
    expect(mapListItem("resources/list", { uri: raw }, m)).toBeUndefined();
  });

  it("uriAmbiguity finds nothing in ordinary URIs, and canonicalUri still parses them", () => {
    for (const uri of ["docs://a/b", "file:///tmp/x.txt", "https://example.com/?q=1#f"]) {
      expect(uriAmbiguity(uri)).toBeUndefined();
      expect(canonicalUri(uri)).toBeDefined();
    }
  });
});

describe("globMatcher", () => {
  const globs = ["*", "a*", "*a", "a*b", "*a*", "a*b*c", "notes://*/shared/*", "x**y", "ab*ab"];
  const inputs = ["", "a", "b", "ab", "aab", "abab", "abc", "acbc", "xy", "xzy", "ab\nab", "ba"];
  inputs.push("notes://n/shared/x", "notes:///shared/", "notes://shared/x");

  it("matches as the equivalent regular expression does", () => {
    for (const glob of globs) {
      const re = globToRegExp(glob);
      const test = globMatcher(glob);
      for (const input of inputs) expect(test(input), `${glob} ~ ${input}`).toBe(re.test(input));
    }
  });

  it("takes linear time where a regular expression backtracks for seconds", () => {
    const test = globMatcher("notes://*/*/*x");
    const input = `notes://${"/".repeat(4088)}`;
    const started = performance.now();
    expect(test(input)).toBe(false);
    expect(test(`notes://${"/".repeat(1 << 20)}`)).toBe(false);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it("serves the bypass list: a glob with several stars stays fast on a long method", () => {
    const m = resolveMapping({ bypass: ["a*a*a*b"] });
    const started = performance.now();
    expect(m.isBypassed("a".repeat(256))).toBe(false);
    expect(globMatcher("a*a*a*b")("a".repeat(100_000))).toBe(false);
    expect(m.isBypassed("aaab")).toBe(true);
    expect(performance.now() - started).toBeLessThan(100);
  });
});

describe("audit events", () => {
  it("record no text longer than AUDIT_TEXT_LIMIT", () => {
    const long = big(MiB);
    const event = decisionEvent(
      "pdp",
      {
        subject: { id: long, authenticated: false, tenant: long },
        operation: { method: long, phase: "call", server: "s" },
        resource: { type: long, key: long, attributes: {} },
        action: long,
      },
      { allow: false, source: "error", reason: long, decisionId: long, errorCode: long },
      1,
      { requestId: long, sessionId: long },
    );
    const json = JSON.stringify(event);
    expect(json.length).toBeLessThan(20 * 200);
    expect(event.resource.key).toBe(boundedText(long, AUDIT_TEXT_LIMIT));
    expect(event.requestId).toBe(boundedText(long, AUDIT_TEXT_LIMIT));
    expect(
      decisionEvent(
        "p",
        {
          subject: ada,
          operation: { method: "m", phase: "call", server: "s" },
          resource: { type: "t", attributes: {} },
          action: "a",
        },
        { allow: true, source: "pdp" },
        1,
        { requestId: 7 },
      ).requestId,
    ).toBe(7);
  });

  it("written by a JSON lines sink stay small for oversized requests", async () => {
    let bytes = 0;
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        done();
      },
    });
    const sink = jsonLinesAuditSink({ destination });
    const a = new Authorizer({ pdp: recordingPdp(), audit: sink, identity: () => ada });
    await a.authorize("tools/call", { name: big(MiB) }, { requestId: 1 });
    await a.authorize("resources/read", { uri: `docs://${big(MiB)}` }, { requestId: big(MiB) });
    await a.authorize("prompts/get", { name: big(MiB) }, {});
    await a.authorize(big(MiB), {}, {});
    await sink.flush?.();
    expect(bytes).toBeLessThan(4 * 1024);
  });
});

describe("the decision cache", () => {
  it("does not keep a request larger than MAX_SNAPSHOT_CHARS", async () => {
    const inner = recordingPdp(functionPdp(() => true));
    const pdp = withCache()(inner);
    const m = resolveMapping({ argumentOverflow: "truncate" });
    const mapped = mapRequest("tools/call", { name: "t", arguments: { s: big(MiB) } }, m);
    const request = { subject: ada, ...mapped };
    expect(snapshotRequest(request)).toBeUndefined();
    await pdp.check(request);
    await pdp.check(request);
    expect(inner.checkCalls).toBe(2);
    expect(pdp.stats().size).toBe(0);
    const small = { subject: ada, ...mapRequest("tools/call", { name: "t" }, m) };
    expect(snapshotRequest(small)).toBeDefined();
    expect(MAX_SNAPSHOT_CHARS).toBe(65_536);
  });

  it("holds fewer large requests: its size is bounded as well as its count", async () => {
    const pdp = withCache({ max: 10 })(functionPdp(() => true));
    const m = resolveMapping({ argumentOverflow: "truncate" });
    for (let i = 0; i < 10; i++) {
      // About 40 000 characters each: the budget (10 × 2048) holds none of them.
      const args = { s: big(40_000, i) };
      await pdp.check({
        subject: ada,
        ...mapRequest("tools/call", { name: "t", arguments: args }, m),
      });
    }
    expect(pdp.stats().size).toBeLessThanOrEqual(1);
    for (let i = 0; i < 10; i++) {
      await pdp.check({ subject: ada, ...mapRequest("tools/call", { name: `t${i}` }, m) });
    }
    expect(pdp.stats().size).toBe(10);
  });
});
