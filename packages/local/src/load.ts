import { readFileSync } from "node:fs";
import { PolicyError, describeError } from "@mcp-pdp/core";
import { parseAllDocuments } from "yaml";
import {
  type CompiledEunomiaPolicy,
  type EunomiaPolicy,
  compileEunomia,
  eunomiaPolicySchema,
} from "./eunomia.js";
import { type Issue, fromZod, policyError } from "./issues.js";
import {
  type CompiledRule,
  type NativePolicy,
  compileNative,
  nativePolicySchema,
} from "./native.js";

/** The two document formats the engine reads. */
export type PolicyFormat = "native" | "eunomia";

/** A policy document in either format, as written in a file or in code. */
export type PolicyDocument = NativePolicy | EunomiaPolicy;

/** Options of {@link parsePolicy}. */
export interface ParsePolicyOptions {
  /** The file name errors name; a name ending in `.json` selects JSON syntax. @defaultValue `"<policy>"` */
  readonly filename?: string;
  /**
   * The document format. `auto` reads a document with a top-level `name` or `default_effect`, or
   * with rules holding `principal_conditions`/`resource_conditions`, as an Eunomia policy.
   * @defaultValue `"auto"`
   */
  readonly format?: PolicyFormat | "auto";
}

/** A document validated and tagged with where it came from. */
export type PreparedDocument =
  | {
      readonly format: "native";
      readonly source: string;
      readonly input: unknown;
      /** Compiled with orders from 0; the engine renumbers them across documents. */
      readonly rules: readonly CompiledRule[];
    }
  | {
      readonly format: "eunomia";
      readonly source: string;
      readonly input: unknown;
      readonly policy: CompiledEunomiaPolicy;
    };

interface Origin {
  readonly source: string;
  readonly format: PolicyFormat | "auto";
}

/**
 * Where each document returned by {@link parsePolicy} came from, so an engine built from them
 * names the file in its errors without the documents carrying extra fields.
 */
const origins = new WeakMap<object, Origin>();

/** The source and format recorded for a parsed document. */
export function originOf(doc: unknown): Origin | undefined {
  return typeof doc === "object" && doc !== null ? origins.get(doc) : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Tells an Eunomia policy from a native document by the fields only Eunomia uses. */
export function detectFormat(input: unknown): PolicyFormat {
  if (!isRecord(input)) return "native";
  if (Object.hasOwn(input, "name") || Object.hasOwn(input, "default_effect")) return "eunomia";
  const rules = input.rules;
  if (
    Array.isArray(rules) &&
    rules.some(
      (r) =>
        isRecord(r) &&
        (Object.hasOwn(r, "principal_conditions") || Object.hasOwn(r, "resource_conditions")),
    )
  ) {
    return "eunomia";
  }
  return "native";
}

/** Validates and compiles one document. Throws a {@link PolicyError} naming the source, rule and field. */
export function prepareDocument(
  input: unknown,
  source: string,
  format: PolicyFormat | "auto" = "auto",
): PreparedDocument {
  const kind = format === "auto" ? detectFormat(input) : format;
  if (kind === "eunomia") {
    const r = eunomiaPolicySchema.safeParse(input);
    if (!r.success) throw policyError(`${source} (Eunomia policy)`, input, fromZod(r.error, input));
    return { format: kind, source, input, policy: compileEunomia(r.data, source) };
  }
  const r = nativePolicySchema.safeParse(input);
  if (!r.success) throw policyError(source, input, fromZod(r.error, input));
  const issues: Issue[] = [];
  const seen = new Map<string, number>();
  r.data.rules.forEach((rule, i) => {
    const first = seen.get(rule.name);
    if (first === undefined) seen.set(rule.name, i);
    else
      issues.push({
        path: ["rules", i, "name"],
        message: `duplicate rule name; also rules[${first}]`,
      });
  });
  const rules = compileNative(r.data, source, 0, issues);
  if (issues.length > 0) throw policyError(source, input, issues);
  return { format: kind, source, input, rules };
}

function location(line: number, col: number): string {
  return `line ${line}, column ${col}`;
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return location(line, offset - before.lastIndexOf("\n"));
}

interface SyntaxProblem {
  readonly where?: string;
  readonly message: string;
}

function yamlDocuments(text: string): { docs: unknown[]; problem?: SyntaxProblem } {
  const parsed = parseAllDocuments(text);
  const list = Array.isArray(parsed) ? parsed : [];
  const docs: unknown[] = [];
  for (const doc of list) {
    const error = doc.errors[0];
    if (error) {
      const pos = error.linePos?.[0];
      const message = (error.message.split("\n")[0] ?? "").replace(
        / at line \d+, column \d+:?$/,
        "",
      );
      return {
        docs,
        problem: {
          ...(pos ? { where: location(pos.line, pos.col) } : {}),
          message: `YAML syntax error: ${message}`,
        },
      };
    }
    try {
      docs.push(doc.toJS({ maxAliasCount: 100 }));
    } catch (e) {
      return { docs, problem: { message: `YAML error: ${describeError(e)}` } };
    }
  }
  return { docs };
}

function jsonDocument(text: string): { docs: unknown[]; problem?: SyntaxProblem } {
  try {
    return { docs: [JSON.parse(text) as unknown] };
  } catch (e) {
    const raw = describeError(e);
    const message = raw
      .replace(/, ".*" is not valid JSON$/s, "")
      .replace(/ in JSON at position \d+.*$/s, "");
    const position = /at position (\d+)/.exec(raw)?.[1];
    let where = position !== undefined ? lineAndColumn(text, Number(position)) : undefined;
    // V8 names no position for some errors; the YAML parser (JSON is YAML) can often place them.
    where ??= yamlDocuments(text).problem?.where;
    return {
      docs: [],
      problem: { ...(where ? { where } : {}), message: `invalid JSON: ${message}` },
    };
  }
}

/** Parses and validates text into prepared documents (see {@link parsePolicy}). */
export function preparePolicyText(
  text: string,
  filename: string,
  format: PolicyFormat | "auto" = "auto",
): PreparedDocument[] {
  const json = /\.json$/i.test(filename);
  const { docs, problem } = json ? jsonDocument(text) : yamlDocuments(text);
  if (problem) {
    throw new PolicyError(
      `${filename}: ${problem.where !== undefined ? `${problem.where}: ` : ""}${problem.message}`,
    );
  }
  const present = docs.filter((d) => d !== null && d !== undefined);
  if (present.length === 0) throw new PolicyError(`${filename}: no policy document`);
  return present.map((input, i) => {
    const source = present.length > 1 ? `${filename} (document ${i + 1})` : filename;
    const prepared = prepareDocument(input, source, format);
    origins.set(input, { source, format });
    return prepared;
  });
}

/** Reads and validates a policy file into prepared documents. */
export function preparePolicyFile(
  path: string,
  format: PolicyFormat | "auto" = "auto",
): PreparedDocument[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new PolicyError(`${path}: cannot read the policy file: ${describeError(error)}`, {
      cause: error,
    });
  }
  return preparePolicyText(text, path, format);
}

/**
 * Parses and validates policy text: YAML (several documents separated by `---` allowed) or JSON,
 * native or Eunomia documents. Throws a {@link PolicyError} whose message names the file and, for
 * a syntax error, the line; for an invalid document, the rule and the field.
 */
export function parsePolicy(text: string, options: ParsePolicyOptions = {}): PolicyDocument[] {
  return preparePolicyText(text, options.filename ?? "<policy>", options.format).map(
    (p) => p.input as PolicyDocument,
  );
}

/** Reads and validates a policy file (see {@link parsePolicy}). */
export function loadPolicyFile(
  path: string,
  options: Pick<ParsePolicyOptions, "format"> = {},
): PolicyDocument[] {
  return preparePolicyFile(path, options.format).map((p) => p.input as PolicyDocument);
}
