/**
 * Refusal of unauthenticated callers, shared by the HTTP and SDK adapters. Not part of the public
 * surface.
 */
import type { AuthorizationRequest, CheckOptions, Decision } from "@mcp-pdp/core";

/**
 * The answer for a caller whose identity was not established. It depends on no policy and is no
 * failure, so it is a PDP decision rather than an error.
 */
export const UNAUTHENTICATED: Decision = Object.freeze({
  allow: false,
  source: "pdp",
  reason: "caller is not authenticated",
});

type Check = (request: AuthorizationRequest, options?: CheckOptions) => Promise<Decision>;
type CheckMany = (
  requests: readonly AuthorizationRequest[],
  options?: CheckOptions,
) => Promise<Decision[]>;

/**
 * Wraps an adapter's `check` and `checkMany` so that unauthenticated callers are denied without
 * reaching Permit: their id is a placeholder (`anonymous`) that Permit could not tell from a real
 * user of that key. A bulk check sends only the authenticated callers' queries.
 */
export function refuseUnauthenticated(
  check: Check,
  checkMany: CheckMany,
): { check: Check; checkMany: CheckMany } {
  return {
    check: (request, options) =>
      request.subject.authenticated ? check(request, options) : Promise.resolve(UNAUTHENTICATED),
    async checkMany(requests, options) {
      if (requests.every((r) => r.subject.authenticated)) return checkMany(requests, options);
      const answers = await checkMany(
        requests.filter((r) => r.subject.authenticated),
        options,
      );
      let next = 0;
      return requests.map((r) =>
        r.subject.authenticated ? (answers[next++] ?? UNAUTHENTICATED) : UNAUTHENTICATED,
      );
    },
  };
}
