/**
 * What every figure shares: the fake Permit PDP's policy, the tools of the benchmark servers and
 * the callers.
 */
import type { Subject } from "@mcp-pdp/core";

/** The API key the fake Permit PDP accepts. */
export const API_KEY = "permit_key_bench";

/** The server name in resource types (`notes`, `notes_tools`). */
export const SERVER_NAME = "notes";

/** The shape of a Permit query the policy reads (as the fake receives it). */
export interface WireQuery {
  readonly user: { readonly key: string };
  readonly action: string;
}

/**
 * The remote policy: administrative tools (actions starting with `admin-`) are denied to everyone
 * but `root`; users whose key ends in `7` are denied everything but listing. Mixed allows and
 * denies, so a client that always answers the same value cannot pass the agreement checks.
 */
export function permitPolicy(query: WireQuery): boolean {
  if (query.user.key === "root") return true;
  if (query.action.startsWith("admin-")) return false;
  return query.action === "list" || !query.user.key.endsWith("7");
}

/** Names of the tools of the large list: one in ten is administrative (hidden by the policy). */
export function listToolNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => (i % 10 === 9 ? `admin_tool_${i}` : `tool_${i}`));
}

/** The caller of the MCP figures. */
export const ALICE: Subject = Object.freeze({
  id: "alice",
  authenticated: true,
  roles: Object.freeze(["user"]),
});

/** A small deterministic PRNG (mulberry32), so every run decides the same requests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks one item with `random`. */
export function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T;
}
