/**
 * The benchmark's network namespace: loopback only, one address per path and
 * the REDIRECT rule that sends the client's traffic to the redirector under
 * test.
 *
 * @module
 */

/** One path's REDIRECT rule: traffic to `dest:port` goes to `toPort`. */
export interface RedirectRule {
  /** Destination address the client dials. */
  dest: string;
  /** Destination port the client dials. */
  port: number;
  /** Local port of the redirector that receives it. */
  toPort: number;
}

/** Options for {@linkcode Netns.create}. */
export interface NetnsOptions {
  /** Extra addresses to put on `lo` (each /32). @default [] */
  addresses?: string[];
  /** Users whose connections are never redirected. @default ["proxy"] */
  exemptUsers?: string[];
}

/** Runs a command to completion; throws with its stderr if it fails. */
export async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `Cannot run "${cmd} ${args.join(" ")}": exit ${out.code}: ${dec.decode(out.stderr).trim()}`,
    );
  }
  return dec.decode(out.stdout);
}

/** A network namespace this process created; `close()` deletes it. */
export class Netns {
  #name: string;
  #closed = false;
  #exempt: string[] = [];

  private constructor(name: string) {
    this.#name = name;
  }

  /** The namespace name. */
  get name(): string {
    return this.#name;
  }

  /**
   * Creates the namespace (deleting a stale one of the same name first),
   * brings `lo` up and adds the addresses.
   *
   * @param name namespace name; must start with `shbench-`
   * @param options addresses and exempt users
   * @returns the namespace
   * @throws {RangeError} if the name lacks the `shbench-` prefix
   */
  static async create(
    name: string,
    options: NetnsOptions = {},
  ): Promise<Netns> {
    if (!name.startsWith("shbench-")) {
      throw new RangeError(`Namespace "${name}" must start with "shbench-"`);
    }
    await run("ip", ["netns", "del", name]).catch(() => {});
    await run("ip", ["netns", "add", name]);
    const ns = new Netns(name);
    try {
      await run("ip", ["-n", name, "link", "set", "lo", "up"]);
      for (const addr of options.addresses ?? []) {
        await run("ip", ["-n", name, "addr", "add", `${addr}/32`, "dev", "lo"]);
      }
      // Many short connections in every round: widen the ephemeral range,
      // but keep it above the redirectors' listening ports (20000-29999).
      await ns.exec("sysctl", [
        "-q",
        "-w",
        "net.ipv4.ip_local_port_range=30000 65535",
      ]);
      await ns.exec("sysctl", ["-q", "-w", "net.ipv4.tcp_tw_reuse=1"]);
      ns.#exempt = options.exemptUsers ?? ["proxy"];
    } catch (err) {
      await ns.close();
      throw err;
    }
    return ns;
  }

  /**
   * Makes `rule` the only REDIRECT rule. Each redirector start gets a port of
   * its own: the previous one's accepted sockets linger in TIME_WAIT on its
   * port, and redsocks then cannot bind it again.
   *
   * @param rule where traffic to `dest:port` goes
   */
  async redirect(rule: RedirectRule): Promise<void> {
    await this.exec("iptables", ["-t", "nat", "-F", "OUTPUT"]);
    const args = [
      "-t",
      "nat",
      "-A",
      "OUTPUT",
      "-p",
      "tcp",
      "-d",
      rule.dest,
      "--dport",
      String(rule.port),
    ];
    // The upstream's own connections to the origin must not loop back.
    for (const user of this.#exempt) {
      args.push("-m", "owner", "!", "--uid-owner", user);
    }
    args.push("-j", "REDIRECT", "--to-ports", String(rule.toPort));
    await this.exec("iptables", args);
  }

  /** Runs a command inside the namespace to completion. */
  exec(cmd: string, args: string[]): Promise<string> {
    return run("ip", ["netns", "exec", this.#name, cmd, ...args]);
  }

  /**
   * The argv that runs `cmd` inside the namespace with the soft open-file
   * limit raised to the hard one. `ip netns exec` and `sh` both exec, so the
   * spawned PID is the command's own.
   */
  argv(cmd: string, args: string[], log?: string): string[] {
    const redirect = log ? ' >>"$SHBENCH_LOG" 2>&1' : "";
    return [
      "netns",
      "exec",
      this.#name,
      "sh",
      "-c",
      // 2000 idle tunnels take ~12000 descriptors in the fast upstream.
      `ulimit -Hn 65536 2>/dev/null; ulimit -Sn "$(ulimit -Hn)"; exec "$@"${redirect}`,
      "sh",
      cmd,
      ...args,
    ];
  }

  /** Deletes the namespace; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await run("ip", ["netns", "del", this.#name]).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
