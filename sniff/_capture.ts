/**
 * Test support: capture the first bytes a real client sends, by pointing it
 * at a loopback listener. Not part of the public API.
 *
 * @module
 */

/** Options for {@linkcode captureFirstBytes}. */
export interface CaptureOptions {
  /** Stop once this returns true for the bytes so far. */
  complete: (bytes: Uint8Array) => boolean;
  /** Give up after this long, in milliseconds. @default {10000} */
  timeoutMs?: number;
}

/**
 * Listen on 127.0.0.1 port 0, start a client with `start(port)`, and record
 * what it sends on its first connection until `complete` says enough.
 *
 * @param start Starts the client; returns a function that stops it.
 * @param options When to stop.
 * @returns The bytes received.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { captureFirstBytes } from "./_capture.ts";
 *
 * const bytes = await captureFirstBytes(async (port) => {
 *   const conn = await Deno.connect({ hostname: "127.0.0.1", port });
 *   await conn.write(new Uint8Array([1, 2, 3]));
 *   return () => conn.close();
 * }, { complete: (b) => b.length >= 3 });
 * strictEqual(bytes.length, 3);
 * ```
 */
export async function captureFirstBytes(
  start: (port: number) => Promise<() => Promise<void> | void>,
  options: CaptureOptions,
): Promise<Uint8Array> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const stop = await start(listener.addr.port);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("Cannot capture: client sent too little in time")),
        options.timeoutMs ?? 10_000,
      );
    });
    return await Promise.race([receive(listener, options.complete), timeout]);
  } finally {
    clearTimeout(timer);
    await stop();
  }
}

async function receive(
  listener: Deno.Listener,
  complete: (bytes: Uint8Array) => boolean,
): Promise<Uint8Array> {
  using conn = await listener.accept();
  let bytes = new Uint8Array(0);
  const buffer = new Uint8Array(65536);
  while (!complete(bytes)) {
    const n = await conn.read(buffer);
    if (n === null) break;
    const next = new Uint8Array(bytes.length + n);
    next.set(bytes);
    next.set(buffer.subarray(0, n), bytes.length);
    bytes = next;
  }
  return bytes;
}

/**
 * Start a command with no stdin and discarded output; the returned function
 * kills it (if still running) and waits for it.
 *
 * @param command Program name.
 * @param args Its arguments.
 * @returns A function that stops it.
 *
 * @example
 * ```ts
 * import { spawnQuiet } from "./_capture.ts";
 *
 * const stop = spawnQuiet("true", []);
 * await stop();
 * ```
 */
export function spawnQuiet(command: string, args: string[]): () => Promise<void> {
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
  };
}

/**
 * Whether a program is on PATH.
 *
 * @param command Program name.
 * @returns True when `command --version` runs.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { hasCommand } from "./_capture.ts";
 *
 * strictEqual(await hasCommand("no-such-program-here"), false);
 * ```
 */
export async function hasCommand(command: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(command, {
      args: ["version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.code >= 0;
  } catch {
    return false;
  }
}
