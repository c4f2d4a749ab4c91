/**
 * A real Squid for tests: its own configuration, log and pid files in a
 * temporary directory, on a given loopback port, optionally inside a network
 * namespace.
 *
 * @module
 */

import { waitFor } from "./_env.ts";

/** Options of {@linkcode startSquid}. */
export interface SquidOptions {
  /** Listen port on 127.0.0.1. */
  port: number;
  /** Run inside this network namespace. */
  netns?: string;
  /** Lines for Squid's hosts_file (`ADDR NAME`). */
  hosts?: string[];
  /** Extra configuration lines (ACLs) placed before `http_access allow all`. */
  extra?: string[];
}

/** A running Squid. */
export interface Squid extends AsyncDisposable {
  /** Its port on 127.0.0.1. */
  port: number;
  /** The access log's lines so far. */
  accessLog(): string[];
  /** Stop it. */
  stop(): Promise<void>;
}

/**
 * Start Squid in the foreground and wait until it accepts connections.
 *
 * @param options Port, namespace, hosts.
 * @returns The running Squid.
 */
export async function startSquid(options: SquidOptions): Promise<Squid> {
  const dir = await Deno.makeTempDir({ prefix: "shifter-squid-" });
  await Deno.chmod(dir, 0o777);
  const hosts = `${dir}/hosts`;
  await Deno.writeTextFile(hosts, (options.hosts ?? []).join("\n") + "\n");
  const conf = `${dir}/squid.conf`;
  await Deno.writeTextFile(
    conf,
    [
      `http_port 127.0.0.1:${options.port}`,
      ...(options.extra ?? []),
      "http_access allow all",
      "cache deny all",
      // Squid's default line, plus the X-Injected request header (header
      // injection tests): "-" when absent.
      "logformat shifter %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt xi=%{X-Injected}>h",
      `access_log stdio:${dir}/access.log shifter`,
      `cache_log ${dir}/cache.log`,
      `pid_filename ${dir}/squid.pid`,
      `hosts_file ${hosts}`,
      `coredump_dir ${dir}`,
      "dns_nameservers 127.0.0.1",
      "shutdown_lifetime 0 seconds",
      "cache_effective_user proxy",
      "logfile_rotate 0",
      "",
    ].join("\n"),
  );
  const cmd = options.netns
    ? ["ip", "netns", "exec", options.netns, "squid", "-N", "-f", conf]
    : ["squid", "-N", "-f", conf];
  const child = new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const accepts = async () => {
    if (options.netns) {
      const out = await new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          options.netns,
          "ss",
          "-Hltn",
          `sport = :${options.port}`,
        ],
      }).output();
      return new TextDecoder().decode(out.stdout).includes(`:${options.port}`);
    }
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port: options.port }))
        .close();
      return true;
    } catch {
      return false;
    }
  };
  try {
    await waitFor(accepts, `Squid on port ${options.port}`, 20_000);
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    let log = "";
    try {
      log = await Deno.readTextFile(`${dir}/cache.log`);
    } catch { /* none */ }
    throw new Error(`Squid did not start: ${log.slice(-2000)}`, {
      cause: error,
    });
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    child.kill("SIGKILL");
    await child.status;
    // Its helper processes (log daemon) go with the parent group; make sure.
    await new Deno.Command("pkill", { args: ["-KILL", "-f", conf] }).output();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    port: options.port,
    accessLog() {
      try {
        return Deno.readTextFileSync(`${dir}/access.log`).split("\n").filter((
          l,
        ) => l);
      } catch {
        return [];
      }
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
