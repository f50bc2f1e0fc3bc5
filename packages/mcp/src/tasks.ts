import { ConfigError, type Subject } from "@mcp-pdp/core";

/** Who created a task, and the `tools/call` that created it. */
export interface TaskOwner {
  /** The creator's {@link subjectKey}. */
  readonly subject: string;
  /** The params of the `tools/call` that created the task: `tasks/result` is decided on them. */
  readonly call: Readonly<Record<string, unknown>>;
  /** When the server said it may drop the task (its `ttl`), in ms since the epoch; none: never. */
  readonly expiresAt: number | undefined;
}

/** Options of {@link TaskBindings}. */
export interface TaskBindingsOptions {
  /**
   * Tasks remembered at most. Past it the binding of an expired task goes first, else the one
   * used least recently; a task whose binding is gone is unknown to everyone, its creator included
   * (`tasks/get`, `tasks/result` and `tasks/cancel` answer not found, `tasks/list` hides it).
   * @defaultValue 10000
   */
  readonly maxTasks?: number;
  /** The clock, in ms since the epoch. @defaultValue `Date.now` */
  readonly now?: () => number;
}

/**
 * The identity a task is bound to: the subject's tenant, id and whether it was authenticated. An
 * unauthenticated caller the policy let create a task is one subject with every other
 * unauthenticated caller of the same id.
 */
export function subjectKey(subject: Subject): string {
  return JSON.stringify([subject.tenant ?? null, subject.id, subject.authenticated]);
}

/**
 * The tasks the guard has seen created, each bound to the subject whose `tools/call` created it.
 * One per guarded transport unless shared: share one between the transports of one server (the
 * servers a factory makes per request, the sessions of one HTTP server) so a task created on one
 * request can be read on the next. Bounded (see {@link TaskBindingsOptions.maxTasks}).
 */
export class TaskBindings {
  readonly maxTasks: number;
  readonly #now: () => number;
  /** In order of use, least recent first (a use moves a task to the end). */
  readonly #tasks = new Map<string, TaskOwner>();

  constructor(options: TaskBindingsOptions = {}) {
    const max = options.maxTasks ?? 10_000;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new ConfigError(
        `TaskBindings: maxTasks must be a positive integer, got ${String(max)}`,
      );
    }
    this.maxTasks = max;
    this.#now = options.now ?? Date.now;
  }

  /** How many tasks are bound. */
  get size(): number {
    return this.#tasks.size;
  }

  /**
   * Binds a task the server just created. A task id the server hands out again (another subject's
   * task it reuses the id of) takes the new creator: the server's answer is what the guard knows.
   */
  bind(
    taskId: string,
    subject: string,
    call: Readonly<Record<string, unknown>>,
    ttl: unknown,
  ): void {
    const expiresAt =
      typeof ttl === "number" && Number.isFinite(ttl) && ttl >= 0 ? this.#now() + ttl : undefined;
    this.#tasks.delete(taskId);
    if (this.#tasks.size >= this.maxTasks) this.#evict();
    this.#tasks.set(taskId, { subject, call, expiresAt });
  }

  /** The owner of a task, or undefined for a task never bound (or no longer). Counts as a use. */
  ownerOf(taskId: string): TaskOwner | undefined {
    const owner = this.#tasks.get(taskId);
    if (owner !== undefined) {
      this.#tasks.delete(taskId);
      this.#tasks.set(taskId, owner);
    }
    return owner;
  }

  /** Whether `taskId` is bound to `subject` (not a use: a list does not keep its tasks alive). */
  isOwnedBy(taskId: string, subject: string): boolean {
    return this.#tasks.get(taskId)?.subject === subject;
  }

  /** Makes room for one: every expired task, or else the least recently used. */
  #evict(): void {
    const now = this.#now();
    for (const [taskId, owner] of this.#tasks) {
      if (owner.expiresAt !== undefined && owner.expiresAt <= now) this.#tasks.delete(taskId);
    }
    if (this.#tasks.size < this.maxTasks) return;
    const oldest = this.#tasks.keys().next();
    if (oldest.done !== true) this.#tasks.delete(oldest.value);
  }
}
