import type { AuthorizationRequest } from "@mcp-pdp/core";
import { functionPdp, memoryAuditSink, recordingPdp } from "@mcp-pdp/core/testing";
import { type AuthInfo, InMemoryTransport, type Transport } from "@modelcontextprotocol/server";
import { afterEach, describe, expect, it } from "vitest";
import {
  type GuardOptions,
  TaskBindings,
  UNAUTHORIZED_CODE,
  authorize,
  guardTransport,
  subjectKey,
} from "../src/index.js";

/*
 * SDK v2 2.4.0 has no task runtime: its servers reject a tools/call result that carries a task
 * instead of content. The server here answers the task methods itself, on raw JSON-RPC, with the
 * shapes of the SDK's schemas (CreateTaskResult, GetTaskResult, ListTasksResult, CancelTaskResult),
 * over the v2 SDK's in-memory transport; the client side is raw JSON-RPC too, each message
 * carrying its caller's auth info as an HTTP front would.
 */

interface Task {
  taskId: string;
  status: "working" | "completed" | "cancelled";
  ttl: number | null;
  createdAt: string;
  lastUpdatedAt: string;
}

interface Message {
  jsonrpc: "2.0";
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

/** A server that runs task-augmented tool calls as tasks, shared by every connection to it. */
class TaskServer {
  readonly tasks = new Map<string, Task>();
  /** Every request the server received, as `method taskId-or-tool`. */
  readonly received: string[] = [];
  #next = 0;

  answer(message: Message): Message | undefined {
    const { id, method } = message;
    if (id === undefined || method === undefined) return undefined;
    const params = message.params ?? {};
    const taskId = typeof params.taskId === "string" ? params.taskId : "";
    this.received.push(`${method} ${taskId || String(params.name)}`);
    const reply = (result: Record<string, unknown>): Message => ({ jsonrpc: "2.0", id, result });
    const task = this.tasks.get(taskId);
    switch (method) {
      case "tools/call": {
        if (params.task === undefined) return reply({ content: [{ type: "text", text: "ran" }] });
        const now = new Date().toISOString();
        const ttl = (params.task as { ttl?: number }).ttl ?? null;
        const created: Task = {
          taskId: `task-${++this.#next}`,
          status: "working",
          ttl,
          createdAt: now,
          lastUpdatedAt: now,
        };
        this.tasks.set(created.taskId, created);
        return reply({ task: created });
      }
      case "tasks/list":
        return reply({ tasks: [...this.tasks.values()] });
      case "tasks/get":
      case "tasks/result":
      case "tasks/cancel":
        if (!task) {
          return { jsonrpc: "2.0", id, error: { code: -32602, message: "no task" } };
        }
        if (method === "tasks/get") return reply({ ...task });
        if (method === "tasks/cancel") {
          task.status = "cancelled";
          return reply({ ...task });
        }
        return reply({ content: [{ type: "text", text: `result of ${taskId}` }] });
      default:
        return { jsonrpc: "2.0", id, error: { code: -32601, message: "no method" } };
    }
  }
}

/** A connection to the task server through a guard; `as(user)` sends as that caller. */
class Connection {
  readonly #client: InMemoryTransport;
  readonly #waiting = new Map<number, (message: Message) => void>();
  #id = 0;

  constructor(client: InMemoryTransport) {
    this.#client = client;
    client.onmessage = (message) => {
      const m = message as Message;
      if (m.id !== undefined) this.#waiting.get(m.id)?.(m);
    };
  }

  static async open(server: TaskServer, guard: GuardOptions): Promise<Connection> {
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const guarded = guardTransport(serverSide, guard);
    guarded.onmessage = (message) => {
      const answer = server.answer(message as Message);
      if (answer) void guarded.send(answer as never);
    };
    await guarded.start();
    const connection = new Connection(clientSide);
    await clientSide.start();
    closers.push(() => clientSide.close());
    return connection;
  }

  as(user: string) {
    const authInfo: AuthInfo = { token: `token-${user}`, clientId: user, scopes: [] };
    const request = (method: string, params: Record<string, unknown>): Promise<Message> => {
      const id = ++this.#id;
      const answered = new Promise<Message>((resolve) => this.#waiting.set(id, resolve));
      void this.#client.send({ jsonrpc: "2.0", id, method, params }, { authInfo });
      return answered;
    };
    return {
      request,
      /** Calls a tool as a task: the id of the task the server created. */
      createTask: async (name = "run_job", args: Record<string, unknown> = {}) => {
        const m = await request("tools/call", { name, arguments: args, task: { ttl: 60_000 } });
        expect(m.error).toBeUndefined();
        return (m.result?.task as Task).taskId;
      },
    };
  }
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** Allows every tool and task method; a tool whose name is in `revoked` is denied. */
function policy(revoked: Set<string> = new Set()) {
  return (req: AuthorizationRequest): boolean =>
    req.operation.component !== "tool" || !revoked.has(req.operation.name ?? "");
}

function options(pdp: GuardOptions["pdp"], extra: Partial<GuardOptions> = {}): GuardOptions {
  return { pdp, audit: false, mapping: { serverName: "jobs" }, ...extra };
}

describe("tasks bound to the subject that created them", () => {
  it("answers the creator's tasks/get and refuses another subject's as not found", async () => {
    const server = new TaskServer();
    const connection = await Connection.open(server, options(functionPdp(policy())));
    const taskId = await connection.as("alice").createTask();
    const own = await connection.as("alice").request("tasks/get", { taskId });
    expect(own.result).toMatchObject({ taskId, status: "working" });
    const other = await connection.as("mallory").request("tasks/get", { taskId });
    expect(other.error).toEqual({ code: -32602, message: `Task ${taskId} not found` });
    expect(server.received.filter((r) => r.startsWith("tasks/get"))).toEqual([
      `tasks/get ${taskId}`,
    ]);
  });

  it("answers another subject's task exactly as a task that does not exist", async () => {
    const server = new TaskServer();
    const connection = await Connection.open(server, options(functionPdp(policy())));
    const taskId = await connection.as("alice").createTask();
    for (const method of ["tasks/get", "tasks/result", "tasks/cancel"]) {
      const other = await connection.as("mallory").request(method, { taskId });
      const missing = await connection.as("mallory").request(method, { taskId: "task-404" });
      expect(other.error?.code).toBe(-32602);
      expect(other.error?.message.replace(taskId, "ID")).toBe(
        missing.error?.message.replace("task-404", "ID"),
      );
    }
    // Neither reached the server: it can't answer differently for a task it has.
    expect(server.received).toEqual(["tools/call run_job"]);
    expect(server.tasks.get(taskId)?.status).toBe("working");
  });

  it("audits each refusal of another subject's task, naming the task and the caller", async () => {
    const server = new TaskServer();
    const audit = memoryAuditSink();
    const connection = await Connection.open(server, options(functionPdp(policy()), { audit }));
    const taskId = await connection.as("alice").createTask();
    for (const method of ["tasks/get", "tasks/result", "tasks/cancel"]) {
      await connection.as("mallory").request(method, { taskId });
    }
    const refusals = audit.events.filter((e) => e.source === "guard");
    expect(refusals.map((e) => e.method)).toEqual(["tasks/get", "tasks/result", "tasks/cancel"]);
    for (const event of refusals) {
      expect(event).toMatchObject({
        allow: false,
        subject: { id: "mallory" },
        resource: { key: taskId },
      });
      expect(event.reason).toMatch(/task not found/);
    }
  });

  it("lets only the creator cancel a task and fetch its result", async () => {
    const server = new TaskServer();
    const connection = await Connection.open(server, options(functionPdp(policy())));
    const taskId = await connection.as("alice").createTask();
    const result = await connection.as("alice").request("tasks/result", { taskId });
    expect(result.result).toEqual({ content: [{ type: "text", text: `result of ${taskId}` }] });
    const cancelled = await connection.as("alice").request("tasks/cancel", { taskId });
    expect(cancelled.result).toMatchObject({ taskId, status: "cancelled" });
  });

  it("lists only the caller's own tasks", async () => {
    const server = new TaskServer();
    const connection = await Connection.open(server, options(functionPdp(policy())));
    const alice = await connection.as("alice").createTask();
    const mallory = await connection.as("mallory").createTask();
    const ids = async (user: string) => {
      const m = await connection.as(user).request("tasks/list", {});
      return (m.result?.tasks as Task[]).map((t) => t.taskId);
    };
    expect(await ids("alice")).toEqual([alice]);
    expect(await ids("mallory")).toEqual([mallory]);
    expect(await ids("eve")).toEqual([]);
  });

  it("keeps a task its creator's across connections that share the bindings", async () => {
    const server = new TaskServer();
    const tasks = new TaskBindings();
    const first = await Connection.open(server, options(functionPdp(policy()), { tasks }));
    const second = await Connection.open(server, options(functionPdp(policy()), { tasks }));
    const taskId = await first.as("alice").createTask();
    const own = await second.as("alice").request("tasks/get", { taskId });
    expect(own.result).toMatchObject({ taskId });
    const other = await second.as("mallory").request("tasks/get", { taskId });
    expect(other.error?.code).toBe(-32602);
  });

  it("keeps a task its creator's across the transports one authorized server connects to", async () => {
    const server = new TaskServer();
    // A server as authorize() sees one: anything with connect(); this one answers on raw JSON-RPC.
    const connectable = {
      async connect(transport: Transport): Promise<void> {
        transport.onmessage = (message) => {
          const answer = server.answer(message as Message);
          if (answer) void transport.send(answer as never);
        };
        await transport.start();
      },
    };
    authorize(connectable, { ...options(functionPdp(policy())), env: {} });
    const open = async (): Promise<Connection> => {
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      await connectable.connect(serverSide);
      await clientSide.start();
      closers.push(() => clientSide.close());
      return new Connection(clientSide);
    };
    const first = await open();
    const second = await open();
    const taskId = await first.as("alice").createTask();
    const own = await second.as("alice").request("tasks/get", { taskId });
    expect(own.result).toMatchObject({ taskId });
    const other = await second.as("mallory").request("tasks/get", { taskId });
    expect(other.error?.code).toBe(-32602);
  });

  it("decides tasks/result as the tool call that created the task, arguments included", async () => {
    const server = new TaskServer();
    const revoked = new Set<string>();
    const pdp = recordingPdp(functionPdp(policy(revoked)));
    const connection = await Connection.open(server, options(pdp));
    const taskId = await connection.as("alice").createTask("run_job", { queue: "nightly" });
    const [created] = pdp.requests.splice(0);
    await connection.as("alice").request("tasks/result", { taskId });
    // The very request the call was decided on: resource, action and arguments.
    expect(pdp.requests).toEqual([created]);
    expect(created).toMatchObject({
      subject: { id: "alice" },
      operation: { method: "tools/call", name: "run_job" },
      resource: { attributes: { arg_queue: "nightly" } },
    });
    // The permission to run the tool is revoked: its result is withheld, the task still visible.
    revoked.add("run_job");
    const withheld = await connection.as("alice").request("tasks/result", { taskId });
    expect(withheld.error?.code).toBe(UNAUTHORIZED_CODE);
    const status = await connection.as("alice").request("tasks/get", { taskId });
    expect(status.result).toMatchObject({ taskId });
    expect(server.received.filter((r) => r.startsWith("tasks/result"))).toHaveLength(1);
  });

  it("answers a withheld result as not found in the not-found mode", async () => {
    const server = new TaskServer();
    const revoked = new Set<string>();
    const connection = await Connection.open(
      server,
      options(functionPdp(policy(revoked)), { denyMode: "not-found" }),
    );
    const taskId = await connection.as("alice").createTask();
    revoked.add("run_job");
    const withheld = await connection.as("alice").request("tasks/result", { taskId });
    expect(withheld.error).toEqual({ code: -32602, message: `Task ${taskId} not found` });
  });

  it("checks who owns a task even when the mapping bypasses tasks/*", async () => {
    const server = new TaskServer();
    const connection = await Connection.open(
      server,
      options(functionPdp(policy()), { mapping: { serverName: "jobs", bypass: ["tasks/*"] } }),
    );
    const taskId = await connection.as("alice").createTask();
    const other = await connection.as("mallory").request("tasks/result", { taskId });
    expect(other.error?.code).toBe(-32602);
    const own = await connection.as("alice").request("tasks/result", { taskId });
    expect(own.error).toBeUndefined();
  });

  it("leaves a task it never saw created unknown to everyone, its list entry hidden", async () => {
    const server = new TaskServer();
    const connection = await Connection.open(server, options(functionPdp(policy())));
    // Created behind the guard's back (another front to the same server).
    server.answer({ jsonrpc: "2.0", id: 0, method: "tools/call", params: { task: {} } });
    const listed = await connection.as("alice").request("tasks/list", {});
    expect(listed.result?.tasks).toEqual([]);
    const get = await connection.as("alice").request("tasks/get", { taskId: "task-1" });
    expect(get.error?.code).toBe(-32602);
  });

  it("forgets the least recently used task past maxTasks: its creator then gets not found", async () => {
    const server = new TaskServer();
    const tasks = new TaskBindings({ maxTasks: 2 });
    const connection = await Connection.open(server, options(functionPdp(policy()), { tasks }));
    const alice = connection.as("alice");
    const first = await alice.createTask();
    const second = await alice.createTask();
    await alice.request("tasks/get", { taskId: first }); // a use: `second` is now the oldest
    const third = await alice.createTask();
    expect(tasks.size).toBe(2);
    expect((await alice.request("tasks/get", { taskId: second })).error?.code).toBe(-32602);
    const listed = await alice.request("tasks/list", {});
    expect((listed.result?.tasks as Task[]).map((t) => t.taskId)).toEqual([first, third]);
  });
});

describe("TaskBindings", () => {
  it("evicts an expired task before the least recently used one", () => {
    let now = 0;
    const tasks = new TaskBindings({ maxTasks: 2, now: () => now });
    tasks.bind("kept", "alice", {}, null);
    tasks.bind("expiring", "alice", {}, 10);
    now = 20;
    tasks.bind("new", "alice", {}, null);
    expect(tasks.ownerOf("kept")?.subject).toBe("alice");
    expect(tasks.ownerOf("expiring")).toBeUndefined();
    expect(tasks.ownerOf("new")?.subject).toBe("alice");
  });

  it("refuses a maxTasks that is not a positive integer", () => {
    expect(() => new TaskBindings({ maxTasks: 0 })).toThrow(/maxTasks/);
  });

  it("keys a subject by tenant, id and whether it was authenticated", () => {
    const alice = subjectKey({ id: "alice", authenticated: true, tenant: "a" });
    expect(subjectKey({ id: "alice", authenticated: true, tenant: "b" })).not.toBe(alice);
    expect(subjectKey({ id: "alice", authenticated: false, tenant: "a" })).not.toBe(alice);
    expect(subjectKey({ id: "alice", authenticated: true, tenant: "a", roles: ["x"] })).toBe(alice);
  });
});
