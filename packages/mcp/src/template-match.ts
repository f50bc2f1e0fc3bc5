/**
 * Whether a URI matches a resource template, deciding exactly what the SDK 1.x `UriTemplate.match`
 * decides, in time linear in the URI.
 *
 * The SDK turns a template into a RegExp of `[^/,]+`, `.+`, ... runs, which backtracks
 * polynomially on a URI that almost matches a template with several variables (seconds for a few
 * thousand characters). The guard must find the template a read goes to before deciding it, so
 * that cost would be paid for every request, denied ones included. Here the same language is
 * recognised by simulating all of its automaton's states at once: each character is looked at once
 * per live state, and no choice is ever retried.
 */

/**
 * The public part of an SDK 1.x `UriTemplate`; its parsed `parts` (a private field) are read too,
 * when present.
 */
export interface SdkUriTemplate {
  match(uri: string): unknown;
}

/** A parsed expression as SDK 1.x keeps it in `UriTemplate.parts`. */
interface Expression {
  readonly operator: string;
  readonly names: readonly string[];
  readonly exploded: boolean;
}

/** What one step of the automaton accepts: a given code unit, or one of the SDK's classes. */
const Test = {
  /** The RegExp `.` without flags: anything but a line terminator. */
  Dot: -1,
  /** `[^/,]` */
  NotSlashComma: -2,
  /** `[^/]` */
  NotSlash: -3,
  /** `[^&]` */
  NotAmpersand: -4,
} as const;

const SLASH = 0x2f;
const COMMA = 0x2c;
const AMPERSAND = 0x26;

function accepts(test: number, unit: number): boolean {
  switch (test) {
    case Test.Dot:
      return unit !== 0x0a && unit !== 0x0d && unit !== 0x2028 && unit !== 0x2029;
    case Test.NotSlashComma:
      return unit !== SLASH && unit !== COMMA;
    case Test.NotSlash:
      return unit !== SLASH;
    case Test.NotAmpersand:
      return unit !== AMPERSAND;
    default:
      return unit === test;
  }
}

/**
 * An automaton without empty moves: state `s`'s moves are `edges[s]`, pairs of a test and the
 * next state. The SDK's patterns need none (`x+` is a move into a state that loops on `x`), so a
 * step is a plain pass over the live states.
 */
interface Automaton {
  readonly edges: readonly (readonly number[])[];
  readonly accept: number;
}

class Builder {
  readonly edges: number[][] = [[]];
  current = 0;

  #state(): number {
    this.edges.push([]);
    return this.edges.length - 1;
  }

  #edge(from: number, test: number, to: number): void {
    (this.edges[from] as number[]).push(test, to);
  }

  literal(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const next = this.#state();
      this.#edge(this.current, text.charCodeAt(i), next);
      this.current = next;
    }
  }

  /** `x+` */
  some(test: number): void {
    const run = this.#state();
    this.#edge(this.current, test, run);
    this.#edge(run, test, run);
    this.current = run;
  }

  /** `x+(?:,x+)*`: runs of `x` joined by single commas, none at either end. */
  list(test: number): void {
    this.some(test);
    const run = this.current;
    const comma = this.#state();
    this.#edge(run, COMMA, comma);
    this.#edge(comma, test, run);
  }
}

function isExpression(value: unknown): value is Expression {
  if (typeof value !== "object" || value === null) return false;
  const e = value as Record<string, unknown>;
  return (
    typeof e.operator === "string" &&
    typeof e.exploded === "boolean" &&
    Array.isArray(e.names) &&
    e.names.every((name) => typeof name === "string")
  );
}

/** The SDK refuses to build a pattern longer than this (its `MAX_REGEX_LENGTH`), so matches nothing. */
const MAX_SDK_PATTERN = 1_000_000;
const REGEXP_SPECIAL = /[.*+?^${}()|[\]\\]/g;

/** The length of the SDK's escaped form of `text`, without building it. */
function escapedLength(text: string): number {
  return text.length + (text.match(REGEXP_SPECIAL)?.length ?? 0);
}

/**
 * The automaton of the pattern the SDK's `match` builds from `parts`, piece by piece as its
 * `partToRegExp` does; undefined when `parts` is not in that shape. "never" where the SDK's `match`
 * throws whatever the URI (a pattern too long) or on every URI it matches (an unnamed expression):
 * a template whose matcher throws was never taken to match.
 */
function compile(parts: unknown): Automaton | "never" | undefined {
  if (!Array.isArray(parts)) return undefined;
  const b = new Builder();
  let patternLength = 2; // ^ and $
  for (const part of parts as unknown[]) {
    if (typeof part === "string") {
      b.literal(part);
      patternLength += escapedLength(part);
      continue;
    }
    if (!isExpression(part)) return undefined;
    const { operator, names, exploded } = part;
    if (operator === "?" || operator === "&") {
      names.forEach((name, i) => {
        b.literal(`${i === 0 ? operator : "&"}${name}=`);
        b.some(Test.NotAmpersand);
        patternLength += 2 + escapedLength(name) + "=([^&]+)".length - (i === 0 ? 0 : 1);
      });
      continue;
    }
    // The SDK names the capture after `names[0]`, and throws on any URI its pattern matches when
    // there is none (`{}`): such a template never matches.
    if (names.length === 0) return "never";
    switch (operator) {
      case "":
        if (exploded) b.list(Test.NotSlashComma);
        else b.some(Test.NotSlashComma);
        patternLength += exploded ? 20 : 8;
        break;
      case "+":
      case "#":
        b.some(Test.Dot);
        patternLength += 4;
        break;
      case ".":
        b.literal(".");
        b.some(Test.NotSlashComma);
        patternLength += 10;
        break;
      case "/":
        b.literal("/");
        if (exploded) b.list(Test.NotSlashComma);
        else b.some(Test.NotSlashComma);
        patternLength += exploded ? 21 : 9;
        break;
      default:
        b.some(Test.NotSlash);
        patternLength += 7;
    }
  }
  if (patternLength > MAX_SDK_PATTERN) return "never";
  return { edges: b.edges, accept: b.current };
}

function run(automaton: Automaton, uri: string): boolean {
  const { edges, accept } = automaton;
  // `seenAt[s]` is the last step that made `s` live: no clearing between steps.
  const seenAt = new Int32Array(edges.length).fill(-1);
  let live = [0];
  for (let i = 0; i < uri.length && live.length > 0; i++) {
    const unit = uri.charCodeAt(i);
    const next: number[] = [];
    for (const state of live) {
      const moves = edges[state] as readonly number[];
      for (let m = 0; m < moves.length; m += 2) {
        const to = moves[m + 1] as number;
        if (seenAt[to] !== i && accepts(moves[m] as number, unit)) {
          seenAt[to] = i;
          next.push(to);
        }
      }
    }
    live = next;
  }
  return live.includes(accept);
}

/** URIs up to this length may still go to the SDK's own matcher when its template can't be read. */
export const SDK_MATCH_MAX_URI = 256;

/** The SDK refuses to match a longer URI (its `MAX_TEMPLATE_LENGTH`, checked on the URI too). */
const MAX_SDK_URI = 1_000_000;

/** A template whose parts could not be read, met with a URI too long to give the SDK's matcher. */
export class UndecidableTemplateMatch extends Error {
  override readonly name = "UndecidableTemplateMatch";
  constructor(uriLength: number) {
    super(
      `cannot tell which resource template a ${uriLength}-character URI matches: the template's parts are not in the SDK 1.x shape`,
    );
  }
}

const compiled = new WeakMap<
  object,
  { parts: unknown; automaton: Automaton | "never" | undefined }
>();

/**
 * Whether `uri` matches `template` (a truthy `template.match(uri)` in the SDK). A template whose
 * parts can't be read falls back to the SDK's matcher for short URIs only; past
 * {@link SDK_MATCH_MAX_URI} it throws {@link UndecidableTemplateMatch}, which the guard turns into
 * a refusal: a long URI can't be made to run the backtracking matcher, nor be decided without the
 * template's metadata.
 */
export function matchesTemplate(template: SdkUriTemplate, uri: string): boolean {
  const parts = (template as { parts?: unknown }).parts;
  let memo = compiled.get(template);
  // Recompiled if the parts were replaced; a template is not expected to change after creation.
  if (memo === undefined || memo.parts !== parts) {
    memo = { parts, automaton: compile(parts) };
    compiled.set(template, memo);
  }
  const { automaton } = memo;
  if (automaton === "never" || uri.length > MAX_SDK_URI) return false;
  if (automaton !== undefined) return run(automaton, uri);
  if (uri.length > SDK_MATCH_MAX_URI) throw new UndecidableTemplateMatch(uri.length);
  try {
    return Boolean(template.match(uri));
  } catch {
    return false;
  }
}
