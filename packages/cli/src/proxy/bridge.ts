import type { ChildProcess } from "node:child_process";
import type { Writable } from "node:stream";
import { type Authorizer, type ListMethod, integerOption } from "@mcp-pdp/core";
import { type DenyMode, GuardedTransport } from "@mcp-pdp/mcp";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js";
import { CliError } from "../io.js";
import {
  CLIENT_CAPABILITIES_META,
  CLIENT_INFO_META,
  ClaimCheck,
  PROTOCOL_VERSION_META,
  RegistrationGate,
  ServerError,
  announcedChanges,
  listsChangedBy,
  listsFor,
  prefetchComponents,
} from "./prefetch.js";

/** The server process the proxy runs. */
export interface ServerCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** The server's environment (the whole of it: nothing else is inherited). */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/** How a bridge ended. */
export interface BridgeEnd {
  /** Which side closed first. */
  readonly by: "client" | "server";
  /** The server's exit code, when it exited by itself. */
  readonly exitCode: number | null;
  /** The signal that ended the server, if one did. */
  readonly signal: NodeJS.Signals | null;
}

/** A client transport joined to one server process through the guard. */
export interface Bridge {
  /** The server process's id. */
  readonly pid: number | undefined;
  /** Resolves once both sides are closed and the server process is gone. */
  readonly done: Promise<BridgeEnd>;
  /** Closes the client side and stops the server (stdin closed, then SIGTERM, then SIGKILL). */
  close(): Promise<void>;
}

/** Options of {@link openBridge}. */
export interface BridgeOptions {
  readonly client: Transport;
  readonly server: ServerCommand;
  readonly authorizer: Authorizer;
  readonly denyMode?: DenyMode;
  readonly exposeReasons?: boolean;
  /** Where the server's stderr and the bridge's own problems go. */
  readonly stderr: Writable;
  /**
   * Read the server's lists once it is initialized (in the 2026-07-28 era, which has no
   * handshake: at the first request) and hold the client's requests (all but `initialize`,
   * `server/discover` and `ping`) until then, so every call is decided on what the server declares
   * (annotations, tags) even without a prior list. When the server then says a list changed
   * (`notifications/.../list_changed`; in the 2026-07-28 era the proxy opens its own
   * `subscriptions/listen` for them), that list is read again and requests are held again until
   * it is. If the lists cannot be read, held requests get a JSON-RPC error and the next request
   * tries again; nothing is decided without them. `false` decides at once, a call before any list
   * (or to a component added later) then without the server's declarations.
   * @defaultValue true
   */
  readonly prefetch?: boolean;
  /** Milliseconds one read of the server's lists may take before it counts as failed. @defaultValue 5000 */
  readonly prefetchTimeoutMs?: number;
  /**
   * `subscriptions/listen` requests the server may hold at once; one more is answered
   * {@link LISTEN_LIMIT_CODE} by the proxy and never reaches the server. A listen stays open until
   * the client cancels it or the server ends it, so without a bound a client could make the proxy
   * (and the server) keep any number. @defaultValue 256
   */
  readonly maxListens?: number;
}

/** `subscriptions/listen` requests open at once through one bridge, by default. */
export const DEFAULT_MAX_LISTENS = 256;

/** JSON-RPC error of a `subscriptions/listen` refused because too many are open. */
export const LISTEN_LIMIT_CODE = -32000;

/**
 * The `_meta` key by which a 2026-07-28 server stamps each notification of a subscription (and the
 * listen's final result) with the JSON-RPC id of the `subscriptions/listen` that opened it.
 */
export const SUBSCRIPTION_ID_META = "io.modelcontextprotocol/subscriptionId";

/** Ids of cancelled requests remembered, so a late answer to one is dropped without a warning. */
const REMEMBERED_CANCELLED = 256;

/**
 * The error the proxy answers the guard with for a request the client cancelled (the code LSP
 * gives a cancelled request). The guard drops it: the client asked for no answer.
 */
const CANCELLED_CODE = -32800;

/**
 * The subscription id a message is stamped with: `undefined` when it carries none, `null` when its
 * `_meta` names one that is not a JSON-RPC id (no subscription can have it).
 */
export function stampOf(holder: unknown): RequestId | null | undefined {
  if (typeof holder !== "object" || holder === null) return undefined;
  const meta = (holder as { _meta?: unknown })._meta;
  if (typeof meta !== "object" || meta === null || !Object.hasOwn(meta, SUBSCRIPTION_ID_META)) {
    return undefined;
  }
  const stamp = (meta as Record<string, unknown>)[SUBSCRIPTION_ID_META];
  return typeof stamp === "string" || typeof stamp === "number" ? stamp : null;
}

/** `holder` (params or a result) with its subscription id stamp replaced by `id`. */
export function restamped<T extends Record<string, unknown>>(holder: T, id: RequestId): T {
  const meta = holder._meta as Record<string, unknown>;
  return { ...holder, _meta: { ...meta, [SUBSCRIPTION_ID_META]: id } };
}

/**
 * The SDK transport keeps its child process private; its exit code is what the proxy must pass on.
 * If a later SDK renames the field, the exit code is simply unknown.
 */
function childOf(transport: StdioClientTransport): ChildProcess | undefined {
  const child = (transport as unknown as { _process?: unknown })._process;
  return typeof child === "object" && child !== null && "pid" in child
    ? (child as ChildProcess)
    : undefined;
}

/** `promise`, or a rejection with `message` once `ms` passed. */
function deadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(message));
    }, ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

/** Waits for `promise` (settled either way), for `ms` at most. */
function within(promise: Promise<unknown>, ms: number): Promise<unknown> {
  return deadline(promise, ms, "timed out").catch(() => undefined);
}

function line(stderr: Writable, text: string): void {
  stderr.write(`mcp-pdp proxy: ${text}\n`);
}

/** What a proxy front hands {@link openBridge} besides the client: its own options, as given. */
export function bridgeOptions(
  client: Transport,
  options: Pick<BridgeOptions, "server" | "authorizer" | "stderr"> &
    Partial<Pick<BridgeOptions, "denyMode" | "exposeReasons" | "prefetch" | "maxListens">>,
): BridgeOptions {
  return {
    client,
    server: options.server,
    authorizer: options.authorizer,
    stderr: options.stderr,
    ...(options.denyMode !== undefined ? { denyMode: options.denyMode } : {}),
    ...(options.exposeReasons !== undefined ? { exposeReasons: options.exposeReasons } : {}),
    ...(options.prefetch !== undefined ? { prefetch: options.prefetch } : {}),
    ...(options.maxListens !== undefined ? { maxListens: options.maxListens } : {}),
  };
}

/**
 * Spawns the server and forwards raw JSON-RPC messages both ways. The client side is wrapped in a
 * {@link GuardedTransport}: each request is decided before it is forwarded (a denied one is
 * answered by the guard and never reaches the server), and list results coming back are filtered.
 */
export async function openBridge(options: BridgeOptions): Promise<Bridge> {
  const { server, stderr } = options;
  const maxListens = integerOption(
    "openBridge",
    "maxListens",
    options.maxListens,
    DEFAULT_MAX_LISTENS,
    1,
    100_000,
  );
  const upstream = new StdioClientTransport({
    command: server.command,
    args: [...server.args],
    env: { ...server.env },
    // The server's own log lines go where ours go; its stdout is the protocol.
    stderr: "pipe",
    ...(server.cwd !== undefined ? { cwd: server.cwd } : {}),
  });
  // Every request the server gets carries an id of the proxy's: the proxy's own (answered to it)
  // and the client's (mapped back to the client's id on the answer). A client can thus neither
  // name one of the proxy's requests nor receive its answer, whatever ids it picks.
  let lastId = 0;
  const own = new Map<number, { resolve: (result: unknown) => void; reject: (e: Error) => void }>();
  /**
   * The client's requests the server holds, by the proxy's id: the client's id and method, and
   * the progress token the client chose. The server sees the proxy's id as the token too: tokens
   * are the client's to pick, and callers sharing one server (2026-07-28 over HTTP) pick alike.
   */
  const forwarded = new Map<
    number,
    { readonly id: RequestId; readonly method: string; readonly token?: string | number }
  >();
  /** The same, by the client's id (for its cancellations). */
  const proxyIdOf = new Map<RequestId, number>();
  /**
   * The proxy's ids of the client's `subscriptions/listen` requests the server holds (each one also
   * in `forwarded`). The server stamps a subscription's notifications with the id its listen
   * reached it under, the proxy's: the stamp is put back to the client's id here, on the server's
   * side of the guard, so the guard (and an HTTP front past it) knows a subscription by the id the
   * listen had when it was decided. A notification stamped with any other id is nobody's.
   */
  const listens = new Set<number>();
  /** The proxy's ids of requests the client cancelled lately, oldest first (see below). */
  const cancelledIds = new Set<number>();
  /** Sends one request of the proxy's own: its id, and its answer (rejected on an error). */
  const ownRequest = (
    method: string,
    params: Record<string, unknown>,
  ): { id: number; answer: Promise<unknown> } => {
    const id = ++lastId;
    const answer = new Promise((resolve, reject) => {
      own.set(id, { resolve, reject });
      upstream.send({ jsonrpc: "2.0", id, method, params }).catch((error: unknown) => {
        own.delete(id);
        reject(error instanceof Error ? error : new Error(String(error)));
      });
    });
    return { id, answer };
  };
  const request = (method: string, params: Record<string, unknown>): Promise<unknown> =>
    ownRequest(method, params).answer;
  let serverCapabilities: unknown;
  const timeoutMs = options.prefetchTimeoutMs ?? 5000;
  /**
   * The proxy's own `subscriptions/listen` for the server's list changes (2026-07-28): a server of
   * that revision sends `list_changed` only on a subscription that asked for it, and no client
   * need have one open. Its notifications are the proxy's alone.
   */
  let watch: { readonly id: number; readonly acknowledge: () => void } | undefined;
  /** What the server announces changes of, from its `server/discover` result. */
  let announced: ReturnType<typeof announcedChanges> = { filter: {}, lists: [] };
  /** The server refused the proxy's subscription, or ended it unacknowledged: not asked again. */
  let watchRefused = false;
  /**
   * Opens the proxy's subscription to the list changes the server announces, if none is open,
   * and waits for the server to acknowledge it: a change after that is never missed.
   */
  const watchChanges = async (envelope: Record<string, unknown>): Promise<void> => {
    if (watch !== undefined || watchRefused || announced.lists.length === 0) return;
    let wasAcknowledged = false;
    let acknowledge: () => void = () => undefined;
    const acknowledged = new Promise<"acknowledged">((resolve) => {
      acknowledge = () => {
        wasAcknowledged = true;
        resolve("acknowledged");
      };
    });
    const { id, answer } = ownRequest("subscriptions/listen", {
      notifications: announced.filter,
      _meta: envelope,
    });
    const current = { id, acknowledge };
    watch = current;
    const ended = answer.then(
      () => "ended" as const,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    );
    void ended.then((outcome) => {
      if (watch !== current) return;
      watch = undefined;
      if (!wasAcknowledged) return; // reported below
      // Changes from now on would go unheard: the next request reads the lists again first,
      // and that read subscribes again. Not at once, so a server ending it each time is no loop.
      line(
        stderr,
        `the server ended the proxy's subscription to its list changes (${outcome === "ended" ? "its final result" : outcome.message}); its lists are read again at the next request`,
      );
      gate?.listChanged(announced.lists, false);
    });
    const first = await Promise.race([acknowledged, ended]);
    if (first === "acknowledged") return;
    // Refused, or ended before it began: the server cannot tell the proxy of changes. Said once;
    // the lists are still read, as they are for a server that announces no changes.
    watchRefused = true;
    line(
      stderr,
      `the server did not accept the proxy's subscriptions/listen for its list changes (${first === "ended" ? "ended at once" : first.message}): tools, prompts or resources it adds later are decided without what it declares about them`,
    );
  };
  /**
   * A 2026-07-28 session has no handshake whose answer names the server's capabilities, and each
   * request must carry the revision in its `_meta` envelope: the proxy asks `server/discover`
   * itself, in the client's revision, then reads the lists in it.
   */
  const readModern = async (
    protocolVersion: string,
    lists: readonly ListMethod[] | undefined,
  ): Promise<void> => {
    const envelope = {
      [PROTOCOL_VERSION_META]: protocolVersion,
      [CLIENT_INFO_META]: { name: "mcp-pdp-proxy", version: "1" },
      // The proxy's reads need nothing of the client's (sampling, elicitation, roots).
      [CLIENT_CAPABILITIES_META]: {},
    };
    const inEnvelope = (method: string, params: Record<string, unknown>): Promise<unknown> =>
      request(method, { ...params, _meta: envelope });
    if (lists === undefined) {
      const discovered = (await inEnvelope("server/discover", {}).catch((error: unknown) => {
        throw new Error(
          `server/discover: ${error instanceof Error ? error.message : String(error)}`,
          {
            cause: error,
          },
        );
      })) as { capabilities?: unknown; supportedVersions?: unknown } | undefined;
      const versions = discovered?.supportedVersions;
      if (!Array.isArray(versions) || !versions.includes(protocolVersion)) {
        throw new Error(`the server does not offer protocol revision ${protocolVersion}`);
      }
      serverCapabilities = discovered?.capabilities;
      announced = announcedChanges(serverCapabilities);
    }
    // Subscribed before the lists are read (again, if the server ended it): a change the read
    // does not see is then announced.
    await watchChanges(envelope);
    await prefetchComponents({
      authorizer: options.authorizer,
      lists: lists ?? listsFor(serverCapabilities),
      request: inEnvelope,
    });
  };
  const readRegistrations = (
    protocolVersion: string | undefined,
    lists: readonly ListMethod[] | undefined,
  ): Promise<void> =>
    deadline(
      protocolVersion !== undefined
        ? readModern(protocolVersion, lists)
        : prefetchComponents({
            authorizer: options.authorizer,
            lists: lists ?? listsFor(serverCapabilities),
            request,
          }),
      timeoutMs,
      `no complete answer within ${String(timeoutMs)} ms`,
    ).catch((error: unknown) => {
      line(stderr, `cannot read the server's registrations: ${String(error)}`);
      throw error;
    });
  // Outermost, with or without prefetch: a request the gate and the guard would count in different
  // eras never reaches either.
  const checked = new ClaimCheck(options.client);
  const gate =
    options.prefetch === false ? undefined : new RegistrationGate(checked, readRegistrations);
  const downstream = new GuardedTransport(gate ?? checked, options.authorizer, {
    ...(options.denyMode !== undefined ? { denyMode: options.denyMode } : {}),
    ...(options.exposeReasons !== undefined ? { exposeReasons: options.exposeReasons } : {}),
  });
  // Forwarded messages not yet written, so nothing the server answered is lost when it exits.
  const writing = new Set<Promise<void>>();
  /** Sends to the client's side, through the guard. */
  const toClient = (message: JSONRPCMessage, relatedRequestId?: RequestId): void => {
    const sent = downstream
      .send(message, relatedRequestId !== undefined ? { relatedRequestId } : undefined)
      .catch((error: unknown) => {
        if (!clientClosed) line(stderr, `cannot forward to the client: ${String(error)}`);
      });
    writing.add(sent);
    void sent.finally(() => writing.delete(sent));
  };
  let ending: BridgeEnd["by"] | undefined;
  let exitCode: number | null = null;
  let signal: NodeJS.Signals | null = null;
  let serverClosed = false;
  let clientClosed = false;
  let finish: (end: BridgeEnd) => void = () => undefined;
  const done = new Promise<BridgeEnd>((resolve) => (finish = resolve));
  const settle = (): void => {
    if (serverClosed && clientClosed) finish({ by: ending ?? "server", exitCode, signal });
  };

  const toServer = (message: JSONRPCMessage): void => {
    upstream.send(message).catch((error: unknown) => {
      if (!serverClosed) line(stderr, `cannot forward to the server: ${String(error)}`);
    });
  };
  downstream.onmessage = (message: JSONRPCMessage) => {
    const m = message as {
      method?: unknown;
      id?: unknown;
      params?: { requestId?: unknown; _meta?: { progressToken?: unknown } };
    };
    if (typeof m.method !== "string") {
      toServer(message); // an answer to one of the server's own requests: its ids are its own
      return;
    }
    if (typeof m.id === "string" || typeof m.id === "number") {
      const listen = m.method === "subscriptions/listen";
      if (listen && listens.size >= maxListens) {
        toClient({
          jsonrpc: "2.0",
          id: m.id,
          error: {
            code: LISTEN_LIMIT_CODE,
            message: `mcp-pdp proxy: too many open subscriptions/listen requests (at most ${String(maxListens)}); cancel one first`,
          },
        });
        return;
      }
      const id = ++lastId;
      proxyIdOf.set(m.id, id);
      if (listen) listens.add(id);
      const token = m.params?._meta?.progressToken;
      if (typeof token === "string" || typeof token === "number") {
        forwarded.set(id, { id: m.id, method: m.method, token });
        const params = { ...m.params, _meta: { ...m.params?._meta, progressToken: id } };
        toServer({ ...message, id, params });
        return;
      }
      forwarded.set(id, { id: m.id, method: m.method });
      toServer({ ...message, id });
      return;
    }
    if (m.method === "notifications/cancelled") {
      const cancelled = m.params?.requestId;
      const id =
        typeof cancelled === "string" || typeof cancelled === "number"
          ? proxyIdOf.get(cancelled)
          : undefined;
      // Not one of the client's requests the server holds: nothing to cancel.
      if (id === undefined) return;
      toServer({ ...message, params: { ...m.params, requestId: id } } as JSONRPCMessage);
      // A server told to cancel a request never answers it (the SDKs' do not), so it ends here:
      // otherwise each cancelled request, a listen above all, would be held until the process
      // exits. The guard holds the client's id as cancelled until an answer comes; it gets this
      // one, and drops it. A late answer of the server finds no request and is dropped too.
      forwarded.delete(id);
      proxyIdOf.delete(cancelled as RequestId);
      listens.delete(id);
      cancelledIds.add(id);
      if (cancelledIds.size > REMEMBERED_CANCELLED) {
        cancelledIds.delete(cancelledIds.values().next().value as number);
      }
      toClient({
        jsonrpc: "2.0",
        id: cancelled as RequestId,
        error: { code: CANCELLED_CODE, message: "mcp-pdp proxy: cancelled by the client" },
      });
      return;
    }
    toServer(message);
  };
  upstream.onmessage = (message: JSONRPCMessage) => {
    const m = message as {
      id?: unknown;
      method?: unknown;
      params?: unknown;
      result?: unknown;
      error?: { message?: unknown; code?: unknown };
    };
    let relatedRequestId: RequestId | undefined;
    if (m.method === undefined && (typeof m.id === "string" || typeof m.id === "number")) {
      const id = m.id as number;
      const mine = own.get(id);
      if (mine) {
        own.delete(id);
        if (m.error !== undefined)
          mine.reject(new ServerError(m.error.code, String(m.error.message)));
        else mine.resolve(m.result);
        return;
      }
      const client = forwarded.get(id);
      if (client === undefined) {
        // An answer to a request the client cancelled, sent before the server saw the cancel.
        if (cancelledIds.delete(id)) return;
        // No request of the client's holds this id: its answer has nobody to go to.
        line(
          stderr,
          `dropped an answer of the server to an unknown request id ${JSON.stringify(m.id)}`,
        );
        return;
      }
      forwarded.delete(id);
      proxyIdOf.delete(client.id);
      if (listens.delete(id) && stampOf(m.result) !== undefined) {
        // The end of a subscription: its result names it as its notifications did.
        message = {
          ...message,
          result: restamped(m.result as Record<string, unknown>, client.id),
        };
      }
      if (client.method === "initialize") {
        if (m.result !== undefined) {
          serverCapabilities = (m.result as { capabilities?: unknown }).capabilities;
        }
        gate?.serverInitialized();
      }
      message = { ...message, id: client.id };
      relatedRequestId = client.id;
    } else if (m.method !== undefined && m.id === undefined) {
      // Whatever subscription it is stamped with (the proxy's own, a client's) or none (2025):
      // what the server declares is read again before another request is decided. Told first,
      // so a request the client sends on hearing of the change is held.
      const changed = listsChangedBy(m.method);
      if (changed !== undefined) gate?.listChanged(changed);
      const stamp = stampOf(m.params);
      if (stamp !== undefined && stamp === watch?.id) {
        // The proxy's own subscription: nobody else's to hear.
        if (m.method === "notifications/subscriptions/acknowledged") watch.acknowledge();
        return;
      }
      if (stamp !== undefined) {
        // A notification of a subscription: it goes to the client whose listen is open under
        // that id, stamped with the client's id; any other (a stale or made-up id) goes nowhere.
        const client =
          typeof stamp === "number" && listens.has(stamp) ? forwarded.get(stamp) : undefined;
        if (client === undefined) return;
        message = {
          ...message,
          params: restamped(m.params as Record<string, unknown>, client.id),
        };
        relatedRequestId = client.id;
      } else if (m.method === "notifications/progress") {
        // The token is the proxy's id of the request: progress goes to that request's client,
        // under the token the client chose; any other is nobody's.
        const params = m.params as Record<string, unknown> | undefined;
        const token = params?.progressToken;
        const client = typeof token === "number" ? forwarded.get(token) : undefined;
        if (client?.token === undefined) return;
        message = {
          ...message,
          params: { ...params, progressToken: client.token },
        };
        relatedRequestId = client.id;
      }
    }
    toClient(message, relatedRequestId);
  };

  const closeClient = async (): Promise<void> => {
    if (clientClosed) return;
    clientClosed = true;
    // Bounded: a client that stopped reading must not keep the proxy alive.
    await within(Promise.allSettled([...writing]), 2000);
    await downstream.close().catch(() => undefined);
    settle();
  };
  const closeServer = async (): Promise<void> => {
    await upstream.close().catch(() => undefined);
  };
  upstream.stderr?.on("data", (chunk: Buffer) => stderr.write(chunk));
  try {
    await upstream.start();
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new CliError(`cannot start the server ${JSON.stringify(server.command)}: ${why}`, {
      cause: error,
    });
  }
  // Attached once the process runs: a spawn failure is reported once, by the error thrown above.
  upstream.onerror = (error) => {
    line(stderr, `server: ${error.message}`);
  };
  downstream.onerror = (error) => {
    line(stderr, `client: ${error.message}`);
  };
  upstream.onclose = () => {
    serverClosed = true;
    ending ??= "server";
    void closeClient();
    settle();
  };
  downstream.onclose = () => {
    if (clientClosed) return;
    ending ??= "client";
    clientClosed = true;
    void closeServer();
    settle();
  };

  const child = childOf(upstream);
  child?.once("exit", (code, sig) => {
    exitCode = code;
    signal = sig;
  });
  await downstream.start();

  return {
    pid: child?.pid,
    done,
    async close() {
      ending ??= "client";
      await closeClient();
      await closeServer();
      await done;
    },
  };
}
