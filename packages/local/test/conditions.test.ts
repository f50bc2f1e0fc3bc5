import type { Subject } from "@mcp-pdp/core";
import { describe, expect, it } from "vitest";
import { type ConditionOperator, localPdp } from "../src/index.js";
import { item, tool } from "./helpers.js";

/** Decides one condition on `subject.attributes.x` holding `actual` (absent when undefined). */
function holds(op: ConditionOperator, value: unknown, actual: unknown, withValue = true): boolean {
  const pdp = localPdp({
    policies: [
      {
        rules: [
          {
            name: "r",
            effect: "allow",
            actions: "*",
            when: [{ field: "subject.attributes.x", op, ...(withValue ? { value } : {}) }],
          },
        ],
      },
    ],
  });
  const subject: Subject = {
    id: "s",
    authenticated: true,
    attributes: actual === undefined ? {} : { x: actual },
  };
  return pdp.decide(tool(subject, "t")).allow;
}

const cases: [ConditionOperator, unknown, unknown, boolean][] = [
  ["equals", "eng", "eng", true],
  ["equals", "eng", "ops", false],
  ["equals", 1, "1", false], // no coercion
  ["equals", { a: [1, 2] }, { a: [1, 2] }, true],
  ["equals", ["a"], ["a", "b"], false],
  ["not_equals", "eng", "ops", true],
  ["not_equals", "eng", "eng", false],
  ["in", ["eng", "ops"], "ops", true],
  ["in", ["eng", "ops"], "hr", false],
  ["in", ["eng", "ops"], ["hr", "ops"], true], // a list field: some element in the list
  ["in", [{ k: 1 }], { k: 1 }, true],
  ["not_in", ["eng", "ops"], "hr", true],
  ["not_in", ["eng", "ops"], "eng", false],
  ["not_in", ["eng"], ["hr", "eng"], false], // a list field: no element may be in the list
  ["contains", "ore", "core", true],
  ["contains", "x", "core", false],
  ["contains", "core", ["core", "infra"], true], // a list field: has the element
  ["contains", "co", ["core"], false],
  ["contains", 3, [1, 3], true],
  ["starts_with", "/home/", "/home/a", true],
  ["starts_with", "/home/", "/etc", false],
  ["starts_with", "team-", ["x", "team-a"], true],
  ["ends_with", ".md", "a.md", true],
  ["ends_with", ".md", "a.txt", false],
  ["regex", "^a\\d+$", "a12", true],
  ["regex", "^a\\d+$", "a1b", false],
  ["regex", "^a", 12, false], // numbers are not strings
  ["gt", 3, 4, true],
  ["gt", 3, 3, false],
  ["gte", 3, 3, true],
  ["lt", 3, 2, true],
  ["lt", 3, 3, false],
  ["lte", 3, 3, true],
  ["gt", 3, "4", false], // different types never compare
  ["gt", "2024-01-01", "2024-06-30", true], // strings compare in order
  ["lt", "b", "a", true],
  ["exists", true, "anything", true],
  ["exists", true, false, true],
  ["exists", false, "anything", false],
];

describe("native condition operators", () => {
  it.each(cases)("%s %j on %j is %s", (op, value, actual, expected) => {
    expect(holds(op, value, actual)).toBe(expected);
  });

  it("fail every operator except exists: false when the field is absent", () => {
    const absentCases: [ConditionOperator, unknown][] = [
      ["equals", "x"],
      ["not_equals", "x"],
      ["in", ["x"]],
      ["not_in", ["x"]],
      ["contains", "x"],
      ["starts_with", "x"],
      ["ends_with", "x"],
      ["regex", "x"],
      ["gt", 1],
      ["gte", 1],
      ["lt", 1],
      ["lte", 1],
      ["exists", true],
    ];
    for (const [op, value] of absentCases) expect(holds(op, value, undefined), op).toBe(false);
    expect(holds("exists", false, undefined)).toBe(true);
    expect(holds("exists", undefined, undefined, false)).toBe(false);
    expect(holds("exists", undefined, "here", false)).toBe(true);
  });

  it("treat a null field as absent", () => {
    expect(holds("not_equals", "x", null)).toBe(false);
    expect(holds("exists", false, null)).toBe(true);
  });
});

describe("field paths", () => {
  function allowsWith(
    field: string,
    value: unknown,
    subject: Subject,
    args?: Record<string, unknown>,
  ) {
    const pdp = localPdp({
      policies: [
        {
          rules: [
            { name: "r", effect: "allow", actions: "*", when: [{ field, op: "equals", value }] },
          ],
        },
      ],
    });
    return pdp.decide(tool(subject, "t", args)).allow;
  }
  const s: Subject = {
    id: "s",
    authenticated: true,
    roles: ["user"],
    tenant: "acme",
    attributes: { org: { units: [{ name: "eng" }] } },
  };

  it("index lists by digit segments", () => {
    expect(allowsWith("subject.attributes.org.units.0.name", "eng", s)).toBe(true);
    expect(allowsWith("subject.attributes.org.units.1.name", "eng", s)).toBe(false);
    expect(allowsWith("subject.roles.0", "user", s)).toBe(true);
    expect(allowsWith("arguments.ids.1", "b", s, { ids: ["a", "b"] })).toBe(true);
  });

  it("read subject fields", () => {
    expect(allowsWith("subject.tenant", "acme", s)).toBe(true);
    expect(allowsWith("subject.authenticated", true, s)).toBe(true);
    expect(allowsWith("subject.id", "s", s)).toBe(true);
  });

  it("never read inherited properties", () => {
    const pdp = localPdp({
      policies: [
        {
          rules: [
            {
              name: "r",
              effect: "allow",
              actions: "*",
              when: [{ field: "arguments.constructor", op: "exists" }],
            },
          ],
        },
      ],
    });
    expect(pdp.decide(tool(s, "t", {})).allow).toBe(false);
  });
});

describe("path_within", () => {
  const inNotes = (actual: unknown) => holds("path_within", "/notes", actual);

  it.each([
    ["/notes", true],
    ["/notes/", true],
    ["/notes/a.txt", true],
    ["/notes/./a", true],
    ["/notes//a", true],
    ["//notes/a", true],
    ["/notes/sub/../a", true],
    ["/notes/a/..", true],
    ["/notes/../outside.txt", false],
    ["/notes/../notesX/a", false],
    ["/notes/a/../../etc/passwd", false],
    ["/notesX/a", false],
    ["/note", false],
    ["/", false],
    ["/etc/passwd", false],
    ["notes/a", false], // relative: resolved against a directory the policy does not know
    ["./notes/a", false],
    ["../notes/a", false],
    ["~/notes/a", false],
    ["", false],
    ["/notes/a\\..\\..\\etc", false], // a Windows server reads \ as a separator
    ["/notes/a\\b", false],
    ["C:\\notes\\a", false],
    ["/notes/a\u0000/../../etc", false],
    ["file:///notes/a.txt", true],
    ["FILE:///notes/a.txt", true],
    ["file://localhost/notes/a", true],
    ["file:///notes/My%20Notes.txt", true],
    ["file:///notes/%2e%2e/outside.txt", false],
    ["file:///notes/%2E%2E/outside.txt", false],
    ["file:///notes/.%2e/outside.txt", false],
    ["file:///x/%2e%2e/notes/a", true], // resolved as the URL parser and fileURLToPath do
    ["file:///notes/a%2F..%2F..%2Fetc", false], // an encoded / is refused by fileURLToPath
    ["file:///notes/a%5C..%5C..%5Cetc", false], // a decoded backslash
    ["file:///notes/a%00", false],
    ["file://evil.example/notes/a", false], // a host
    ["file:///notes/a?x=1", false],
    ["file:///notes/a#frag", false],
    ["file:///x/.\t./notes/a", false], // characters the URL parser would drop
    ["file:///notes\\..\\etc", false],
    [" file:///notes/a", false],
    ["file:notes/a", false], // only file:// URIs: the parser would make it file:///notes/a
    ["file:/notes/a", false],
    ["http://host/notes/a", false],
    ["docs://notes/a", false],
    [["/notes/a"], false], // a list is never within: an allow must not hold for part of it
    [42, false],
    [{ path: "/notes/a" }, false],
  ])("/notes holds %j: %s", (actual, expected) => {
    expect(inNotes(actual)).toBe(expected);
  });

  it("is false for an absent or null field", () => {
    expect(inNotes(undefined)).toBe(false);
    expect(inNotes(null)).toBe(false);
  });

  it("takes a list of bases, resolved when the policy is loaded", () => {
    const bases = ["/srv/notes/", "/tmp//shared/.", "/home/a/../b"];
    expect(holds("path_within", bases, "/srv/notes/x")).toBe(true);
    expect(holds("path_within", bases, "/tmp/shared/x")).toBe(true);
    expect(holds("path_within", bases, "/home/b/x")).toBe(true);
    expect(holds("path_within", bases, "/home/a/x")).toBe(false);
    expect(holds("path_within", bases, "/srv/notesX")).toBe(false);
    expect(holds("path_within", bases, "/tmp/sharedX/x")).toBe(false);
  });

  it("holds for every absolute path with the root as base", () => {
    expect(holds("path_within", "/", "/etc/passwd")).toBe(true);
    expect(holds("path_within", "/", "etc/passwd")).toBe(false);
  });

  it("reads a tool's raw argument, and counts as satisfiable when listing", () => {
    const pdp = localPdp({
      policies: [
        {
          rules: [
            {
              name: "write-notes",
              effect: "allow",
              resources: { tools: ["write_file"] },
              actions: "*",
              when: [{ field: "arguments.path", op: "path_within", value: "/Users/alice/notes" }],
            },
          ],
        },
      ],
    });
    const alice: Subject = { id: "alice", authenticated: true };
    const write = (path: string) => pdp.decide(tool(alice, "write_file", { path })).allow;
    expect(write("/Users/alice/notes/today.md")).toBe(true);
    expect(write("/Users/alice/notes/../outside.txt")).toBe(false);
    expect(write("/Users/alice/notesX/a")).toBe(false);
    expect(pdp.decide(item(alice, "tools/list", { name: "write_file" })).allow).toBe(true);
  });
});
