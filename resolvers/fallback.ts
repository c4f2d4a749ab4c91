/**
 * A resolver that asks a second one when the first has no entry: how `auto`
 * pairs netlink with sockopt. The kernel module records only the ports it
 * was loaded with (`ports=`, default 80 and 443), and nothing while it is
 * unloaded; conntrack knows every redirected connection. Only a miss
 * (`ENOENT`) falls through: any other failure of the first resolver is
 * reported as it is.
 *
 * @module
 */

import {
  type AcceptedConnection,
  type Destination,
  isPendingAnswer,
  ResolveError,
  type Resolver,
} from "./resolver.ts";

function isMiss(error: unknown): boolean {
  return error instanceof ResolveError && error.code === "ENOENT";
}

/**
 * Ask `first`; on a miss, ask `second`.
 *
 * @param first The preferred resolver.
 * @param second Asked for the connections `first` has no entry for.
 * @returns A resolver named `first+second` that closes both.
 *
 * @example
 * ```ts
 * import { withFallback } from "./fallback.ts";
 * import { createLocalResolver } from "./local.ts";
 * import { createSockoptResolver } from "./sockopt.ts";
 * const resolver = withFallback(createSockoptResolver(), createLocalResolver());
 * resolver.name; // "sockopt+local"
 * ```
 */
export function withFallback(first: Resolver, second: Resolver): Resolver {
  return {
    name: `${first.name}+${second.name}`,
    resolve(accepted: AcceptedConnection): Destination | Promise<Destination> {
      let found: Destination | Promise<Destination>;
      try {
        found = first.resolve(accepted);
      } catch (error) {
        if (isMiss(error)) return second.resolve(accepted);
        throw error;
      }
      if (isPendingAnswer(found)) {
        return Promise.resolve(found).catch((error) => {
          if (isMiss(error)) return second.resolve(accepted);
          throw error;
        });
      }
      return found;
    },
    async close(): Promise<void> {
      try {
        await first.close?.();
      } finally {
        await second.close?.();
      }
    },
  };
}
