/**
 * Test helper: runs `_promotion_probe.ts` in a process of its own, with the
 * start task's V8 flags (as deployed; they include `--expose-gc`, which the
 * probe needs), and returns what it measured.
 *
 * @module
 */

import { startTaskV8Flags } from "../scripts/start_flags.ts";

/**
 * Bytes per object promoted to the old generation by a probe.
 *
 * @param probe `"tunnel"`, `"roster"` or `"conn-log"`.
 * @param count How many objects it churns.
 * @returns The bytes promoted per object (about 0 when nothing is).
 */
export async function promotedPer(probe: string, count: number): Promise<number> {
  const script = new URL("./_promotion_probe.ts", import.meta.url).pathname;
  const v8 = startTaskV8Flags()[0]?.slice("--v8-flags=".length).split(",") ?? [];
  if (!v8.includes("--expose-gc")) v8.push("--expose-gc");
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--v8-flags=${v8.join(",")}`, script, probe, String(count)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (code !== 0) throw new Error(`the ${probe} probe failed: ${dec.decode(stderr)}`);
  const result = JSON.parse(dec.decode(stdout));
  if (result.probe !== probe || result.count !== count) {
    throw new Error(`the ${probe} probe printed ${dec.decode(stdout)}`);
  }
  return result.promotedPer;
}
