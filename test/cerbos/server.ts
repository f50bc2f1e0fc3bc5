/**
 * The real Cerbos server (the binary of @cerbos/cerbos-linux-x64) for end-to-end tests, loaded with
 * one of the repository's policy directories.
 */
import { fileURLToPath } from "node:url";
import { type CerbosServer, startCerbosServer } from "@mcp-pdp/cerbos/testing";

/** Policies of these tests: the conformance rule. */
export const TEST_POLICIES = fileURLToPath(new URL("./policies", import.meta.url));

/** Policies of the example notes server. */
export const EXAMPLE_POLICIES = fileURLToPath(
  new URL("../../examples/local-server/cerbos", import.meta.url),
);

/** Starts Cerbos on free 127.0.0.1 ports with a policy directory (these tests' by default). */
export function startCerbos(
  policyDir: string = TEST_POLICIES,
  set: readonly string[] = [],
): Promise<CerbosServer> {
  return startCerbosServer({ policyDir, set });
}

export type { CerbosServer };
