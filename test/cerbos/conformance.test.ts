import { cerbosPdp } from "@mcp-pdp/cerbos";
import { startCerbosFake } from "../fakes/cerbos.js";
import { conformanceRule, describePdpConformance } from "../conformance/suite.js";
import { startCerbos } from "./server.js";

// The real server decides with policies/conformance_tool.yaml. It cannot be told to fail, so the
// switch-driven tests run against the fake below.
describePdpConformance({
  name: "cerbos (real server)",
  async start() {
    const server = await startCerbos();
    return { url: server.url, close: () => server.close() };
  },
  createPdp: (url, { timeoutMs }) => cerbosPdp({ url, timeoutMs, prefixKindWithServer: true }),
  // The server answers 400 to a call over its limit: the 250-item check fails unless chunked.
  maxBulkSize: 50,
});

describePdpConformance({
  name: "cerbos (fake PDP)",
  async start() {
    const fake = await startCerbosFake({
      policy: (principal, resource, action) =>
        resource.kind === "mcp_conformance_tool" &&
        action === "call" &&
        conformanceRule(principal.id, resource.id),
    });
    return {
      url: fake.url,
      failures: fake,
      reset: () => {
        fake.reset();
      },
      bulkSizes: () => fake.bulkSizes(),
      close: () => fake.close(),
    };
  },
  createPdp: (url, { timeoutMs }) => cerbosPdp({ url, timeoutMs, prefixKindWithServer: true }),
  switches: ["latency", "errorStatus", "garbage", "wrongShape", "wrongBulkLength"],
  maxBulkSize: 50,
});
