import { opaPdp } from "@mcp-pdp/opa";
import { startOpaFake } from "../fakes/opa.js";
import { conformanceRule, describePdpConformance } from "./suite.js";

interface Input {
  subject: { id: string };
  operation: { name?: string };
}

const rule = (input: unknown) => {
  const i = input as Input;
  return conformanceRule(i.subject.id, i.operation.name ?? "");
};

for (const enterprise of [false, true]) {
  describePdpConformance({
    name: `opa (fake, ${enterprise ? "Enterprise batch endpoint" : "open source, no batch endpoint"})`,
    async start() {
      // Alternate the result's two shapes: a boolean and {allow, reason}.
      const fake = await startOpaFake({
        enterprise,
        decisionIds: true,
        policy: (input) =>
          enterprise ? { allow: rule(input), reason: "fake policy" } : rule(input),
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
    createPdp: (url, { timeoutMs }) => opaPdp({ url, timeoutMs }),
    switches: enterprise
      ? ["latency", "errorStatus", "garbage", "wrongShape", "wrongBulkLength"]
      : ["latency", "errorStatus", "garbage", "wrongShape"],
    // Open-source OPA has no bulk endpoint: the fallback sends single calls, so no bulk limit applies.
    ...(enterprise ? { maxBulkSize: 100 } : {}),
  });
}
