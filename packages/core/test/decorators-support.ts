/** Request builders and a controllable PDP shared by the decorator tests. */
import { mapListItem, mapRequest, resolveMapping } from "../src/mapping.js";
import type {
  AuthorizationRequest,
  CheckOptions,
  Decision,
  PolicyDecisionPoint,
  Subject,
} from "../src/model.js";

const mapping = resolveMapping();

export const alice: Subject = { id: "alice", authenticated: true, roles: ["user"] };
export const bob: Subject = { id: "bob", authenticated: true, roles: ["user"] };

/** The request of a `tools/call` of `tool` by `subject`. */
export function callTool(
  tool: string,
  subject: Subject = alice,
  args: Record<string, unknown> = {},
): AuthorizationRequest {
  const m = mapRequest("tools/call", { name: tool, arguments: args }, mapping);
  return { subject, operation: m.operation, resource: m.resource, action: m.action };
}

/** The request deciding whether `tool` is visible in a `tools/list` result. */
export function listItem(tool: string, subject: Subject = alice): AuthorizationRequest {
  const m = mapListItem("tools/list", { name: tool }, mapping);
  if (!m) throw new Error("unmappable item");
  return { subject, operation: m.operation, resource: m.resource, action: m.action };
}

/** The coarse request of a method without a component (`tools/list`, ...). */
export function coarse(method: string, subject: Subject = alice): AuthorizationRequest {
  const m = mapRequest(method, {}, mapping);
  return { subject, operation: m.operation, resource: m.resource, action: m.action };
}

/** The request of a `resources/read` of `uri`. */
export function readResource(uri: string, subject: Subject = alice): AuthorizationRequest {
  const m = mapRequest("resources/read", { uri }, mapping);
  return { subject, operation: m.operation, resource: m.resource, action: m.action };
}

interface Pending {
  readonly request: AuthorizationRequest;
  readonly signal: AbortSignal | undefined;
  resolve(decision: Decision): void;
  reject(error: unknown): void;
}

/**
 * A PDP whose answers the test gives by hand: every call waits until `answer` (or `fail`) is
 * called. Records the signal of each call.
 */
export interface ManualPdp extends PolicyDecisionPoint {
  /** Single checks waiting for an answer, oldest first. */
  readonly pending: Pending[];
  /** Bulk checks waiting for an answer. */
  readonly bulk: {
    requests: readonly AuthorizationRequest[];
    signal: AbortSignal | undefined;
    resolve(d: Decision[]): void;
    reject(e: unknown): void;
  }[];
  calls: number;
}

export function manualPdp(withBulk = true): ManualPdp {
  const pdp: ManualPdp = {
    name: "manual",
    pending: [],
    bulk: [],
    calls: 0,
    check(request: AuthorizationRequest, options?: CheckOptions) {
      pdp.calls++;
      return new Promise<Decision>((resolve, reject) => {
        pdp.pending.push({ request, signal: options?.signal, resolve, reject });
      });
    },
    ...(withBulk
      ? {
          checkMany(requests: readonly AuthorizationRequest[], options?: CheckOptions) {
            pdp.calls++;
            return new Promise<Decision[]>((resolve, reject) => {
              pdp.bulk.push({ requests, signal: options?.signal, resolve, reject });
            });
          },
        }
      : {}),
  };
  return pdp;
}

/** Lets queued microtasks and timers of `ms` milliseconds run. */
export function tick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `condition` holds (polling briefly), failing after a second. */
export async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (condition()) return;
    await tick(5);
  }
  throw new Error("condition not reached");
}
