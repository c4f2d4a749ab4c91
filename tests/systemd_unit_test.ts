/**
 * The README's systemd unit, as an operator copies it: systemd reads it
 * without a complaint, and its sandbox stays tight. (This checks what can be
 * checked without systemd running the service: there is no systemd as PID 1
 * in CI's containers.)
 */

import assert from "node:assert/strict";
import { hasProgram, readmeBlock, skipUnless } from "./_env.ts";

const ignore = skipUnless("systemd unit test", {
  "systemd-analyze (systemd)": hasProgram("systemd-analyze"),
});

async function analyze(...args: string[]): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command("systemd-analyze", { args, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test({
  name: "the README's systemd unit verifies, and its exposure stays under 4 (OK)",
  ignore,
  async fn() {
    const unit =
      (await readmeBlock("ini", "A systemd unit, `/etc/systemd/system/shifter.service`:"))
        .join("\n") + "\n";
    assert.match(unit, /^ExecStart=\/usr\/local\/bin\/shifter /m);
    const dir = await Deno.makeTempDir();
    try {
      // verify wants ExecStart's file to exist: any executable will do.
      const file = `${dir}/shifter.service`;
      await Deno.writeTextFile(file, unit.replace("/usr/local/bin/shifter", Deno.execPath()));
      const verify = await analyze("verify", file);
      assert.equal(verify.code, 0, verify.out);
      assert.equal(verify.out.trim(), "", "no complaint");
      const security = await analyze("security", "--offline=true", file);
      const level = Number(/Overall exposure level for .*: ([\d.]+)/.exec(security.out)?.[1]);
      assert.ok(level < 4, `exposure ${level}:\n${security.out}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
