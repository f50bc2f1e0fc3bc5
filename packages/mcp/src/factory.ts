import { ConfigError } from "@mcp-pdp/core";
import { type AuthorizeOptions, authorize, withEnvironment } from "./authorize.js";
import { TaskBindings } from "./tasks.js";

/** How {@link authorize} marks a server it patched (a global symbol, shared with it). */
const GUARDED = Symbol.for("mcp-pdp.authorized");

/**
 * Secures every server a per-request factory makes: SDK v2's `createMcpHandler(factory)`,
 * `serveStdio(factory)` and the framework adapters built on them construct a fresh `McpServer` or
 * `Server` for each request (or connection) and connect it to a transport of their own, so the
 * guard has to be put on each one. The options are read from the environment once, here, not per
 * request; each server gets its own `Authorizer` (so a call is decided on that server's own
 * registrations) sharing the PDP, the audit sink and the task bindings (a task created on one
 * request is fetched on another, by another server the factory made).
 *
 * A server the factory returns that was already authorized is passed on as it is (it is guarded);
 * anything that is not a server fails the request.
 */
export function authorizeFactory<Context, Product extends object>(
  factory: (context: Context) => Product | Promise<Product>,
  options: AuthorizeOptions,
): (context: Context) => Promise<Product> {
  // The environment is read now, so a bad variable fails at start-up rather than per request, and
  // the audit sink it names is one for all requests.
  const resolved: AuthorizeOptions = {
    ...withEnvironment(options),
    env: {},
    tasks: options.tasks ?? new TaskBindings(),
  };
  return async function authorizedFactory(context: Context): Promise<Product> {
    const product = await factory(context);
    if (!isAuthorized(product)) authorize(product, resolved);
    return product;
  };
}

function isAuthorized(product: object): boolean {
  const inner = (product as { server?: unknown }).server;
  const target = typeof inner === "object" && inner !== null ? inner : product;
  if (typeof (target as { connect?: unknown }).connect !== "function") {
    throw new ConfigError(
      "authorizeFactory(): the factory returned something that is not a server",
    );
  }
  return (target as { [GUARDED]?: true })[GUARDED] === true;
}
