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

/**
 * What the server declared about its components, remembered from its registrations and from the
 * list results it sent (never from what a client sends), so a call can be decided with the
 * component's annotations and tags.
 */
export class ComponentRegistry {
  readonly #entries = new Map<string, ComponentMetadata>();
  #fallback: ((kind: ComponentKind, id: string) => ComponentMetadata | undefined) | undefined;

  /**
   * Consulted when nothing was remembered for a component, e.g. to read the server's own
   * registrations before any list was sent.
   */
  setFallback(lookup: (kind: ComponentKind, id: string) => ComponentMetadata | undefined): void {
    this.#fallback = lookup;
  }

  set(kind: ComponentKind, id: string, metadata: ComponentMetadata): void {
    this.#entries.set(`${kind}\0${id}`, metadata);
  }

  get(kind: ComponentKind, id: string): ComponentMetadata | undefined {
    return this.#entries.get(`${kind}\0${id}`) ?? this.#fallback?.(kind, id);
  }

  /** Records every item of a list result the server produced. */
  remember(kind: ComponentKind, items: readonly unknown[]): void {
    for (const item of items) {
      const it = asRecord(item);
      const id =
        it?.[kind === "resource" ? "uri" : kind === "resource_template" ? "uriTemplate" : "name"];
      const metadata = metadataOf(item);
      if (typeof id === "string" && metadata) this.set(kind, id, metadata);
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}
