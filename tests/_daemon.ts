/**
 * The daemon as a child process, with a loopback echo origin, for tests
 * about the process itself (descriptor limits, memory).
 *
 * @module
 */

import { startTaskV8Flags } from "../scripts/start_flags.ts";
import { ROOT, waitFor } from "./_env.ts";
import { startSquid } from "./_squid.ts";

/** An echo server on loopback, closed (with its connections) on dispose. */
export function echoOrigin() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const loop = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const buf = new Uint8Array(1024);
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            await conn.write(buf.subarray(0, n));
          }
        } catch { /* closed */ }
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })();
  return {
    port: listener.addr.port,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await loop;
    },
  };
}

/** A loopback port nobody listens on right now. */
export function freePort(): number {
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return l.addr.port;
}

/**
 * The `--v8-flags=...` of `deno task start`, for tests about what the
 * deployed daemon does with its memory.
 */
export const START_V8_FLAGS: string[] = startTaskV8Flags();

/** Options of {@linkcode spawnShifter}. */
export interface SpawnOptions {
  /** Flags for `deno run` (before `mod.ts`). */
  denoFlags?: string[];
  /** A descriptor limit (through `prlimit`). */
  nofile?: number;
}

/**
 * Run the daemon as a child process on `127.0.0.1:port`, upstream a CONNECT
 * proxy on loopback, every connection's destination `127.0.0.1:origin`
 * (the fixed resolver). Its stderr is collected; dispose sends SIGTERM.
 */
export function spawnShifter(
  port: number,
  upstream: number,
  origin: number,
  extra: string[],
  options: SpawnOptions = {},
) {
  const { nofile, denoFlags = [] } = options;
  const args = [
    Deno.execPath(),
    "run",
    "-A",
    ...denoFlags,
    `${ROOT}mod.ts`,
    "--listen",
    `127.0.0.1:${port}`,
    "--upstream",
    `http://127.0.0.1:${upstream}`,
    "--resolver",
    `${ROOT}examples/fixed_resolver.ts`,
    "--log-level",
    "warning",
    ...extra,
  ];
  const cmd = nofile === undefined ? args : ["prlimit", `--nofile=${nofile}:${nofile}`, ...args];
  const child = new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    env: { SHIFTER_FIXED_DEST: `127.0.0.1:${origin}` },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) lines.push(chunk);
  })();
  return {
    child,
    text: () => lines.join(""),
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
      await reading;
    },
  };
}

/**
 * The daemon with what it talks to: an echo origin, a real Squid as its
 * upstream and a free port. Resolves once the daemon accepts connections;
 * dispose stops it, then Squid and the origin.
 *
 * @param extra Daemon flags after the defaults of {@linkcode spawnShifter}.
 * @param options Deno flags, descriptor limit.
 */
export async function startShifterRig(extra: string[], options: SpawnOptions = {}) {
  const origin = echoOrigin();
  // Room for a thousand tunnels (two descriptors each) on Squid's side too.
  const proxy = await startSquid({ port: freePort(), extra: ["max_filedescriptors 16384"] });
  const port = freePort();
  const shifter = spawnShifter(port, proxy.port, origin.port, extra, options);
  const dispose = async () => {
    await shifter[Symbol.asyncDispose]();
    await proxy[Symbol.asyncDispose]();
    await origin[Symbol.asyncDispose]();
  };
  try {
    await waitFor(
      async () => {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          return true;
        } catch {
          return false;
        }
      },
      "Shifter to listen",
      15_000,
    );
  } catch (error) {
    await dispose();
    throw error;
  }
  return { port, shifter, [Symbol.asyncDispose]: dispose };
}
