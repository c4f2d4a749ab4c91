/**
 * Runs bench/loadgen.c in the benchmark namespace and parses its JSON line.
 *
 * @module
 */

import type { Netns } from "./_netns.ts";

/** Where the load generator sends its traffic. */
export interface Target {
  /** Origin address and port the client dials, `a.b.c.d:port`. */
  dest: string;
  /** CONNECT proxy the client speaks to itself (the direct path). */
  proxy?: string;
}

function argv(bin: string, target: Target, mode: string, args: number[]) {
  const pre = target.proxy ? ["-p", target.proxy] : [];
  return [bin, ...pre, mode, target.dest, ...args.map(String)];
}

/**
 * Runs one load generator mode to completion.
 *
 * @param ns namespace to run in
 * @param bin path of the loadgen binary
 * @param target where to send the traffic
 * @param mode `up`, `down`, `conns` or `rtt`
 * @param args the mode's numeric arguments
 * @returns the parsed JSON result
 * @throws {Error} if the load generator fails
 */
export async function loadgen(
  ns: Netns,
  bin: string,
  target: Target,
  mode: string,
  args: number[],
): Promise<Record<string, number>> {
  const [prog, ...rest] = argv(bin, target, mode, args);
  const out = await new Deno.Command("ip", {
    args: ns.argv(prog!, rest),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `Cannot run loadgen ${mode} to ${target.dest}: ${dec.decode(out.stderr).trim()}`,
    );
  }
  return JSON.parse(dec.decode(out.stdout));
}

/** Idle tunnels held open by a load generator until `close()`. */
export class IdleTunnels {
  #child: Deno.ChildProcess;
  #closed = false;
  /** The load generator's report: `tunnels`, `failed`, `secs`. */
  readonly result: Record<string, number>;

  private constructor(
    child: Deno.ChildProcess,
    result: Record<string, number>,
  ) {
    this.#child = child;
    this.result = result;
  }

  /**
   * Opens `count` echo tunnels, each proven end to end by one round trip.
   *
   * @param ns namespace to run in
   * @param bin path of the loadgen binary
   * @param target where to send the traffic
   * @param count number of tunnels
   * @returns the open tunnels
   * @throws {Error} if the load generator exits before reporting
   */
  static async open(
    ns: Netns,
    bin: string,
    target: Target,
    count: number,
  ): Promise<IdleTunnels> {
    const [prog, ...rest] = argv(bin, target, "idle", [count]);
    const child = new Deno.Command("ip", {
      args: ns.argv(prog!, rest),
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    reader.releaseLock();
    const line = text.split("\n")[0] ?? "";
    let result: Record<string, number>;
    try {
      result = JSON.parse(line);
    } catch (err) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error(`Cannot open idle tunnels to ${target.dest}`, {
        cause: err,
      });
    }
    return new IdleTunnels(child, result);
  }

  /** Closes every tunnel and waits for the load generator; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const w = this.#child.stdin.getWriter();
    await w.write(new TextEncoder().encode("\n")).catch(() => {});
    await w.close().catch(() => {});
    await this.#child.stdout.cancel().catch(() => {});
    await this.#child.status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
