/**
 * The table of built-in resolvers and the one entry point that turns a
 * `--resolver` value into a working resolver. Like redsocks' table of
 * `{ name, getdestaddr }` entries.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { createLocalResolver } from "./local.ts";
import { withFallback } from "./fallback.ts";
import { loadResolverPlugin } from "./plugin.ts";
import type { Resolver, ResolverFactory, ResolverOptions } from "./resolver.ts";
import { createSockoptResolver } from "./sockopt.ts";

/** A built-in resolver. */
export interface BuiltinResolver {
  /** The `--resolver` value that selects it. */
  name: string;
  /** One line for `--help`. */
  summary: string;
  /** Creates it; throws with a clear reason when it cannot work here. */
  create: ResolverFactory;
}

/** The built-in resolvers, in the order `auto` prefers them. */
export const BUILTIN_RESOLVERS: readonly BuiltinResolver[] = [
  {
    name: "netlink",
    summary: "the Shifter kernel module, over generic netlink (needs shifter.ko)",
    create: async (options) => (await import("./netlink.ts")).createNetlinkResolver(options),
  },
  {
    name: "sockopt",
    summary: "SO_ORIGINAL_DST from conntrack on the accepted socket",
    create: () => createSockoptResolver(),
  },
  {
    name: "local",
    summary:
      "the accepted socket's local address (connections that arrive with their destination unchanged; not TPROXY)",
    create: () => createLocalResolver(),
  },
];

/**
 * The `--resolver` value that picks netlink when the module answers (with
 * sockopt for the connections it has no entry for, or when a lookup fails),
 * else sockopt.
 */
export const AUTO = "auto";

const log = getLogger(["shifter", "resolver"]);

function isPath(spec: string): boolean {
  return spec.includes("/") || /\.(ts|js|mjs|mts)$/.test(spec);
}

/**
 * Open the resolver a `--resolver` value names: `auto`, a built-in name, or
 * a path to a plugin module.
 *
 * @param spec The `--resolver` value.
 * @param options Handed to the resolver's factory.
 * @returns The resolver, ready to use.
 * @throws {TypeError} For an unknown name.
 * @throws {Error} When the chosen resolver cannot work here (the reason says
 * why and what to do).
 */
export async function openResolver(
  spec: string,
  options: ResolverOptions = {},
): Promise<Resolver> {
  if (spec === AUTO) {
    const [netlink, sockopt] = BUILTIN_RESOLVERS;
    let primary: Resolver;
    try {
      primary = await netlink!.create(options);
    } catch (error) {
      log.info(
        "Resolver auto: using sockopt, because netlink is not available: {reason}",
        { reason: error instanceof Error ? error.message : String(error) },
      );
      return await sockopt!.create(options);
    }
    log.info(
      "Resolver auto: using netlink (the Shifter kernel module answers), and sockopt for connections it has no entry for (ports outside its ports= list) or when a lookup fails",
    );
    try {
      return withFallback(primary, await sockopt!.create(options));
    } catch (error) {
      await primary.close?.();
      throw error;
    }
  }
  const builtin = BUILTIN_RESOLVERS.find((r) => r.name === spec);
  if (builtin !== undefined) return await builtin.create(options);
  if (isPath(spec)) return await loadResolverPlugin(spec, options);
  throw unknown(spec);
}

function unknown(spec: string): TypeError {
  return new TypeError(
    `Unknown resolver "${spec}": use ${AUTO}, ${
      BUILTIN_RESOLVERS.map((r) => r.name).join(", ")
    }, or a path to a plugin module`,
  );
}

/**
 * Check a `--resolver` value without loading anything: `auto`, a built-in
 * name, or the path of an existing file this process can read (whether it
 * loads is known only when it is loaded).
 *
 * @param spec The `--resolver` value.
 * @throws {TypeError} With a one-line reason.
 */
export function checkResolverSpec(spec: string): void {
  if (spec === AUTO || BUILTIN_RESOLVERS.some((r) => r.name === spec)) return;
  if (!isPath(spec)) throw unknown(spec);
  let isFile = false;
  try {
    isFile = Deno.statSync(spec).isFile;
  } catch {
    // Missing, or not readable: not a module Shifter can load.
  }
  if (!isFile) throw new TypeError(`--resolver "${spec}" is not a file (a plugin module path)`);
  try {
    Deno.openSync(spec).close();
  } catch (error) {
    throw new TypeError(
      `--resolver "${spec}" cannot be read: ${error instanceof Error ? error.message : error}`,
    );
  }
}
