/**
 * The parent's handle on the fake Permit PDP running in a child process (pdp-server.ts).
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Commands sent to the child. */
export type PdpCommand =
  | { readonly id: number; readonly type: "latency"; readonly ms: number }
  | { readonly id: number; readonly type: "reset" }
  | { readonly id: number; readonly type: "stats" }
  | { readonly id: number; readonly type: "close" };

/** What the fake received since its last reset. */
export interface PdpStats {
  /** Every HTTP request. */
  readonly requests: number;
  /** Requests to `/allowed` and `/allowed/bulk`. */
  readonly decisionRequests: number;
  /** Queries decided (a bulk request counts each of its items). */
  readonly queries: number;
  /** Sizes of the bulk requests. */
  readonly bulkSizes: readonly number[];
}

/** Replies of the child. */
export type PdpReply =
  | { readonly id: number; readonly type: "ready"; readonly url: string }
  | { readonly id: number; readonly type: "ok" }
  | ({ readonly id: number; readonly type: "stats" } & PdpStats);

type Unnumbered<T> = T extends unknown ? Omit<T, "id"> : never;

/** A fake Permit PDP in a child process. */
export interface RemotePdp {
  readonly url: string;
  /** Delays every decision answer by `ms` (0 for none). */
  latency(ms: number): Promise<void>;
  /** Forgets the recorded requests. */
  reset(): Promise<void>;
  stats(): Promise<PdpStats>;
  close(): Promise<void>;
}

/** Forks the fake PDP (with this process's loader flags, so tsx runs it) and waits until it listens. */
export async function startRemotePdp(): Promise<RemotePdp> {
  const child: ChildProcess = fork(fileURLToPath(new URL("./pdp-server.ts", import.meta.url)), {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const waiting = new Map<number, (reply: PdpReply) => void>();
  let nextId = 1;
  child.on("message", (raw) => {
    const reply = raw as PdpReply;
    const resolve = waiting.get(reply.id);
    waiting.delete(reply.id);
    resolve?.(reply);
  });
  const exited = new Promise<never>((_, reject) => {
    child.once("exit", (code) => {
      reject(new Error(`the fake PDP process exited (code ${String(code)})`));
    });
  });
  exited.catch(() => undefined);
  const ask = (command: Unnumbered<PdpCommand>): Promise<PdpReply> => {
    const id = nextId++;
    const answer = new Promise<PdpReply>((resolve) => waiting.set(id, resolve));
    child.send({ ...command, id });
    return Promise.race([answer, exited]);
  };
  const ready = await Promise.race([
    new Promise<PdpReply>((resolve) => waiting.set(0, resolve)),
    exited,
  ]);
  if (ready.type !== "ready") throw new Error("the fake PDP did not start");
  return {
    url: ready.url,
    async latency(ms) {
      await ask({ type: "latency", ms });
    },
    async reset() {
      await ask({ type: "reset" });
    },
    async stats() {
      const reply = await ask({ type: "stats" });
      if (reply.type !== "stats") throw new Error("the fake PDP did not send its stats");
      return reply;
    },
    async close() {
      if (!child.connected) return;
      await ask({ type: "close" });
    },
  };
}
