import { LRUCache } from "lru-cache";
import type { ComponentKind, ComponentMetadata } from "./model.js";

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function stringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : undefined;
}

/** Reads the metadata a check may use from a component as the server lists it. */
export function metadataOf(item: unknown): ComponentMetadata | undefined {
  const it = asRecord(item);
  if (!it) return undefined;
  const meta = asRecord(it._meta);
  const tags =
    stringArray(meta?.tags) ??
    stringArray(meta?.["mcp-pdp/tags"]) ??
    stringArray(asRecord(meta?._fastmcp)?.tags) ??
    stringArray(it.tags);
  const annotations = asRecord(it.annotations);
  return {
    ...(typeof it.title === "string" ? { title: it.title } : {}),
    ...(typeof it.description === "string" ? { description: it.description } : {}),
    ...(annotations ? { annotations } : {}),
    ...(meta ? { meta } : {}),
    ...(tags ? { tags } : {}),
  };
}

/** How many components a {@link ComponentRegistry} remembers from list results. */
export const MAX_REMEMBERED_COMPONENTS = 10_000;

/**
 * What the server declared about its components, read from its live registrations and remembered
 * from the list results it sent (never from what a client sends), so a call can be decided with
 * the component's annotations and tags.
 */
export class ComponentRegistry {
  // Bounded: a server whose resource lists are generated (one entry per file, per record, ...)
  // must not grow it without end. The least recently used entries go first.
  readonly #entries = new LRUCache<string, ComponentMetadata>({ max: MAX_REMEMBERED_COMPONENTS });
  #fallback: ((kind: ComponentKind, id: string) => ComponentMetadata | undefined) | undefined;

  /**
   * The server's live registrations, consulted before anything remembered: after
   * `tool.update({ _meta })` the new tags apply at once, not only after the next list.
   */
  setFallback(lookup: (kind: ComponentKind, id: string) => ComponentMetadata | undefined): void {
    this.#fallback = lookup;
  }

  set(kind: ComponentKind, id: string, metadata: ComponentMetadata): void {
    this.#entries.set(`${kind}\0${id}`, metadata);
  }

  /** The live registration's metadata, else what the last list said, else undefined. */
  get(kind: ComponentKind, id: string): ComponentMetadata | undefined {
    const live = this.#fallback?.(kind, id);
    if (live !== undefined || this.#entries.size === 0) return live;
    return this.#entries.get(`${kind}\0${id}`);
  }

  /** Records every item of a list result the server produced. */
  remember(kind: ComponentKind, items: readonly unknown[]): void {
    for (const item of items) {
      const it = asRecord(item);
      const id =
        it?.[kind === "resource" ? "uri" : kind === "resource_template" ? "uriTemplate" : "name"];
      if (typeof id !== "string") continue;
      // What the live registrations already declare needs no second copy (and get() asks them first).
      if (this.#fallback?.(kind, id) !== undefined) continue;
      const metadata = metadataOf(item);
      if (metadata) this.set(kind, id, metadata);
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}
