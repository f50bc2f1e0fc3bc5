/**
 * The example notes server with each remote adapter chosen by environment variables alone, against
 * a fake of that PDP deciding the example policy in the PDP's own wire vocabulary: a real SDK
 * client sees the same per-role results as with the local engine.
 */
import { type Env, fixedIdentity } from "@mcp-pdp/core";
import { guardOptionsFromEnv } from "@mcp-pdp/example-local-server/pdp";
import { createNotesServer } from "@mcp-pdp/example-local-server/server";
import { authorize } from "@mcp-pdp/mcp";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EunomiaCheck, startEunomiaFake } from "../fakes/eunomia.js";
import { startOpaFake } from "../fakes/opa.js";
import { type PermitQuery, startPermitFake } from "../fakes/permit.js";
import type { FakeServer } from "../fakes/shared.js";
import { EXPECTED, viewOf } from "./notes-view.js";

const ROLES = ["admin", "user", "guest"] as const;
/** Role assignments as the PDP holds them (Permit and Eunomia know users by key, not by claims). */
const ROLE_OF: Record<string, string> = {
  "admin-caller": "admin",
  "user-caller": "user",
  "guest-caller": "guest",
};
const READ_TOOLS = ["list_notes", "read_note", "search_notes"];
const READABLE = (uri: string) => uri === "notes://index" || uri.startsWith("notes://note/");

/** The example policy over Permit's query: resource types and actions of the default mapping. */
function permitPolicy(q: PermitQuery): boolean {
  const role = ROLE_OF[q.user.key];
  if (role === "admin") return true;
  if (role !== "user") return false;
  const { type, key } = q.resource;
  if (q.action === "list")
    return ["notes_tools", "notes_resources", "notes_resource_templates"].includes(type);
  if (type === "notes") return READ_TOOLS.map((t) => t.replace(/_/g, "-")).includes(q.action);
  if (type === "notes_resources") return q.action === "read" && key !== undefined && READABLE(key);
  return false;
}

/** The example policy over Eunomia's view: `agent:<id>`, `mcp:<type>:<name>`, list/execute. */
function eunomiaPolicy(check: EunomiaCheck): boolean {
  const role = ROLE_OF[check.principal.uri?.slice("agent:".length) ?? ""];
  if (role === "admin") return true;
  if (role !== "user" || !["list", "execute"].includes(check.action)) return false;
  const uri = check.resource.uri ?? "";
  if (uri.startsWith("mcp:tools:")) return READ_TOOLS.includes(uri.slice("mcp:tools:".length));
  if (uri.startsWith("mcp:resources:")) return READABLE(uri.slice("mcp:resources:".length));
  return false;
}

/** The example policy over OPA's input document, as policy.rego states it. */
function opaPolicy(input: unknown): unknown {
  const i = input as {
    subject: { roles?: string[] };
    action: string;
    resource: { type: string; key?: string };
    operation: { name?: string };
  };
  const roles = i.subject.roles ?? [];
  if (roles.includes("admin")) return { allow: true, reason: "admin" };
  if (!roles.includes("user")) return undefined; // an undefined decision: deny
  const { type, key } = i.resource;
  let allow = false;
  if (i.action === "list")
    allow = ["notes_tools", "notes_resources", "notes_resource_templates"].includes(type);
  else if (type === "notes") allow = READ_TOOLS.includes(i.operation.name ?? "");
  else if (type === "notes_resources")
    allow = i.action === "read" && key !== undefined && READABLE(key);
  return { allow, reason: allow ? "user may read" : "users only read" };
}

interface Target {
  readonly fake: FakeServer;
  readonly env: Env;
}

const targets: Record<string, () => Promise<Target>> = {
  permit: async () => {
    const fake = await startPermitFake({ apiKey: "permit_key_e2e", policy: permitPolicy });
    return {
      fake,
      env: {
        MCP_PDP_ADAPTER: "permit",
        PERMIT_PDP_URL: fake.url,
        PERMIT_API_KEY: "permit_key_e2e",
      },
    };
  },
  eunomia: async () => {
    const fake = await startEunomiaFake({ policy: eunomiaPolicy });
    return { fake, env: { MCP_PDP_ADAPTER: "eunomia", EUNOMIA_ENDPOINT: fake.url } };
  },
  opa: async () => {
    const fake = await startOpaFake({ policy: (input) => opaPolicy(input), decisionIds: true });
    return {
      fake,
      env: { MCP_PDP_ADAPTER: "opa", OPA_URL: fake.url, OPA_DECISION_PATH: "mcp/notes/decision" },
    };
  },
};

for (const [adapter, start] of Object.entries(targets)) {
  describe(`example notes server on ${adapter}, configured by environment variables alone`, () => {
    let target: Target;
    beforeAll(async () => {
      target = await start();
    });
    afterAll(async () => {
      await target.fake.close();
    });

    for (const role of ROLES) {
      it(`gives role ${role} the same view as the local engine`, async () => {
        const options = await guardOptionsFromEnv(
          { ...target.env, MCP_PDP_AUDIT: "off" },
          fixedIdentity(`${role}-caller`, { roles: [role] }),
        );
        const server = createNotesServer();
        authorize(server, options);
        const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
        await server.connect(serverSide);
        const client = new Client({ name: `e2e-${adapter}`, version: "1.0.0" });
        await client.connect(clientSide);
        expect(await viewOf(client)).toEqual(EXPECTED[role]);
        expect(target.fake.requests.length).toBeGreaterThan(0);
        await client.close();
        await options.pdp.close?.();
      });
    }
  });
}
