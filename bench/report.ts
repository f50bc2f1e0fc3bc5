/**
 * Figures: what each one measured, whether it met its target, the printed table and results.json.
 */
import { writeFileSync } from "node:fs";
import { round } from "./measure.js";

/** The outcome of one figure. */
export interface Figure {
  readonly name: string;
  /** The baseline, readable (`21.4 µs/call`). */
  readonly baseline: string;
  /** Ours, readable. */
  readonly subject: string;
  readonly ratio: number;
  readonly target: number;
  readonly better: "lower" | "higher";
  /** Medians, sample counts and checks made, for results.json. */
  readonly details: Readonly<Record<string, unknown>>;
}

export function passes(figure: Figure): boolean {
  return figure.better === "lower" ? figure.ratio <= figure.target : figure.ratio >= figure.target;
}

function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return String(ratio);
  return ratio >= 100 ? ratio.toFixed(0) : ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(3);
}

/** The figures as a text table. */
export function table(figures: readonly Figure[]): string {
  const rows = [
    ["figure", "baseline", "ours", "ratio", "target", "result"],
    ...figures.map((f) => [
      f.name,
      f.baseline,
      f.subject,
      formatRatio(f.ratio),
      `${f.better === "lower" ? "<=" : ">="} ${f.target}`,
      passes(f) ? "pass" : "MISS",
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: readonly string[]) =>
    r.map((cell, c) => (c >= 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)]
    .join("\n")
    .trimEnd();
}

/** Writes results.json: one entry per figure with its ratio, target and details. */
export function writeResults(path: string, figures: readonly Figure[]): void {
  const out: Record<string, unknown> = {};
  for (const f of figures) {
    out[f.name] = {
      ratio: round(f.ratio),
      target: f.target,
      better: f.better,
      pass: passes(f),
      baseline: f.baseline,
      subject: f.subject,
      ...f.details,
    };
  }
  writeFileSync(path, prettierJson(out));
}

/**
 * JSON laid out as the repository's formatter (prettier, 100 columns) lays it out, so a fresh
 * results.json passes `pnpm format:check`: objects one key per line, arrays of plain values on one
 * line when they fit.
 */
function prettierJson(value: unknown): string {
  const text = JSON.stringify(value, null, 2);
  const flat = text.replace(
    /\[\n(\s+)([^[\]{}\n]+(?:,\n\s+[^[\]{}\n]+)*)\n\s*\]/g,
    (whole, _indent, body: string, at: number) => {
      const line = `[${body.split(/,\n\s+/).join(", ")}]`;
      const start = text.lastIndexOf("\n", at) + 1;
      const end = at + whole.length;
      const after = text[end] === "," ? 1 : 0;
      return at - start + line.length + after <= 100 ? line : whole;
    },
  );
  return flat + "\n";
}
