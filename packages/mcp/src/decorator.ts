import type {
  Transport,
  TransportSendOptions,
} from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";

/**
 * A transport wrapped around another one. Everything is delegated to `inner`; incoming messages go
 * through {@link TransportDecorator.receive}, which hands them on with
 * {@link TransportDecorator.deliver} (or not). Subclasses override `receive` and `send`. The
 * `GuardedTransport` is one; a proxy's own transports can be others.
 */
export abstract class TransportDecorator implements Transport {
  readonly inner: Transport;
  #onmessage: Transport["onmessage"];

  constructor(inner: Transport) {
    this.inner = inner;
  }

  get onclose() {
    return this.inner.onclose;
  }
  set onclose(handler) {
    this.inner.onclose = handler;
  }
  get onerror() {
    return this.inner.onerror;
  }
  set onerror(handler) {
    this.inner.onerror = handler;
  }
  get onmessage() {
    return this.#onmessage;
  }
  set onmessage(handler) {
    this.#onmessage = handler;
    this.inner.onmessage = handler
      ? (message, extra) => {
          this.receive(message, extra);
        }
      : undefined;
  }
  get sessionId() {
    return this.inner.sessionId;
  }
  get setProtocolVersion() {
    return this.inner.setProtocolVersion?.bind(this.inner);
  }
  // Members of the SDK v2 Transport, read by its Protocol and McpServer when present: each is
  // passed through as the inner transport has it, so wrapping changes nothing v2 relies on.
  get hasPerRequestStream(): boolean {
    return (this.inner as V2Members).hasPerRequestStream === true;
  }
  get setSupportedProtocolVersions(): ((versions: string[]) => void) | undefined {
    return bound(this.inner, (this.inner as V2Members).setSupportedProtocolVersions);
  }
  get setScopeChallengeResolver(): ((resolver: unknown) => void) | undefined {
    return bound(this.inner, (this.inner as V2Members).setScopeChallengeResolver);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    try {
      return this.inner.send(message, options);
    } catch (error) {
      // A transport that throws instead of rejecting: still a rejection for the caller.
      return Promise.reject(asError(error));
    }
  }

  /** Called for each message the inner transport receives. */
  protected abstract receive(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void;

  /** Reports a failure that has no caller to reject, as the inner transport's own errors are. */
  protected reportError(error: unknown): void {
    this.inner.onerror?.(asError(error));
  }

  /** Hands a message on to whoever listens on this transport (the server). */
  protected deliver(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void {
    this.#onmessage?.(message, extra);
  }
}

/** The members an SDK v2 transport may have beyond the 1.x `Transport` interface. */
interface V2Members {
  readonly hasPerRequestStream?: boolean;
  readonly setSupportedProtocolVersions?: (versions: string[]) => void;
  readonly setScopeChallengeResolver?: (resolver: unknown) => void;
}

function bound<A extends unknown[]>(
  target: object,
  method: ((...args: A) => void) | undefined,
): ((...args: A) => void) | undefined {
  return typeof method === "function" ? method.bind(target) : undefined;
}

/** Anything thrown, as an Error (transports and their callers expect one). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
