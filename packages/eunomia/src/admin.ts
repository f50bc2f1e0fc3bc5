import { JsonHttpClient, type PdpOutcome, PdpError, PolicyError } from "@mcp-pdp/core";
import type { EunomiaCheckRequest, EunomiaPolicy } from "@mcp-pdp/local";
import { z } from "zod";
import { DEFAULT_EUNOMIA_ENDPOINT } from "./pdp.js";

/** Options of {@link eunomiaAdmin}. */
export interface EunomiaAdminOptions {
  /** The server's base URL. @defaultValue `"http://localhost:8421"` */
  readonly endpoint?: string;
  /** Sent as `WAY-API-KEY` when the server requires admin authentication. @defaultValue none */
  readonly apiKey?: string;
  /** Milliseconds one call may take. @defaultValue 5000 */
  readonly timeoutMs?: number;
}

/** A client for the Eunomia server's admin policy API. Failures throw a {@link PdpError}. */
export interface EunomiaAdmin {
  /** `GET /admin/policies`. */
  listPolicies(options?: { signal?: AbortSignal }): Promise<EunomiaPolicy[]>;
  /** `GET /admin/policies/{name}`; undefined when there is no such policy. */
  getPolicy(name: string, options?: { signal?: AbortSignal }): Promise<EunomiaPolicy | undefined>;
  /** `POST /admin/policies`. A policy the server rejects throws a {@link PolicyError}. */
  createPolicy(policy: EunomiaPolicy, options?: { signal?: AbortSignal }): Promise<EunomiaPolicy>;
  /**
   * `POST /admin/policies/simple?name=`: one rule allowing the check's action when the principal's
   * and resource's attributes equal the given ones.
   */
  createSimplePolicy(
    name: string,
    check: Partial<EunomiaCheckRequest> & Pick<EunomiaCheckRequest, "principal" | "resource">,
    options?: { signal?: AbortSignal },
  ): Promise<EunomiaPolicy>;
  /** `DELETE /admin/policies/{name}`; whether a policy was removed. */
  deletePolicy(name: string, options?: { signal?: AbortSignal }): Promise<boolean>;
  close(): Promise<void>;
}

const policySchema = z.looseObject({
  name: z.string(),
  rules: z.array(z.looseObject({})),
});
const rejection = z.looseObject({ detail: z.unknown() });

function detailText(detail: unknown): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const item = d as { loc?: unknown; msg?: unknown };
        const loc = Array.isArray(item.loc) ? item.loc.join(".") : "";
        return `${loc ? `${loc}: ` : ""}${typeof item.msg === "string" ? item.msg : JSON.stringify(d)}`;
      })
      .join("; ");
  }
  return JSON.stringify(detail);
}

function policyName(name: string): string {
  if (typeof name !== "string" || name.trim() === "") {
    throw new PolicyError("eunomia admin: a policy name must be a non-empty string");
  }
  return encodeURIComponent(name);
}

/** A client for the Eunomia admin policy API (list, get, create, delete). */
export function eunomiaAdmin(options: EunomiaAdminOptions = {}): EunomiaAdmin {
  const http = new JsonHttpClient({
    url: options.endpoint ?? DEFAULT_EUNOMIA_ENDPOINT,
    name: "eunomia admin",
    timeoutMs: options.timeoutMs ?? 5000,
    connections: 2,
    ...(options.apiKey !== undefined && options.apiKey !== ""
      ? { headers: { "way-api-key": options.apiKey } }
      : {}),
  });
  const signalOf = (o?: { signal?: AbortSignal }) => (o?.signal ? { signal: o.signal } : {});

  function unwrap<T>(outcome: PdpOutcome<T>): T {
    if (outcome.ok) return outcome.body;
    const reason =
      outcome.code === "PDP_UNAUTHORIZED"
        ? `${outcome.reason} (check WAY_API_KEY)`
        : outcome.reason;
    throw new PdpError(outcome.code, reason);
  }

  const writeResult = z.union([policySchema, rejection]);
  function written(outcome: PdpOutcome<z.output<typeof writeResult>>): EunomiaPolicy {
    const body = unwrap(outcome);
    if (outcome.ok && outcome.status >= 400) {
      throw new PolicyError(
        `eunomia admin: the server rejected the policy: ${detailText((body as { detail?: unknown }).detail)}`,
      );
    }
    const policy = policySchema.safeParse(body);
    if (!policy.success) {
      throw new PdpError(
        "PDP_BAD_RESPONSE",
        "eunomia admin: the server answered something other than a policy",
      );
    }
    return policy.data as unknown as EunomiaPolicy;
  }

  return {
    async listPolicies(o) {
      return unwrap(
        await http.get("/admin/policies", z.array(policySchema), signalOf(o)),
      ) as unknown as EunomiaPolicy[];
    },
    async getPolicy(name, o) {
      const outcome = await http.get(
        `/admin/policies/${policyName(name)}`,
        z.union([policySchema, rejection]),
        { ...signalOf(o), acceptStatus: [404] },
      );
      if (outcome.ok && outcome.status === 404) return undefined;
      return unwrap(outcome) as unknown as EunomiaPolicy;
    },
    async createPolicy(policy, o) {
      policyName(policy.name);
      return written(
        await http.post("/admin/policies", policy, writeResult, {
          ...signalOf(o),
          acceptStatus: [400, 422],
        }),
      );
    },
    async createSimplePolicy(name, check, o) {
      return written(
        await http.post(`/admin/policies/simple?name=${policyName(name)}`, check, writeResult, {
          ...signalOf(o),
          acceptStatus: [400, 422],
        }),
      );
    },
    async deletePolicy(name, o) {
      return unwrap(
        await http.request(
          "DELETE",
          `/admin/policies/${policyName(name)}`,
          undefined,
          z.boolean(),
          signalOf(o),
        ),
      );
    },
    close: () => http.close(),
  };
}
