/**
 * The flags `deno task start` gives `deno run` (permissions and
 * `--v8-flags`), read from `deno.json`, so that the compiled executable, the
 * benchmark and the tests run Shifter exactly as the task does: one place
 * to change them.
 *
 * @module
 */

/**
 * The start task's `deno run` flags, in order.
 *
 * @returns The flags between `run` and `mod.ts`.
 * @throws {Error} When the task has no permission flags (it was rewritten).
 */
export function startTaskFlags(): string[] {
  const url = new URL("../deno.json", import.meta.url);
  const task = String(JSON.parse(Deno.readTextFileSync(url)).tasks.start);
  const words = task.split(/\s+/);
  const flags = words.slice(words.indexOf("run") + 1, words.indexOf("mod.ts"));
  if (!flags.some((f) => f.startsWith("--allow-"))) {
    throw new Error(`deno.json's start task has no permissions: ${task}`);
  }
  return flags;
}

/**
 * Only the start task's `--v8-flags=...` (the V8 heap settings change the
 * daemon's memory per tunnel).
 *
 * @returns Zero or one flag.
 */
export function startTaskV8Flags(): string[] {
  return startTaskFlags().filter((f) => f.startsWith("--v8-flags="));
}
