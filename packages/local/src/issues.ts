import { PolicyError } from "@mcp-pdp/core";
import type { z } from "zod";

/** Where in a document something is wrong, and what. */
export interface Issue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** At most this many problems are listed in one error. */
const MAX_ISSUES = 10;

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    if (!Object.hasOwn(v, seg)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** A short name of a value's kind, in YAML's terms. */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  switch (typeof value) {
    case "string":
      return "a string";
    case "number":
      return "a number";
    case "boolean":
      return "a boolean";
    case "object":
      return "a mapping";
    default:
      return typeof value;
  }
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  boolean: "a boolean",
  array: "a list",
  object: "a mapping",
  nonoptional: "a value",
};

function quoteAll(values: readonly unknown[]): string {
  return values.map((v) => JSON.stringify(v)).join(", ");
}

/** Turns zod's issues into messages in the package's own words (zod's defaults name TS types). */
export function fromZod(error: z.ZodError, input: unknown): Issue[] {
  return error.issues.map((issue): Issue => {
    const path = issue.path;
    const actual = valueAt(input, path);
    switch (issue.code) {
      case "invalid_type": {
        const expected = EXPECTED[issue.expected] ?? issue.expected;
        if (actual === undefined) return { path, message: `required (${expected})` };
        return { path, message: `expected ${expected}, got ${kindOf(actual)}` };
      }
      case "invalid_value": {
        const allowed = issue.values.map(String).join(", ");
        const last = path[path.length - 1];
        if (actual === undefined) return { path, message: `required; expected one of ${allowed}` };
        const what = last === "op" || last === "operator" ? "unknown operator" : "invalid value";
        return {
          path,
          message: `${what} ${JSON.stringify(actual)}; expected one of ${allowed}`,
        };
      }
      case "too_small":
        return { path, message: "must not be empty" };
      default:
        return { path, message: issue.message };
    }
  });
}

/** Message for an object schema's unknown keys, listing the keys it accepts. */
export function unknownKeysMessage(allowed: readonly string[]) {
  return (issue: { code: string; keys?: readonly string[] }): string | undefined => {
    if (issue.code !== "unrecognized_keys" || !issue.keys) return undefined;
    const s = issue.keys.length > 1 ? "s" : "";
    return `unknown field${s} ${quoteAll(issue.keys)}; expected ${allowed.join(", ")}`;
  };
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/**
 * One line per issue: `file: rule "name" (rules[2]): when[0].op: message`. The rule is named by
 * its `name` when it has a usable one, always with its index.
 */
export function formatIssue(source: string, input: unknown, issue: Issue): string {
  const parts: string[] = [];
  const [head, index, ...rest] = issue.path;
  let field: readonly PropertyKey[] = issue.path;
  if (head === "rules" && typeof index === "number") {
    const name = valueAt(input, ["rules", index, "name"]);
    parts.push(
      typeof name === "string" && name !== ""
        ? `rule ${JSON.stringify(name)} (rules[${index}])`
        : `rules[${index}]`,
    );
    field = rest;
  }
  const f = formatPath(field);
  if (f !== "") parts.push(f);
  parts.push(issue.message);
  return `${source}: ${parts.join(": ")}`;
}

/** A {@link PolicyError} listing the issues (the first ones, when there are many). */
export function policyError(source: string, input: unknown, issues: readonly Issue[]): PolicyError {
  const lines = issues.slice(0, MAX_ISSUES).map((i) => formatIssue(source, input, i));
  if (issues.length > MAX_ISSUES) lines.push(`... and ${issues.length - MAX_ISSUES} more`);
  return new PolicyError(lines.join("\n"));
}
