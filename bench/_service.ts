/**
 * A long-running helper process (origin, upstream, redirector) started in the
 * benchmark namespace, with its CPU time and RSS read from `/proc`.
 *
 * @module
 */

import type { Netns } from "./_netns.ts";

/** Options for {@linkcode Service.start}. */
export interface ServiceOptions {
  /** File that receives the process's stdout and stderr. */
  log: string;
  /** Local TCP port it listens on; `start()` waits for it. */
  port: number;
  /** How long to wait for the port. @default 20000 */
  timeoutMs?: number;
  /** Extra environment variables. @default {} */
  env?: Record<string, string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Services started and not yet closed, for {@linkcode closeAllServices}. */
const live = new Set<Service>();
let stopping = false;

/** Stops every service still running and refuses new ones (on SIGINT). */
export async function closeAllServices(): Promise<void> {
  stopping = true;
  await Promise.all([...live].map((s) => s.close()));
}

/** A started process; `close()` stops it (SIGTERM, then SIGKILL). */
export class Service {
  #child: Deno.ChildProcess;
  #name: string;
  #closing: Promise<void> | undefined;
  #exited = false;

  private constructor(name: string, child: Deno.ChildProcess) {
    this.#name = name;
    this.#child = child;
    child.status.then(() => this.#exited = true);
    live.add(this);
  }

  /** Process id (the command's own: every wrapper execs). */
  get pid(): number {
    return this.#child.pid;
  }

  /** Short name used in errors and logs. */
  get name(): string {
    return this.#name;
  }

  /**
   * Starts `cmd` in the namespace and waits until it listens on `port`.
   *
   * @param ns namespace to run in
   * @param name short name for errors
   * @param cmd program and its arguments
   * @param options log file, port and timeout
   * @returns the running service
   * @throws {Error} if it exits or does not listen in time
   */
  static async start(
    ns: Netns,
    name: string,
    cmd: string[],
    options: ServiceOptions,
  ): Promise<Service> {
    const [prog, ...args] = cmd;
    if (prog === undefined) throw new TypeError("Empty command");
    if (stopping) throw new Error(`Cannot start ${name}: stopping`);
    const child = new Deno.Command("ip", {
      args: ns.argv(prog, args, options.log),
      env: { SHBENCH_LOG: options.log, ...options.env },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const svc = new Service(name, child);
    const deadline = Date.now() + (options.timeoutMs ?? 20000);
    while (!(await svc.#listening(options.port))) {
      if (svc.#exited || stopping || Date.now() > deadline) {
        await svc.close();
        throw new Error(
          `Cannot start ${name}: ${
            svc.#exited ? "it exited" : "no listener"
          } on port ${options.port} (log: ${options.log})`,
        );
      }
      await sleep(50);
    }
    return svc;
  }

  async #listening(port: number): Promise<boolean> {
    // /proc/PID/net is the namespace of PID, not of the reader.
    let text: string;
    try {
      text = await Deno.readTextFile(`/proc/${this.pid}/net/tcp`);
    } catch {
      return false;
    }
    const hex = port.toString(16).toUpperCase().padStart(4, "0");
    return text.split("\n").some((line) => {
      const f = line.trim().split(/\s+/);
      return f[1]?.endsWith(`:${hex}`) && f[3] === "0A";
    });
  }

  /** User plus system CPU time, in clock ticks. */
  async cpuTicks(): Promise<number> {
    const stat = await Deno.readTextFile(`/proc/${this.pid}/stat`);
    // Fields after "(comm)": state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  }

  /** Resident set size in KiB. */
  async rssKib(): Promise<number> {
    const status = await Deno.readTextFile(`/proc/${this.pid}/status`);
    const m = status.match(/^VmRSS:\s+(\d+) kB/m);
    if (!m?.[1]) throw new Error(`Cannot read VmRSS of ${this.#name}`);
    return Number(m[1]);
  }

  /** The executable name from `/proc/PID/comm`. */
  async comm(): Promise<string> {
    return (await Deno.readTextFile(`/proc/${this.pid}/comm`)).trim();
  }

  /** Stops the process; idempotent. */
  close(): Promise<void> {
    // Later callers wait for the same shutdown.
    this.#closing ??= this.#stop();
    return this.#closing;
  }

  async #stop(): Promise<void> {
    live.delete(this);
    if (!this.#exited) {
      try {
        this.#child.kill("SIGTERM");
      } catch { /* already gone */ }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = await Promise.race([
        this.#child.status.then(() => true),
        new Promise<boolean>((r) => timer = setTimeout(() => r(false), 3000)),
      ]);
      clearTimeout(timer);
      if (!killed) {
        try {
          this.#child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
    }
    await this.#child.status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
