/**
 * The guard's own template matcher against the SDK's: on short URIs, where the SDK's backtracking
 * RegExp is quick, both must accept exactly the same URIs for every template shape the SDK parses.
 */
import { UriTemplate } from "@modelcontextprotocol/sdk/shared/uriTemplate.js";
import { describe, expect, it } from "vitest";
import {
  SDK_MATCH_MAX_URI,
  UndecidableTemplateMatch,
  matchesTemplate,
} from "../src/template-match.js";

/** A seeded xorshift generator, so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const TEMPLATES = [
  "",
  "docs://readme",
  "docs://page/{id}",
  "docs://{a}-{b}-{c}!",
  "docs://{a}{b}",
  "files://{+path}",
  "files://{+a}{+b}!",
  "files://{+path}/raw",
  "site://x{#frag}",
  "site://x{#a}.{b}",
  "file://{name}{.ext}",
  "file://{name}{.a}{.b}",
  "file://{name}{.ext*}",
  "tree://{/path}",
  "tree://r{/path*}",
  "tree://r{/a}{/b*}/end",
  "list://{items*}",
  "list://{items*}-{more*}",
  "q://x{?a}",
  "q://x{?a,b}",
  "q://x{?a}{&b}",
  "q://x{&a,b}",
  "q://x{?}",
  "q://{a}{?b*}",
  "multi://{a,b}",
  "multi://{+a,b}/{/c,d}",
  "other://{;p}/{=e}",
  "empty://{}/x",
  "regex://a.b*c+(d)[e]{f}|^$\\",
  "nl://{+a}\n{b}",
  "{a}",
  "{+a}",
  "{/a*}{?b}",
  "brace}://{a}}",
];

/** Characters that mean something to one pattern or another, and a few that mean nothing. */
const ALPHABET = "/,&=?#.-!xyab:{}()[]*+|^$\\;\n\r\u2028\u2029\u00e9\ud83d\ude00";

function randomText(next: () => number, max: number): string {
  const length = Math.floor(next() * (max + 1));
  let text = "";
  for (let i = 0; i < length; i++) text += ALPHABET.charAt(Math.floor(next() * ALPHABET.length));
  return text;
}

/** The SDK's answer; a matcher that throws is one that never matched (the guard skips it). */
function sdkMatches(template: UriTemplate, uri: string): boolean {
  try {
    return template.match(uri) !== null;
  } catch {
    return false;
  }
}

/** Candidate URIs for a template: its literal text and random fills, and pure noise. */
function candidates(template: string, next: () => number, count: number): string[] {
  const out = [template, "", "x", "docs://", "docs://a-b-c!"];
  for (let i = 0; i < count; i++) {
    if (next() < 0.7) {
      // Each expression replaced by random text (often right around the template's delimiters).
      out.push(template.replace(/\{[^}]*\}/g, () => randomText(next, 6)));
    } else {
      out.push(randomText(next, 24));
    }
  }
  return out;
}

describe("matchesTemplate", () => {
  it("accepts exactly the URIs the SDK's UriTemplate.match accepts", () => {
    const next = prng(0x5eed);
    let cases = 0;
    let matched = 0;
    const mismatches: string[] = [];
    for (const source of TEMPLATES) {
      const template = new UriTemplate(source);
      for (const uri of candidates(source, next, 400)) {
        const expected = sdkMatches(template, uri);
        const actual = matchesTemplate(template, uri);
        cases++;
        if (expected) matched++;
        if (actual !== expected)
          mismatches.push(`${JSON.stringify(source)} ${JSON.stringify(uri)}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(cases).toBeGreaterThan(10_000);
    // Both answers are exercised, not just refusals.
    expect(matched).toBeGreaterThan(1_000);
    expect(cases - matched).toBeGreaterThan(1_000);
  });

  it("accepts the SDK's own expansions of each template", () => {
    const next = prng(42);
    for (const source of TEMPLATES) {
      const template = new UriTemplate(source);
      for (let i = 0; i < 50; i++) {
        // No lone surrogates: the SDK's expand() can't encode them.
        const value = (): string => randomText(next, 5).replace(/[\ud800-\udfff]/g, "s") || "v";
        const variables = Object.fromEntries(
          template.variableNames.map((name) => [name, next() < 0.3 ? [value(), value()] : value()]),
        );
        const uri = template.expand(variables);
        expect(matchesTemplate(template, uri), `${source} ${uri}`).toBe(sdkMatches(template, uri));
      }
    }
  });

  it("decides a 4000-character near miss in linear time", () => {
    const template = new UriTemplate("docs://{a}{b}{c}{d}-{e}!");
    const started = performance.now();
    expect(matchesTemplate(template, `docs://${"-".repeat(4000)}`)).toBe(false);
    expect(matchesTemplate(template, `docs://${"a".repeat(4000)}-b!`)).toBe(true);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it("uses the SDK's matcher only for short URIs when a template's parts can't be read", () => {
    const seen: string[] = [];
    const foreign = {
      parts: "not the SDK 1.x shape",
      match: (uri: string) => {
        seen.push(uri);
        return uri.startsWith("x://") ? {} : null;
      },
    };
    expect(matchesTemplate(foreign, "x://short")).toBe(true);
    expect(matchesTemplate(foreign, "y://short")).toBe(false);
    const long = `x://${"a".repeat(SDK_MATCH_MAX_URI)}`;
    expect(() => matchesTemplate(foreign, long)).toThrow(UndecidableTemplateMatch);
    expect(seen).toEqual(["x://short", "y://short"]);
  });
});
