import { globMatcher } from "@mcp-pdp/core";

/**
 * A compiled list of `*` globs: exact patterns in a set, wildcard patterns as linear-time tests
 * (a regular expression with several `.*` can take seconds on a 4 KiB URI).
 */
export interface Matcher {
  /** True when the list contains a bare `*`. */
  readonly any: boolean;
  /** Patterns without a wildcard. */
  readonly exact: ReadonlySet<string>;
  readonly globs: readonly ((value: string) => boolean)[];
  readonly patterns: readonly string[];
}

/** Whether a pattern needs a regex (holds a `*`). */
export function isGlob(pattern: string): boolean {
  return pattern.includes("*");
}

/** Compiles patterns once; a bare `*` matches everything. */
export function compileMatcher(patterns: readonly string[]): Matcher {
  const exact = new Set<string>();
  const globs: ((value: string) => boolean)[] = [];
  let any = false;
  for (const p of patterns) {
    if (p === "*") any = true;
    else if (isGlob(p)) globs.push(globMatcher(p));
    else exact.add(p);
  }
  return { any, exact, globs, patterns };
}

/** Whether the value matches any pattern; an absent value matches none. */
export function matches(matcher: Matcher, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (matcher.any || matcher.exact.has(value)) return true;
  const globs = matcher.globs;
  for (let i = 0; i < globs.length; i++) {
    if ((globs[i] as (value: string) => boolean)(value)) return true;
  }
  return false;
}

/** Whether any of the values matches. */
export function matchesAny(matcher: Matcher, values: readonly string[] | undefined): boolean {
  if (!values) return false;
  for (let i = 0; i < values.length; i++) {
    if (matches(matcher, values[i])) return true;
  }
  return false;
}
