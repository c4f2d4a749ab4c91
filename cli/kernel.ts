/**
 * Operator commands that talk to the Shifter kernel module: `lookup` and
 * `kernel-stats`. Wired to the netlink resolver's client.
 *
 * @module
 */

import type { HostPort } from "../resolvers/address.ts";

/**
 * Print where the client `target` was going, from the kernel module's table.
 *
 * @param target The client's address and port.
 * @returns The exit code: 0 found, 1 not found or module unavailable.
 */
export async function lookup(target: HostPort): Promise<number> {
  const { lookupCommand } = await import(
    "../resolvers/netlink.ts"
  ) as unknown as {
    lookupCommand?: (t: HostPort) => Promise<number>;
  };
  if (lookupCommand === undefined) {
    console.error("shifter: lookup is not available in this build");
    return 1;
  }
  return await lookupCommand(target);
}

/**
 * Print the kernel module's counters.
 *
 * @returns The exit code.
 */
export async function kernelStats(): Promise<number> {
  const { kernelStatsCommand } = await import(
    "../resolvers/netlink.ts"
  ) as unknown as {
    kernelStatsCommand?: () => Promise<number>;
  };
  if (kernelStatsCommand === undefined) {
    console.error("shifter: kernel-stats is not available in this build");
    return 1;
  }
  return await kernelStatsCommand();
}
