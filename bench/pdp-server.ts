/**
 * Runs the fake Permit PDP of the end-to-end tests in a child process, as a real PDP sidecar runs
 * beside the server: its CPU time is not charged to the client being measured. Controlled over
 * the IPC channel by {@link startRemotePdp} (remote.ts).
 */
import { startPermitFake } from "../test/fakes/permit.js";
import { API_KEY, permitPolicy } from "./fixtures.js";
import type { PdpCommand, PdpReply } from "./remote.js";

const fake = await startPermitFake({ apiKey: API_KEY, policy: permitPolicy });
let latencyMs = 0;

const reply = (message: PdpReply): void => {
  process.send?.(message);
};

process.on("message", (raw) => {
  const command = raw as PdpCommand;
  switch (command.type) {
    case "latency":
      latencyMs = command.ms;
      fake.latency(latencyMs);
      reply({ id: command.id, type: "ok" });
      break;
    case "reset":
      // The fake's reset also turns its switches off; the latency set for the figure stays.
      fake.reset();
      fake.latency(latencyMs);
      reply({ id: command.id, type: "ok" });
      break;
    case "stats":
      reply({
        id: command.id,
        type: "stats",
        requests: fake.requests.length,
        decisionRequests: fake.requests.filter((r) => r.path.startsWith("/allowed")).length,
        queries: fake.queries().length,
        bulkSizes: [...fake.bulkSizes()],
      });
      break;
    case "close":
      void fake.close().then(() => {
        reply({ id: command.id, type: "ok" });
        process.disconnect();
      });
      break;
  }
});

reply({ id: 0, type: "ready", url: fake.url });
