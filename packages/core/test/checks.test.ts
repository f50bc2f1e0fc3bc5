import { describe, expect, it, vi } from "vitest";
import {
  type AuthCheck,
  AuthorizationError,
  ConfigError,
  allChecks,
  anyCheck,
  matchesUriTemplate,
  requireAuth,
  requireRoles,
  requireScopes,
  restrictTag,
} from "../src/index.js";
import { anonymous, callTool, contextOf, request, user } from "./checks-helpers.js";

const run = (check: AuthCheck, req = callTool("t", user("u"))) => check(contextOf(req));

describe("requireAuth", () => {
  it("passes an authenticated subject", async () => {
    expect(await run(requireAuth(), callTool("t", user("alice")))).toBe(true);
  });

  it("fails an unauthenticated subject", async () => {
    expect(await run(requireAuth(), callTool("t", anonymous))).toBe(false);
  });

  it("is named so a denial says which check failed", () => {
    expect(requireAuth().name).toBe("requireAuth");
  });
});

describe("requireScopes", () => {
  const check = requireScopes("notes:read", "notes:write");

  it("passes when the token grants every scope", async () => {
    const alice = user("alice", { scopes: ["notes:write", "other", "notes:read"] });
    expect(await run(check, callTool("t", alice))).toBe(true);
  });

  it("fails when one scope is missing", async () => {
    expect(await run(check, callTool("t", user("bob", { scopes: ["notes:read"] })))).toBe(false);
  });

  it("fails a subject without scopes", async () => {
    expect(await run(check, callTool("t", user("carol")))).toBe(false);
  });

  it("fails an unauthenticated subject even when it carries the scopes", async () => {
    const forged = { ...anonymous, scopes: ["notes:read", "notes:write"] };
    expect(await run(check, callTool("t", forged))).toBe(false);
  });

  it("names the scopes", () => {
    expect(check.name).toBe("requireScopes(notes:read,notes:write)");
  });

  it("rejects a configuration without scopes or with an empty scope", () => {
    expect(() => requireScopes()).toThrow(ConfigError);
    expect(() => requireScopes("a", " ")).toThrow(/every scope must be a non-empty string/);
  });
});

describe("requireRoles", () => {
  const check = requireRoles("admin", "editor");

  it("passes a subject holding any one of the roles", async () => {
    expect(await run(check, callTool("t", user("alice", { roles: ["viewer", "editor"] })))).toBe(
      true,
    );
  });

  it("fails a subject holding none of the roles", async () => {
    expect(await run(check, callTool("t", user("bob", { roles: ["viewer"] })))).toBe(false);
    expect(await run(check, callTool("t", user("carol")))).toBe(false);
  });

  it("fails an unauthenticated subject even when it carries a role", async () => {
    expect(await run(check, callTool("t", { ...anonymous, roles: ["admin"] }))).toBe(false);
  });

  it("rejects a configuration without roles", () => {
    expect(() => requireRoles()).toThrow(/requireRoles: give at least one role/);
  });
});

describe("restrictTag", () => {
  const adminOnly = restrictTag("admin", { scopes: ["admin:write"] });
  const admin = user("root", { scopes: ["admin:write"] });
  const plain = user("alice", { scopes: ["notes:read"] });
  const tagged = { tags: ["admin", "danger"] };

  it("applies the scopes to a component carrying the tag", async () => {
    expect(await run(adminOnly, callTool("wipe", admin, tagged))).toBe(true);
    expect(await run(adminOnly, callTool("wipe", plain, tagged))).toBe(false);
    expect(await run(adminOnly, callTool("wipe", anonymous, tagged))).toBe(false);
  });

  it("lets components without the tag pass", async () => {
    expect(await run(adminOnly, callTool("read", plain, { tags: ["public"] }))).toBe(true);
    expect(await run(adminOnly, callTool("read", anonymous, {}))).toBe(true);
  });

  it("lets operations that are not about one component pass", async () => {
    expect(await run(adminOnly, request("tools/list", {}, anonymous))).toBe(true);
    expect(await run(adminOnly, request("completion/complete", {}, anonymous))).toBe(true);
  });

  it("applies the requirements to a component whose metadata is unknown", async () => {
    expect(await run(adminOnly, callTool("unknown", plain))).toBe(false);
    expect(await run(adminOnly, callTool("unknown", admin))).toBe(true);
  });

  it("lets a component with unknown metadata pass when told to", async () => {
    const lenient = restrictTag("admin", { scopes: ["admin:write"], unknownMetadata: "pass" });
    expect(await run(lenient, callTool("unknown", plain))).toBe(true);
    expect(await run(lenient, callTool("wipe", plain, tagged))).toBe(false);
  });

  it("requires one of the roles, and every scope, when both are given", async () => {
    const check = restrictTag("admin", { scopes: ["admin:write"], roles: ["ops", "sre"] });
    const opsWithScope = user("o", { roles: ["sre"], scopes: ["admin:write"] });
    const opsWithoutScope = user("p", { roles: ["sre"] });
    const scopeWithoutRole = user("q", { scopes: ["admin:write"] });
    expect(await run(check, callTool("wipe", opsWithScope, tagged))).toBe(true);
    expect(await run(check, callTool("wipe", opsWithoutScope, tagged))).toBe(false);
    expect(await run(check, callTool("wipe", scopeWithoutRole, tagged))).toBe(false);
  });

  it("rejects a configuration that requires nothing or has a bad value", () => {
    expect(() => restrictTag("admin", {})).toThrow(/give scopes or roles/);
    expect(() => restrictTag("", { scopes: ["x"] })).toThrow(/tag must be a non-empty string/);
    expect(() =>
      restrictTag("admin", { scopes: ["x"], unknownMetadata: "maybe" as "pass" }),
    ).toThrow(/unknownMetadata must be "restrict" or "pass"/);
    expect(() => restrictTag("admin", undefined as never)).toThrow(ConfigError);
    expect(() => restrictTag("admin", { scopes: "admin" as never })).toThrow(
      /scopes must be an array/,
    );
  });
});

describe("allChecks", () => {
  it("passes only when every check returns true", async () => {
    expect(await run(allChecks(requireAuth(), () => true))).toBe(true);
    expect(await run(allChecks(requireAuth(), () => false))).toBe(false);
  });

  it("stops at the first failure", async () => {
    const later = vi.fn(() => true);
    expect(await run(allChecks(() => false, later))).toBe(false);
    expect(later).not.toHaveBeenCalled();
  });

  it("waits for async checks and treats a truthy non-true answer as a failure", async () => {
    const late: AuthCheck = () =>
      new Promise((resolve) =>
        setTimeout(() => {
          resolve(false);
        }, 20),
      );
    expect(await run(allChecks(() => true, late))).toBe(false);
    expect(await run(allChecks((() => 1) as unknown as AuthCheck))).toBe(false);
  });

  it("lets an AuthorizationError through", async () => {
    const refuse: AuthCheck = () => {
      throw new AuthorizationError("no way");
    };
    await expect(run(allChecks(() => true, refuse))).rejects.toThrow("no way");
  });

  it("is named after its parts and rejects an empty or bad list", () => {
    expect(allChecks(requireAuth(), requireScopes("a")).name).toBe(
      "allChecks(requireAuth,requireScopes(a))",
    );
    expect(() => allChecks()).toThrow(/allChecks: give at least one check/);
    expect(() => allChecks("x" as unknown as AuthCheck)).toThrow(/argument 1 is not a check/);
  });
});

describe("anyCheck", () => {
  const refuse =
    (message: string): AuthCheck =>
    () => {
      throw new AuthorizationError(message);
    };

  it("passes when one check returns true, and stops there", async () => {
    const later = vi.fn(() => true);
    expect(
      await run(
        anyCheck(
          () => false,
          () => true,
          later,
        ),
      ),
    ).toBe(true);
    expect(later).not.toHaveBeenCalled();
  });

  it("fails when no check returns exactly true", async () => {
    expect(await run(anyCheck(() => false, (() => "yes") as unknown as AuthCheck))).toBe(false);
  });

  it("treats an AuthorizationError as one failed alternative", async () => {
    expect(await run(anyCheck(refuse("first"), () => true))).toBe(true);
  });

  it("rethrows the first AuthorizationError when no alternative passes", async () => {
    await expect(run(anyCheck(refuse("first"), () => false, refuse("second")))).rejects.toThrow(
      "first",
    );
  });

  it("fails closed on an unexpected exception even if a later check would pass", async () => {
    const broken: AuthCheck = () => {
      throw new TypeError("boom");
    };
    await expect(run(anyCheck(broken, () => true))).rejects.toThrow(TypeError);
  });

  it("composes with allChecks", async () => {
    const check = anyCheck(requireRoles("admin"), allChecks(requireAuth(), requireScopes("a")));
    expect(await run(check, callTool("t", user("x", { scopes: ["a"] })))).toBe(true);
    expect(await run(check, callTool("t", user("y", { roles: ["admin"] })))).toBe(true);
    expect(await run(check, callTool("t", user("z")))).toBe(false);
  });
});

describe("matchesUriTemplate", () => {
  it("matches equal strings", () => {
    expect(matchesUriTemplate("notes://all", "notes://all")).toBe(true);
    expect(matchesUriTemplate("notes://all", "notes://al")).toBe(false);
  });

  it("matches a simple variable to one path segment", () => {
    expect(matchesUriTemplate("notes://note/{id}", "notes://note/42")).toBe(true);
    expect(matchesUriTemplate("notes://note/{id}", "notes://note/")).toBe(false);
    expect(matchesUriTemplate("notes://note/{id}", "notes://note/42/raw")).toBe(false);
    expect(matchesUriTemplate("notes://note/{id}", "other://note/42")).toBe(false);
    expect(matchesUriTemplate("users://{user}/notes/{id}", "users://ann/notes/7")).toBe(true);
  });

  it("treats regular expression characters in the template literally", () => {
    expect(matchesUriTemplate("a.b://x/{id}", "a.b://x/1")).toBe(true);
    expect(matchesUriTemplate("a.b://x/{id}", "aXb://x/1")).toBe(false);
  });

  it("matches reserved, fragment, label, path and query expressions", () => {
    expect(matchesUriTemplate("file:///{+path}", "file:///etc/hosts")).toBe(true);
    expect(matchesUriTemplate("doc://x{#frag}", "doc://x#intro")).toBe(true);
    expect(matchesUriTemplate("doc://x/file{.ext}", "doc://x/file.md")).toBe(true);
    expect(matchesUriTemplate("doc://x{/seg}", "doc://x/one")).toBe(true);
    expect(matchesUriTemplate("search://q{?term,page}", "search://q?term=a&page=2")).toBe(true);
    expect(matchesUriTemplate("search://q{?term}", "search://q")).toBe(true);
  });

  it("rejects a malformed template", () => {
    expect(() => matchesUriTemplate("notes://{id", "notes://1")).toThrow(/unclosed "\{"/);
    expect(() => matchesUriTemplate("notes://id}", "notes://1")).toThrow(/unbalanced "\}"/);
    expect(() => matchesUriTemplate("notes://{}", "notes://1")).toThrow(/invalid expression/);
  });
});
