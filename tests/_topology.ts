/**
 * A small LAN in network namespaces for end-to-end tests:
 *
 *   client (10.77.1.2, fd77:1::2)
 *     └─ lan0 ── gateway (10.77.1.1 | 10.77.2.1, fd77:1::1 | fd77:2::1)
 *                  └─ wan0 ── origin (10.77.2.2, fd77:2::2)
 *
 * The gateway routes between the two and, like an office gateway running
 * Shifter, REDIRECTs the client's TCP to a local port. All addresses exist
 * only inside these namespaces.
 *
 * @module
 */

import { run } from "./_env.ts";

/** The namespaces and their addresses. */
export interface Topology extends AsyncDisposable {
  client: string;
  gateway: string;
  origin: string;
  /** The origin's addresses, as the client dials them. */
  origin4: string;
  origin6: string;
  /** The gateway's LAN addresses. */
  gateway4: string;
  gateway6: string;
  /** Run a command in a namespace and return its stdout (throws on failure). */
  exec(ns: string, ...cmd: string[]): Promise<string>;
  /** Spawn a long-running command in a namespace. */
  spawn(
    ns: string,
    cmd: string[],
    options?: Deno.CommandOptions,
  ): Deno.ChildProcess;
  /** Add the REDIRECT rules (IPv4 and IPv6) for the client's TCP to `port`. */
  redirect(port: number, extra?: string[]): Promise<void>;
  /** Remove everything. */
  destroy(): Promise<void>;
}

/**
 * Create the namespaces, links, addresses and routes.
 *
 * @param prefix Namespace name prefix, unique per test file.
 * @returns The topology.
 */
export async function createTopology(prefix: string): Promise<Topology> {
  const client = `${prefix}-c`,
    gateway = `${prefix}-gw`,
    origin = `${prefix}-o`;
  const exec = (ns: string, ...cmd: string[]) => run("ip", "netns", "exec", ns, ...cmd);
  const destroy = async () => {
    for (const ns of [client, gateway, origin]) {
      await new Deno.Command("ip", {
        args: ["netns", "del", ns],
        stderr: "null",
      }).output();
    }
  };
  await destroy();
  try {
    for (const ns of [client, gateway, origin]) {
      await run("ip", "netns", "add", ns);
      await exec(ns, "ip", "link", "set", "lo", "up");
    }
    await run(
      "ip",
      "link",
      "add",
      "c0",
      "netns",
      client,
      "type",
      "veth",
      "peer",
      "name",
      "lan0",
      "netns",
      gateway,
    );
    await run(
      "ip",
      "link",
      "add",
      "wan0",
      "netns",
      gateway,
      "type",
      "veth",
      "peer",
      "name",
      "o0",
      "netns",
      origin,
    );
    const addr = async (ns: string, dev: string, v4: string, v6: string) => {
      await exec(ns, "ip", "addr", "add", v4, "dev", dev);
      await exec(ns, "ip", "-6", "addr", "add", v6, "dev", dev, "nodad");
      await exec(ns, "ip", "link", "set", dev, "up");
    };
    await addr(client, "c0", "10.77.1.2/24", "fd77:1::2/64");
    await addr(gateway, "lan0", "10.77.1.1/24", "fd77:1::1/64");
    await addr(gateway, "wan0", "10.77.2.1/24", "fd77:2::1/64");
    await addr(origin, "o0", "10.77.2.2/24", "fd77:2::2/64");
    await exec(client, "ip", "route", "add", "default", "via", "10.77.1.1");
    await exec(
      client,
      "ip",
      "-6",
      "route",
      "add",
      "default",
      "via",
      "fd77:1::1",
    );
    await exec(origin, "ip", "route", "add", "default", "via", "10.77.2.1");
    await exec(
      origin,
      "ip",
      "-6",
      "route",
      "add",
      "default",
      "via",
      "fd77:2::1",
    );
    await exec(gateway, "sysctl", "-qw", "net.ipv4.ip_forward=1");
    await exec(gateway, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    client,
    gateway,
    origin,
    origin4: "10.77.2.2",
    origin6: "fd77:2::2",
    gateway4: "10.77.1.1",
    gateway6: "fd77:1::1",
    exec,
    spawn(ns, cmd, options = {}) {
      return new Deno.Command("ip", {
        stdin: "null",
        ...options,
        args: ["netns", "exec", ns, ...cmd],
      }).spawn();
    },
    async redirect(port, extra = []) {
      for (const tool of ["iptables", "ip6tables"]) {
        await exec(
          gateway,
          tool,
          "-t",
          "nat",
          "-A",
          "PREROUTING",
          "-i",
          "lan0",
          "-p",
          "tcp",
          ...extra,
          "-j",
          "REDIRECT",
          "--to-ports",
          String(port),
        );
      }
    },
    destroy,
    [Symbol.asyncDispose]: destroy,
  };
}
