/**
 * Operator commands that talk to the Shifter kernel module over netlink:
 * `lookup`, `kernel-stats` and `kernel-dump`. The netlink client is loaded
 * only when one of them runs.
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
  const { lookupCommand } = await import("../resolvers/netlink.ts");
  return await lookupCommand(target);
}

/**
 * Print the kernel module's counters.
 *
 * @returns The exit code.
 */
export async function kernelStats(): Promise<number> {
  const { kernelStatsCommand } = await import("../resolvers/netlink.ts");
  return await kernelStatsCommand();
}

/**
 * Print the kernel module's table, one entry a line.
 *
 * @returns The exit code.
 */
export async function kernelDump(): Promise<number> {
  const { kernelDumpCommand } = await import("../resolvers/netlink.ts");
  return await kernelDumpCommand();
}
