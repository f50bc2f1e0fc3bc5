import { eunomiaPdp } from "@mcp-pdp/eunomia";
import { startEunomiaFake } from "../fakes/eunomia.js";
import { conformanceRule, describePdpConformance } from "./suite.js";

describePdpConformance({
  name: "eunomia (fake server)",
  async start() {
    const fake = await startEunomiaFake({
      policy: (c) =>
        conformanceRule(
          (c.principal.uri ?? "").replace(/^agent:/, ""),
          String(c.resource.attributes.name),
        ),
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
  createPdp: (url, { timeoutMs }) => eunomiaPdp({ endpoint: url, timeoutMs }),
  switches: ["latency", "errorStatus", "garbage", "wrongShape", "wrongBulkLength"],
  maxBulkSize: 100,
});
