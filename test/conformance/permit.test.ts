import { permitPdp } from "@mcp-pdp/permit";
import { startPermitFake } from "../fakes/permit.js";
import { conformanceRule, describePdpConformance } from "./suite.js";

describePdpConformance({
  name: "permit (fake PDP)",
  async start() {
    const fake = await startPermitFake({
      policy: (q) => conformanceRule(q.user.key, String(q.resource.attributes?.tool_name)),
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
  createPdp: (url, { timeoutMs }) => permitPdp({ url, apiKey: "permit_key_test", timeoutMs }),
  switches: ["latency", "errorStatus", "garbage", "wrongShape", "wrongBulkLength"],
  maxBulkSize: 100,
});
