/**
 * The PDP conformance suite: one set of behaviours every remote PDP adapter must show, run against
 * a fake of its PDP or against the real server.
 *
 * Usage, in a `*.test.ts` file:
 *
 * ```ts
 * import { describePdpConformance, conformanceRule } from "./suite.js";
 *
 * describePdpConformance({
 *   name: "permit",
 *   // Start a PDP that enforces conformanceRule() (a fake with a policy function, or a real
 *   // server loaded with an equivalent policy file).
 *   start: async () => {
 *     const fake = await startPermitFake({ decide: (q) => conformanceRule(q.user.key, String(q.resource.attributes.tool_name)) });
 *     return { url: fake.url, failures: fake, reset: () => fake.reset(), bulkSizes: () => fake.bulkSizes(), close: () => fake.close() };
 *   },
 *   switches: ["latency", "errorStatus", "garbage", "wrongShape", "wrongBulkLength"],
 *   createPdp: (url, { timeoutMs }) => permitPdp({ url, apiKey: "k", timeoutMs }),
 *   maxBulkSize: 100, // when the PDP has a documented bulk limit
 * });
 * ```
 *
 * The target decides with {@link conformanceRule} over tools/call requests built by
 * {@link conformanceRequest} (server name {@link CONFORMANCE_SERVER}). Failure switches a target
 * cannot offer (a real server cannot be told to answer garbage) are left out of
 * {@link ConformanceOptions.switches}; their tests are then not registered. Refused connections and
 * timeouts never need the target: the suite points the adapter at a closed port and at a black-hole
 * server it starts itself.
 */
import {
  type AuthorizationRequest,
  type Decision,
  type PolicyDecisionPoint,
  mapRequest,
  resolveMapping,
} from "@mcp-pdp/core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type BlackHole,
  type FailureSwitches,
  closedPortUrl,
  startBlackHole,
} from "../fakes/shared.js";

/** The server name the suite's requests are mapped with. */
export const CONFORMANCE_SERVER = "conformance";

/**
 * The policy every target must enforce: a subject may call a tool whose name starts with `allow`,
 * except the subject `mallory`, who may call nothing.
 */
export function conformanceRule(subjectId: string, toolName: string): boolean {
  return toolName.startsWith("allow") && subjectId !== "mallory";
}

/**
 * A tools/call request as the Authorizer builds it (default mapping, server
 * {@link CONFORMANCE_SERVER}). The subject has the role `user` and, for the Eunomia scheme, the
 * attribute `agent_id` equal to its id.
 */
export function conformanceRequest(
  subjectId: string,
  toolName: string,
  args: Record<string, unknown> = { n: 1 },
): AuthorizationRequest {
  const mapped = mapRequest(
    "tools/call",
    { name: toolName, arguments: args },
    resolveMapping({ serverName: CONFORMANCE_SERVER }),
  );
  return {
    subject: {
      id: subjectId,
      authenticated: true,
      roles: ["user"],
      attributes: { agent_id: subjectId },
    },
    ...mapped,
  };
}

/** The failure switches a target may offer. */
export type SwitchName = Exclude<keyof FailureSwitches, "reset">;

/** A running PDP the suite talks to. */
export interface ConformanceTarget {
  /** Base URL handed to {@link ConformanceOptions.createPdp}. */
  readonly url: string;
  /**
   * The failure switches the target offers (a fake offers all; a real server none). Must hold every
   * switch named in {@link ConformanceOptions.switches}.
   */
  readonly failures?: Partial<Pick<FailureSwitches, SwitchName>>;
  /** Turns every switch off before each test. */
  reset?(): void | Promise<void>;
  /**
   * Sizes of the bulk calls received so far, when the target records them (used to check chunking:
   * none empty, none above {@link ConformanceOptions.maxBulkSize}).
   */
  bulkSizes?(): readonly number[];
  close(): Promise<void>;
}

/** What the suite passes when it builds an adapter. */
export interface PdpFactoryOptions {
  /** Per-request timeout the adapter must apply. */
  readonly timeoutMs: number;
}

/** Options of {@link describePdpConformance}. */
export interface ConformanceOptions {
  /** Names the `describe` block. */
  readonly name: string;
  /** Starts the target (once for the whole suite). */
  start(): Promise<ConformanceTarget>;
  /** Builds the adapter against a base URL (the target's, a closed port, or a black hole). */
  createPdp(url: string, options: PdpFactoryOptions): PolicyDecisionPoint;
  /** The PDP's bulk limit, checked against {@link ConformanceTarget.bulkSizes}. @defaultValue none */
  readonly maxBulkSize?: number;
  /**
   * The failure switches the target supports; tests needing another switch are not registered.
   * @defaultValue none
   */
  readonly switches?: readonly SwitchName[];
  /** Items in the large bulk check. @defaultValue 250 */
  readonly bulkItems?: number;
}

const ERROR_CODES = new Set([
  "PDP_TIMEOUT",
  "PDP_UNAVAILABLE",
  "PDP_UNAUTHORIZED",
  "PDP_BAD_RESPONSE",
  "PDP_ABORTED",
  "PDP_ERROR",
]);

function expectPdpDecision(decision: Decision, allowed: boolean): void {
  expect(decision.allow).toBe(allowed);
  expect(decision.source).toBe("pdp");
  expect(decision.errorCode).toBeUndefined();
}

function expectErrorDeny(decision: Decision | undefined, code?: string): void {
  expect(decision).toBeDefined();
  expect(decision?.allow).toBe(false);
  expect(decision?.source).toBe("error");
  expect(typeof decision?.reason).toBe("string");
  expect(decision?.reason).not.toBe("");
  if (code !== undefined) expect(decision?.errorCode).toBe(code);
  else expect(ERROR_CODES.has(decision?.errorCode ?? "")).toBe(true);
}

function mixedRequests(n: number): AuthorizationRequest[] {
  return Array.from({ length: n }, (_, i) => {
    const subject = i % 7 === 3 ? "mallory" : `user${i % 5}`;
    const tool = i % 3 === 0 ? `deny_${i}` : `allow_${i}`;
    return conformanceRequest(subject, tool, { i });
  });
}

/** Every remote adapter must have a bulk call (the suite checks it rather than skip tests). */
function bulk(
  pdp: PolicyDecisionPoint,
  requests: readonly AuthorizationRequest[],
  signal?: AbortSignal,
): Promise<Decision[]> {
  if (!pdp.checkMany) throw new Error(`${pdp.name} has no checkMany`);
  return pdp.checkMany(requests, signal ? { signal } : undefined);
}

function expected(request: AuthorizationRequest): boolean {
  return conformanceRule(request.subject.id, request.operation.name ?? "");
}

/**
 * Registers the conformance tests for one adapter (call it at the top level of a test file). The
 * target is started once; each test builds its own adapter and closes it.
 */
export function describePdpConformance(options: ConformanceOptions): void {
  const bulkItems = options.bulkItems ?? 250;
  describe(`PDP conformance: ${options.name}`, () => {
    let target: ConformanceTarget;
    let blackHole: BlackHole;
    let refusedUrl: string;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => {
      unhandled.push(reason);
    };
    const opened: PolicyDecisionPoint[] = [];
    const pdpAt = (url: string, timeoutMs = 1000) => {
      const pdp = options.createPdp(url, { timeoutMs });
      opened.push(pdp);
      return pdp;
    };

    beforeAll(async () => {
      process.on("unhandledRejection", onUnhandled);
      target = await options.start();
      blackHole = await startBlackHole();
      refusedUrl = await closedPortUrl();
    });

    afterAll(async () => {
      await Promise.all(opened.map((p) => p.close?.() ?? Promise.resolve()));
      await blackHole.close();
      await target.close();
      process.off("unhandledRejection", onUnhandled);
    });

    beforeEach(async () => {
      await target.reset?.();
    });

    it("has a name and a bulk call", () => {
      const pdp = pdpAt(target.url);
      expect(pdp.name).toMatch(/\S/);
      expect(typeof pdp.checkMany).toBe("function");
    });

    it("allows what the policy allows", async () => {
      expectPdpDecision(
        await pdpAt(target.url).check(conformanceRequest("alice", "allow_read")),
        true,
      );
    });

    it("denies what the policy denies, as a PDP decision rather than an error", async () => {
      const pdp = pdpAt(target.url);
      expectPdpDecision(await pdp.check(conformanceRequest("alice", "deny_write")), false);
      expectPdpDecision(await pdp.check(conformanceRequest("mallory", "allow_read")), false);
    });

    it("decides many concurrent single checks correctly", async () => {
      const pdp = pdpAt(target.url);
      const requests = mixedRequests(40);
      const decisions = await Promise.all(requests.map((r) => pdp.check(r)));
      decisions.forEach((d, i) => {
        expectPdpDecision(d, expected(requests[i]!));
      });
    });

    it("answers a bulk check in request order", async () => {
      const pdp = pdpAt(target.url);
      const requests = mixedRequests(12);
      const decisions = await bulk(pdp, requests);
      expect(decisions).toHaveLength(requests.length);
      decisions.forEach((d, i) => {
        expectPdpDecision(d, expected(requests[i]!));
      });
    });

    it(`decides a bulk check of ${bulkItems} items in order, within the PDP's bulk limit`, async () => {
      const pdp = pdpAt(target.url, 5000);
      const before = target.bulkSizes?.().length ?? 0;
      const requests = mixedRequests(bulkItems);
      const decisions = await bulk(pdp, requests);
      expect(decisions).toHaveLength(bulkItems);
      decisions.forEach((d, i) => {
        expectPdpDecision(d, expected(requests[i]!));
      });
      const sizes = target.bulkSizes?.().slice(before);
      if (sizes) {
        for (const size of sizes) expect(size).toBeGreaterThan(0);
        if (options.maxBulkSize !== undefined) {
          for (const size of sizes) expect(size).toBeLessThanOrEqual(options.maxBulkSize);
          expect(sizes.length).toBeGreaterThanOrEqual(Math.ceil(bulkItems / options.maxBulkSize));
        }
      }
    });

    it("answers an empty bulk check with an empty list without asking the PDP", async () => {
      const pdp = pdpAt(target.url);
      const before = target.bulkSizes?.().length ?? 0;
      expect(await bulk(pdp, [])).toEqual([]);
      expect(target.bulkSizes?.().length ?? 0).toBe(before);
    });

    it("denies with PDP_UNAVAILABLE when the connection is refused", async () => {
      const pdp = pdpAt(refusedUrl);
      expectErrorDeny(
        await pdp.check(conformanceRequest("alice", "allow_read")),
        "PDP_UNAVAILABLE",
      );
      const many = await bulk(pdp, mixedRequests(3));
      for (const d of many) expectErrorDeny(d, "PDP_UNAVAILABLE");
    });

    it("denies with PDP_TIMEOUT when the PDP never answers", async () => {
      const pdp = pdpAt(blackHole.url, 150);
      expectErrorDeny(await pdp.check(conformanceRequest("alice", "allow_read")), "PDP_TIMEOUT");
      const many = await bulk(pdp, mixedRequests(3));
      for (const d of many) expectErrorDeny(d, "PDP_TIMEOUT");
    });

    it("denies with PDP_ABORTED when the caller aborts, and with a pre-aborted signal", async () => {
      const pdp = pdpAt(blackHole.url, 10_000);
      const controller = new AbortController();
      const pending = pdp.check(conformanceRequest("alice", "allow_read"), {
        signal: controller.signal,
      });
      setTimeout(() => {
        controller.abort();
      }, 50);
      expectErrorDeny(await pending, "PDP_ABORTED");
      const aborted = AbortSignal.abort();
      expectErrorDeny(
        await pdp.check(conformanceRequest("alice", "allow_read"), { signal: aborted }),
        "PDP_ABORTED",
      );
      const many = await bulk(pdp, mixedRequests(3), aborted);
      for (const d of many) expectErrorDeny(d, "PDP_ABORTED");
    });

    it("denies every item of an aborted bulk check", async () => {
      const pdp = pdpAt(blackHole.url, 10_000);
      const controller = new AbortController();
      const pending = bulk(pdp, mixedRequests(5), controller.signal);
      setTimeout(() => {
        controller.abort();
      }, 50);
      const decisions = await pending;
      expect(decisions).toHaveLength(5);
      for (const d of decisions) expectErrorDeny(d, "PDP_ABORTED");
    });

    it("denies with an error after close()", async () => {
      const pdp = options.createPdp(target.url, { timeoutMs: 1000 });
      await pdp.close?.();
      expectErrorDeny(await pdp.check(conformanceRequest("alice", "allow_read")));
    });

    const switches = new Set(options.switches ?? []);
    // Tests needing a switch the target lacks are not registered at all.
    const optional = (name: string, needs: SwitchName, fn: () => Promise<void>) => {
      if (!switches.has(needs)) return;
      it(name, async () => {
        if (target.failures?.[needs] === undefined) {
          throw new Error(
            `${options.name}: the target declares switch ${needs} but does not offer it`,
          );
        }
        await fn();
      });
    };

    optional("denies with PDP_TIMEOUT when the PDP answers too late", "latency", async () => {
      target.failures?.latency?.(800);
      const pdp = pdpAt(target.url, 150);
      expectErrorDeny(await pdp.check(conformanceRequest("alice", "allow_read")), "PDP_TIMEOUT");
      const many = await bulk(pdp, mixedRequests(4));
      for (const d of many) expectErrorDeny(d, "PDP_TIMEOUT");
    });

    optional(
      "denies with an error code on 500 and PDP_UNAVAILABLE on 503",
      "errorStatus",
      async () => {
        const pdp = pdpAt(target.url);
        target.failures?.errorStatus?.(500);
        expectErrorDeny(await pdp.check(conformanceRequest("alice", "allow_read")));
        for (const d of await bulk(pdp, mixedRequests(4))) expectErrorDeny(d);
        target.failures?.errorStatus?.(503);
        expectErrorDeny(
          await pdp.check(conformanceRequest("alice", "allow_read")),
          "PDP_UNAVAILABLE",
        );
        for (const d of await bulk(pdp, mixedRequests(4))) expectErrorDeny(d, "PDP_UNAVAILABLE");
      },
    );

    optional("denies with PDP_UNAUTHORIZED on 401", "errorStatus", async () => {
      target.failures?.errorStatus?.(401);
      const pdp = pdpAt(target.url);
      expectErrorDeny(
        await pdp.check(conformanceRequest("alice", "allow_read")),
        "PDP_UNAUTHORIZED",
      );
    });

    for (const [what, failure] of [
      ["the body is not JSON", "garbage"],
      ["the JSON has the wrong shape", "wrongShape"],
    ] as const) {
      optional(`denies with PDP_BAD_RESPONSE when ${what}`, failure, async () => {
        target.failures?.[failure]?.(true);
        const pdp = pdpAt(target.url);
        expectErrorDeny(
          await pdp.check(conformanceRequest("alice", "allow_read")),
          "PDP_BAD_RESPONSE",
        );
        for (const d of await bulk(pdp, mixedRequests(4))) expectErrorDeny(d, "PDP_BAD_RESPONSE");
      });
    }

    optional(
      "denies every item with PDP_BAD_RESPONSE when a bulk answer has the wrong length",
      "wrongBulkLength",
      async () => {
        target.failures?.wrongBulkLength?.(true);
        const pdp = pdpAt(target.url);
        const decisions = await bulk(pdp, mixedRequests(6));
        expect(decisions).toHaveLength(6);
        for (const d of decisions) expectErrorDeny(d, "PDP_BAD_RESPONSE");
      },
    );

    it("recovers once the PDP behaves again", async () => {
      target.failures?.garbage?.(true);
      const pdp = pdpAt(target.url);
      await pdp.check(conformanceRequest("alice", "allow_read"));
      await target.reset?.();
      expectPdpDecision(await pdp.check(conformanceRequest("alice", "allow_read")), true);
    });

    it("leaves no unhandled rejections behind", async () => {
      // Give timed-out and aborted requests time to settle on their sockets.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(unhandled).toEqual([]);
    });
  });
}
