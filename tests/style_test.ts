/**
 * The team's rules, checked where CI sees them: `deno fmt`, `deno lint`, and
 * documentation on every export of the module entry points.
 */

import assert from "node:assert/strict";
import { ROOT } from "./_env.ts";

const ENTRY_POINTS = ["mod.ts", "relay/mod.ts", "resolvers/mod.ts", "sniff/mod.ts", "sys/mod.ts"];

async function deno(...args: string[]): Promise<{ ok: boolean; text: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { ok: out.success, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test("style: deno fmt --check finds nothing to change", async () => {
  const r = await deno("fmt", "--check");
  assert.ok(r.ok, r.text);
});

Deno.test("style: deno lint is clean", async () => {
  const r = await deno("lint");
  assert.ok(r.ok, r.text);
});

Deno.test("style: every export of the entry points is documented (deno doc --lint)", async () => {
  const r = await deno("doc", "--lint", ...ENTRY_POINTS);
  assert.ok(r.ok, r.text);
});
