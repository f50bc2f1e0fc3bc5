/**
 * Reads through resource templates, end to end: an SDK McpServer secured with authorize(), a real
 * SDK Client over InMemoryTransport. The guard finds the template a read goes to before deciding
 * it, for any caller: that lookup must stay fast on URIs crafted to make a backtracking matcher
 * crawl, and must never decide a long URI without its template's metadata.
 */
import type { AuthorizationRequest } from "@mcp-pdp/core";
import { denyAll, functionPdp } from "@mcp-pdp/core/testing";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { CallToolResultSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import { type GuardOptions, UNAUTHORIZED_CODE, authorize } from "../src/index.js";

/** Templates with several variables, each with a URI of over 4000 characters that nearly fits. */
const ADVERSARIAL: readonly { template: string; near: string; fits: string }[] = [
  {
    template: "docs://{a}-{b}-{c}!",
    near: `docs://${"-".repeat(4000)}`,
    fits: `docs://${"a-".repeat(2000)}c!`,
  },
  {
    template: "files://{+a}{+b}{+c}!",
    near: `files://${"x".repeat(4000)}`,
    fits: `files://${"x".repeat(4000)}!`,
  },
  {
    template: "dots://{a}.{b}.{c}!",
    near: `dots://${".".repeat(4000)}`,
    fits: `dots://${"a.".repeat(2000)}c!`,
  },
  {
    template: "cells://{a}{b}{c}{d}",
    near: `cells://${"x".repeat(4000)}/`,
    fits: `cells://${"x".repeat(4000)}`,
  },
];

function options(pdp: GuardOptions["pdp"], extra: Partial<GuardOptions> = {}): GuardOptions {
  return { pdp, audit: false, mapping: { serverName: "docs" }, ...extra };
}

async function connect(server: McpServer): Promise<Client> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "caller", version: "1.0.0" });
  await client.connect(clientSide);
  return client;
}

async function refusal(send: () => Promise<unknown>): Promise<McpError | undefined> {
  try {
    await send();
    return undefined;
  } catch (error) {
    if (error instanceof McpError) return error;
    throw error;
  }
}

describe("reads through resource templates", () => {
  it("decides crafted 4000-character URIs in well under 100 ms each, with the template's metadata", async () => {
    const server = new McpServer({ name: "docs", version: "1.0.0" });
    let reads = 0;
    ADVERSARIAL.forEach(({ template }, i) => {
      server.registerResource(
        `t${i}`,
        new ResourceTemplate(template, { list: undefined }),
        { _meta: { tags: [`template-${i}`] } },
        (uri) => {
          reads++;
          return { contents: [{ uri: uri.href, text: "page" }] };
        },
      );
    });
    const seen: AuthorizationRequest[] = [];
    // Every read is denied: the guard answers without the server ever routing it.
    authorize(
      server,
      options(
        functionPdp((request) => {
          seen.push(request);
          return request.action === "list" || request.operation.component === undefined;
        }),
      ),
    );
    const client = await connect(server);

    for (const [i, { near, fits }] of ADVERSARIAL.entries()) {
      expect(near.length).toBeGreaterThanOrEqual(4000);
      for (const [uri, tags] of [
        [near, undefined],
        [fits, [`template-${i}`]],
      ] as const) {
        seen.length = 0;
        const started = performance.now();
        const error = await refusal(() => client.readResource({ uri }));
        const elapsed = performance.now() - started;
        expect(error?.code).toBe(UNAUTHORIZED_CODE);
        expect(elapsed, `${ADVERSARIAL[i]?.template} ${uri.length} chars`).toBeLessThan(100);
        // The URI that fits is decided with its template's tags; the near miss with none.
        expect(seen.map((r) => r.operation.metadata?.tags)).toEqual([tags]);
      }
    }
    expect(reads).toBe(0);
    await client.close();
  });

  it("refuses a long URI rather than run an unreadable template's own matcher or decide without its metadata", async () => {
    const server = new McpServer({ name: "docs", version: "1.0.0" });
    server.registerResource(
      "private",
      new ResourceTemplate("private://{a}-{b}", { list: undefined }),
      { _meta: { tags: ["private"] } },
      (uri) => ({ contents: [{ uri: uri.href, text: "secret" }] }),
    );
    // A template from an SDK line whose parsed form this package does not know: only `match`.
    const registered = (
      server as unknown as {
        _registeredResourceTemplates: Record<string, { resourceTemplate: object }>;
      }
    )._registeredResourceTemplates.private;
    const sdkTemplate = (registered?.resourceTemplate as { uriTemplate: object }).uriTemplate;
    const longMatches: number[] = [];
    const foreign = {
      match(uri: string) {
        if (uri.length > 256) longMatches.push(uri.length);
        return (sdkTemplate as { match(uri: string): unknown }).match(uri);
      },
    };
    Object.defineProperty(registered?.resourceTemplate, "uriTemplate", { value: foreign });
    // Reads are allowed unless their template is tagged private.
    authorize(
      server,
      options(
        functionPdp((request) => !(request.operation.metadata?.tags ?? []).includes("private")),
      ),
    );
    const client = await connect(server);

    const short = await refusal(() => client.readResource({ uri: "private://a-b" }));
    expect(short?.code).toBe(UNAUTHORIZED_CODE);
    const long = await refusal(() =>
      client.readResource({ uri: `private://${"a".repeat(3000)}-b` }),
    );
    expect(long?.code).toBe(UNAUTHORIZED_CODE);
    expect(longMatches).toEqual([]);
    await client.close();
  });
});

describe("not-found answers", () => {
  it("repeat at most 256 characters of the URI or name the client sent", async () => {
    const server = new McpServer({ name: "docs", version: "1.0.0" });
    server.registerResource("readme", "docs://readme", {}, (uri) => ({
      contents: [{ uri: uri.href, text: "readme" }],
    }));
    // A tool and a prompt, so the server handles their methods (it has no answer of its own to
    // a method it has no handler for, and the guard then leaves the answer to it).
    server.registerTool("read_file", {}, () => ({ content: [] }));
    server.registerPrompt("greet", {}, () => ({ messages: [] }));
    authorize(server, options(denyAll(), { denyMode: "not-found" }));
    const client = await connect(server);

    const uri = `docs://${"u".repeat(4089)}`;
    const read = await refusal(() => client.readResource({ uri }));
    expect(read?.code).toBe(-32002);
    expect(read?.message).toContain("Resource docs://uuu");
    expect(read?.message).toContain(`(${uri.length} chars)`);
    expect(read?.message.length).toBeLessThan(400);

    const name = "n".repeat(10_000);
    const tool = await refusal(() =>
      client.request(
        { method: "tools/call", params: { name, arguments: {} } },
        CallToolResultSchema,
      ),
    );
    expect(tool?.code).toBe(-32602);
    expect(tool?.message).toContain(`(${name.length} chars)`);
    expect(tool?.message.length).toBeLessThan(400);

    const prompt = await refusal(() => client.getPrompt({ name }));
    expect(prompt?.code).toBe(-32602);
    expect(prompt?.message.length).toBeLessThan(400);

    // A name within the bound is repeated whole, as the server itself would.
    const short = await refusal(() => client.callTool({ name: "read_file" }));
    expect(short?.message).toContain("Tool read_file not found");
    await client.close();
  });
});
