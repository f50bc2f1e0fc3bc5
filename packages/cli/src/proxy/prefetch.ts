import { type Authorizer, LIST_METHODS, type ListMethod } from "@mcp-pdp/core";
import { TransportDecorator } from "@mcp-pdp/mcp";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";

function methodOf(message: JSONRPCMessage): string | undefined {
  const m = (message as { method?: unknown }).method;
  return typeof m === "string" ? m : undefined;
}

/**
 * A client transport whose incoming requests and notifications can be held back and delivered
 * later in order. Responses (to the server's own requests) are never held: the server may wait on
 * one before it answers anything else.
 */
export class HoldingTransport extends TransportDecorator {
  readonly #holdAfter: (message: JSONRPCMessage) => boolean;
  readonly #onHold: () => void;
  #held = false;
  #triggered = false;
  #queue: [JSONRPCMessage, MessageExtraInfo | undefined][] = [];

  /**
   * Holding starts right after the first delivered message matching `holdAfter`; `onHold` is then
   * called (once) and must end with {@link HoldingTransport.release}.
   */
  constructor(
    inner: Transport,
    holdAfter: (message: JSONRPCMessage) => boolean,
    onHold: () => void,
  ) {
    super(inner);
    this.#holdAfter = holdAfter;
    this.#onHold = onHold;
  }

  override close(): Promise<void> {
    this.#queue = [];
    return super.close();
  }

  /** Delivers what was held, in order, and stops holding. */
  release(): void {
    this.#held = false;
    const queue = this.#queue;
    this.#queue = [];
    for (const [message, extra] of queue) this.deliver(message, extra);
  }

  protected override receive(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void {
    if (this.#held && methodOf(message) !== undefined) {
      this.#queue.push([message, extra]);
      return;
    }
    this.deliver(message, extra);
    if (!this.#triggered && this.#holdAfter(message)) {
      this.#triggered = true;
      this.#held = true;
      this.#onHold();
    }
  }
}

/** The list methods to read for each capability a server may advertise. */
const BY_CAPABILITY: Record<string, readonly ListMethod[]> = {
  tools: ["tools/list"],
  prompts: ["prompts/list"],
  resources: ["resources/list", "resources/templates/list"],
};

/** Which lists to read, from the server's `initialize` result (all of them when unknown). */
export function listsFor(capabilities: unknown): ListMethod[] {
  if (typeof capabilities !== "object" || capabilities === null) {
    return Object.values(BY_CAPABILITY).flat();
  }
  return Object.entries(BY_CAPABILITY)
    .filter(([capability]) => Object.hasOwn(capabilities, capability))
    .flatMap(([, methods]) => methods);
}

/** Options of {@link prefetchComponents}. */
export interface PrefetchOptions {
  readonly authorizer: Authorizer;
  readonly lists: readonly ListMethod[];
  /** Sends one request to the server and resolves with its result (rejects on an error answer). */
  readonly request: (method: string, params: Record<string, unknown>) => Promise<unknown>;
  /** Pages read per list at most. @defaultValue 20 */
  readonly maxPages?: number;
}

/**
 * Reads the server's lists once and remembers what it declares about each component (annotations,
 * `_meta`, tags), so a call is decided on the server's declarations even when the client calls
 * before it lists. A list the server cannot give is skipped: those components stay unknown, which
 * a policy on metadata treats as not matching.
 */
export async function prefetchComponents(options: PrefetchOptions): Promise<void> {
  const maxPages = options.maxPages ?? 20;
  await Promise.all(
    options.lists.map(async (method) => {
      const { field, component } = LIST_METHODS[method];
      let cursor: string | undefined;
      for (let page = 0; page < maxPages; page++) {
        let result: unknown;
        try {
          result = await options.request(method, cursor !== undefined ? { cursor } : {});
        } catch {
          return;
        }
        const record = (typeof result === "object" && result !== null ? result : {}) as Record<
          string,
          unknown
        >;
        const items = record[field];
        if (Array.isArray(items)) options.authorizer.components.remember(component, items);
        cursor = typeof record.nextCursor === "string" ? record.nextCursor : undefined;
        if (cursor === undefined) return;
      }
    }),
  );
}
