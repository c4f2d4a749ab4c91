/**
 * Loading a user's resolver module by path.
 *
 * A plugin is an ES module (TypeScript or JavaScript) whose `default` export
 * or `createResolver` export is a {@linkcode ResolverFactory}. See
 * `examples/fixed_resolver.ts`.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { canonicalAddress, withoutZone } from "./address.ts";
import {
  type AcceptedConnection,
  type Destination,
  isPendingAnswer,
  ResolveError,
  type Resolver,
  type ResolverFactory,
  type ResolverOptions,
} from "./resolver.ts";

/**
 * How long a plugin may take to load and create its resolver before startup
 * gives up on it, in ms: a module or factory that never settles would
 * otherwise hold the daemon at startup, saying nothing.
 */
export const PLUGIN_START_TIMEOUT_MS = 30_000;

/**
 * Import a plugin module and create its resolver.
 *
 * @param path File path of the module, absolute or relative to the working
 * directory.
 * @param options Handed to the plugin's factory.
 * @param startTimeoutMs Time allowed for the import and the factory together.
 * @returns The plugin's resolver, whose answers are checked: an IP
 * address without a zone (rewritten in its canonical form) and a port
 * 1-65535, or a {@linkcode ResolveError} saying what the plugin answered.
 * @throws {Error} Saying which file and why, when the module cannot be
 * imported, exports no factory, the factory returns no valid resolver, or
 * either takes longer than `startTimeoutMs`.
 */
export async function loadResolverPlugin(
  path: string,
  options: ResolverOptions = {},
  startTimeoutMs: number = PLUGIN_START_TIMEOUT_MS,
): Promise<Resolver> {
  const file = isAbsolute(path) ? path : resolve(Deno.cwd(), path);
  const url = pathToFileURL(file).href;
  const what = `resolver plugin "${file}"`;
  const late = Promise.withResolvers<never>();
  late.promise.catch(() => {});
  let stage = "its module did not finish loading";
  const timer = setTimeout(
    () =>
      late.reject(new StartTimeout(`Cannot load ${what}: ${stage} within ${startTimeoutMs} ms`)),
    startTimeoutMs,
  );
  try {
    let mod: Record<string, unknown>;
    try {
      mod = await Promise.race([import(url), late.promise]);
    } catch (error) {
      if (error instanceof StartTimeout) throw error;
      throw new Error(`Cannot load ${what}: ${importFailure(error, url)}`, { cause: error });
    }
    const factory = typeof mod.default === "function" ? mod.default : mod.createResolver;
    if (typeof factory !== "function") {
      throw new Error(
        `Cannot load ${what}: it exports no factory (export default function, or export function createResolver)`,
      );
    }
    stage = "its factory did not return a resolver";
    let resolver: unknown;
    try {
      resolver = await Promise.race([(factory as ResolverFactory)(options), late.promise]);
    } catch (error) {
      if (error instanceof StartTimeout) throw error;
      throw new Error(
        `Cannot start ${what}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    if (!isResolver(resolver)) {
      throw new Error(
        `Cannot load ${what}: its factory returned no resolver (need a string "name" and a "resolve" function)`,
      );
    }
    return checked(resolver, what);
  } finally {
    clearTimeout(timer);
  }
}

/** The plugin took longer than the time allowed to start. */
class StartTimeout extends Error {}

/**
 * Why `import()` failed, in a line. "no such file" only when the plugin's
 * own file is missing: a missing module it imports is named instead.
 */
function importFailure(error: unknown, url: string): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (!(error instanceof Error)) return String(error);
  const line = error.message.split("\n")[0]!;
  if (/Module not found/.test(line) && line.includes(`"${url}"`)) return "no such file";
  return line;
}

/**
 * The plugin's resolver, with every answer checked and made canonical: the
 * loop guard compares addresses as text, and `0:0:0:0:0:0:0:1` must not pass
 * where `::1` is refused.
 */
function checked(resolver: Resolver, what: string): Resolver {
  const check = (answer: unknown): Destination => {
    const d = answer as Partial<Destination> | null | undefined;
    // Each field is read once: a getter must not pass one check and then
    // answer something else.
    const raw: unknown = d?.hostname;
    const bare = typeof raw === "string" ? withoutZone(raw) : undefined;
    if (bare !== undefined && bare !== raw && canonicalAddress(bare) !== undefined) {
      // fe80::1%eth0: the zone names one of this host's interfaces, which
      // a CONNECT cannot carry; without it the proxy may reach another host.
      throw new ResolveError(
        `The ${what} answered ${
          describe(answer)
        }: an address scoped to an interface (a zone) cannot go through a proxy`,
        "EIO",
      );
    }
    const hostname = bare !== undefined && bare === raw ? canonicalAddress(bare) : undefined;
    const port = d?.port;
    if (
      hostname === undefined || typeof port !== "number" || !Number.isInteger(port) || port < 1 ||
      port > 65535
    ) {
      throw new ResolveError(
        `The ${what} answered ${describe(answer)}: not an IP address and a port 1-65535`,
        "EIO",
      );
    }
    return { hostname, port, family: hostname.includes(":") ? "ipv6" : "ipv4" };
  };
  return {
    name: resolver.name,
    resolve(accepted: AcceptedConnection): Destination | Promise<Destination> {
      const found = resolver.resolve(accepted);
      return isPendingAnswer(found) ? Promise.resolve(found).then(check) : check(found);
    },
    close: () => resolver.close?.(),
  };
}

function describe(value: unknown): string {
  try {
    return (JSON.stringify(value) ?? String(value)).slice(0, 100);
  } catch {
    return String(value).slice(0, 100);
  }
}

function isResolver(value: unknown): value is Resolver {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  return typeof r.name === "string" && r.name !== "" &&
    typeof r.resolve === "function" &&
    (r.close === undefined || typeof r.close === "function");
}
