/**
 * A resolver that asks a second one when the first has no entry: how `auto`
 * pairs netlink with sockopt. The kernel module records only the ports it
 * was loaded with (`ports=`, default 80 and 443), and nothing while it is
 * unloaded; conntrack knows every redirected connection. A miss (`ENOENT`)
 * falls through, and so does an I/O failure (`EIO`: a netlink timeout or a
 * garbled reply; the start of a run of them logged at most once a minute,
 * and its end only then), since the second resolver
 * may still know; any other failure of the first resolver (a refusal such
 * as `EPERM`, a plugin's own error) is reported as it is.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import {
  type AcceptedConnection,
  type Destination,
  isPendingAnswer,
  ResolveError,
  type Resolver,
} from "./resolver.ts";

const log = getLogger(["shifter", "resolver"]);

function isMiss(error: unknown): boolean {
  return error instanceof ResolveError && error.code === "ENOENT";
}

function isIoFailure(error: unknown): error is ResolveError {
  return error instanceof ResolveError && error.code === "EIO";
}

/**
 * Ask `first`; on a miss (`ENOENT`) or an I/O failure (`EIO`), ask `second`.
 *
 * @param first The preferred resolver.
 * @param second Asked for the connections `first` has no entry for, or cannot answer.
 * @param options The clock, for tests.
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
export function withFallback(
  first: Resolver,
  second: Resolver,
  options: { now?: () => number } = {},
): Resolver {
  const now = options.now ?? performance.now.bind(performance);
  // Whether the first resolver's last answer was an I/O failure. The first
  // of a run is logged, and the run's end, but a run at most once a minute:
  // failures that come and go must not log a pair of lines a connection.
  let failing = false;
  let logged = false; // this run was
  let loggedAt = -Infinity;
  const recovered = () => {
    if (failing) {
      failing = false;
      if (logged) log.info("Resolver {first} answers again", { first: first.name });
    }
  };
  const askSecond = (accepted: AcceptedConnection, error: unknown) => {
    if (!isIoFailure(error)) recovered(); // a miss is an answer too
    else if (!failing) {
      failing = true;
      logged = now() - loggedAt >= 60_000;
      if (logged) {
        loggedAt = now();
        log.warning(
          "Resolver {first} failed ({error}); asking {second} until it answers again",
          { first: first.name, second: second.name, error: error.message },
        );
      }
    }
    return second.resolve(accepted);
  };
  const answered = (found: Destination) => {
    recovered();
    return found;
  };
  return {
    name: `${first.name}+${second.name}`,
    resolve(accepted: AcceptedConnection): Destination | Promise<Destination> {
      let found: Destination | Promise<Destination>;
      try {
        found = first.resolve(accepted);
      } catch (error) {
        if (isMiss(error) || isIoFailure(error)) return askSecond(accepted, error);
        throw error;
      }
      if (isPendingAnswer(found)) {
        return Promise.resolve(found).then(answered, (error) => {
          if (isMiss(error) || isIoFailure(error)) return askSecond(accepted, error);
          throw error;
        });
      }
      return failing ? answered(found) : found;
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
