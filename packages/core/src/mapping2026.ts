import type { MappedOperation, ResolvedMapping } from "./mapping.js";

/** Resources one listen may subscribe to and still be decided: each is decided as a read. */
export const MAX_LISTEN_SUBSCRIPTIONS = 256;

/**
 * The methods of protocol revision 2026-07-28 that the default mapping gives a resource of their
 * own (the rest of that revision's methods map as before): a listen names the resources it
 * subscribes to, a task method names its task.
 */
const TASK_VERBS: Readonly<Record<string, string>> = {
  "tasks/get": "get",
  "tasks/result": "result",
  "tasks/cancel": "cancel",
  "tasks/list": "list",
};

/** Whether {@link map2026} maps `method`. */
export function is2026Method(method: string): boolean {
  return method === "subscriptions/listen" || Object.hasOwn(TASK_VERBS, method);
}

/**
 * Maps a 2026-07-28 method: `subscriptions/listen` to `{server}_subscriptions` / `listen` with the
 * canonical URIs it subscribes to (`resource_uris`) and the list-change streams it asks for, so a
 * policy sees every resource before any update flows; `tasks/*` to `{server}_tasks` keyed by the
 * task id. `decideUri` turns a URI into the form reads are decided on, with the reason it cannot
 * be decided (too long, not a URI, ambiguous), which makes the listen undecidable: it is then
 * denied without asking the PDP, as is a listen naming more than {@link MAX_LISTEN_SUBSCRIPTIONS}
 * resources or a task id longer than `maxNameLength`.
 */
export function map2026(
  method: string,
  params: Record<string, unknown>,
  mapping: ResolvedMapping,
  type: (component: string) => string,
  decideUri: (uri: string) => { readonly uri: string; readonly problem?: string },
): MappedOperation {
  const server = mapping.serverName;
  if (method === "subscriptions/listen") {
    const filter = params.notifications;
    const wanted =
      typeof filter === "object" && filter !== null ? (filter as Record<string, unknown>) : {};
    const raw = Array.isArray(wanted.resourceSubscriptions) ? wanted.resourceSubscriptions : [];
    const uris: string[] = [];
    let problem: string | undefined =
      raw.length > MAX_LISTEN_SUBSCRIPTIONS
        ? `a listen subscribes to more than ${MAX_LISTEN_SUBSCRIPTIONS} resources`
        : undefined;
    // Checked before any URI is parsed: the count bounds the work.
    for (const uri of problem === undefined ? raw : []) {
      if (typeof uri !== "string") {
        problem = "a subscribed resource URI is not a string";
        break;
      }
      const decided = decideUri(uri);
      if (decided.problem !== undefined) {
        problem = `subscribed: ${decided.problem}`;
        break;
      }
      uris.push(decided.uri);
    }
    const attributes: Record<string, unknown> = { mcp_method: method, resource_uris: uris };
    for (const stream of ["toolsListChanged", "promptsListChanged", "resourcesListChanged"]) {
      if (wanted[stream] === true) attributes[snake(stream)] = true;
    }
    return {
      operation: { method, phase: "call", server },
      resource: { type: type("subscriptions"), attributes },
      action: mapping.actionPrefix + "listen",
      ...(problem !== undefined ? { problem } : {}),
    };
  }
  const taskId = typeof params.taskId === "string" ? params.taskId : undefined;
  if (taskId !== undefined && taskId.length > mapping.maxNameLength) {
    return {
      operation: { method, phase: "call", server },
      resource: { type: type("tasks"), attributes: { mcp_method: method } },
      action: mapping.actionPrefix + (TASK_VERBS[method] ?? "call"),
      problem: `the task id is longer than ${mapping.maxNameLength} characters`,
    };
  }
  return {
    operation: { method, phase: "call", server },
    resource: {
      type: type("tasks"),
      ...(taskId !== undefined ? { key: taskId } : {}),
      attributes: { mcp_method: method, ...(taskId !== undefined ? { task_id: taskId } : {}) },
    },
    action: mapping.actionPrefix + (TASK_VERBS[method] ?? "call"),
  };
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
