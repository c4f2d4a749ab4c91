/**
 * `deno task compile` builds one executable with the daemon's command line.
 */

import assert from "node:assert/strict";
import { ROOT } from "./_env.ts";

Deno.test("deno task compile builds dist/shifter with the same command line", async () => {
  // Over a file deno compile did not write (an earlier self-extracting
  // build): it must not refuse, nor fall back because of it.
  await Deno.mkdir(`${ROOT}dist`, { recursive: true });
  await Deno.writeTextFile(`${ROOT}dist/shifter`, "#!/bin/sh\necho stale\n", { mode: 0o755 });
  const build = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}scripts/compile.ts`],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(build.stdout) + new TextDecoder().decode(build.stderr);
  assert.ok(build.success, log);
  assert.doesNotMatch(log, /already exists|Stack backtrace/, log);
  // Either deno compile, or the fallback with the one line that says why.
  assert.match(
    log,
    /compile: dist\/shifter \(deno compile\)|compile: deno compile could not get its runtime \(.+\); building a self-extracting/,
    log,
  );
  const cache = await Deno.makeTempDir();
  try {
    const run = (...args: string[]) =>
      new Deno.Command(`${ROOT}dist/shifter`, {
        args,
        env: { SHIFTER_CACHE: cache },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const version = await run("--version");
    assert.equal(version.code, 0);
    assert.match(new TextDecoder().decode(version.stdout), /^\d+\.\d+\.\d+/);
    const bad = await run("--listen", "nowhere");
    assert.equal(bad.code, 2);
    assert.match(
      new TextDecoder().decode(bad.stderr),
      /^shifter: --listen "nowhere" is not HOST:PORT/,
    );
    const check = await run("--check", "--resolver", "sockopt");
    assert.equal(check.code, 0);
    assert.match(new TextDecoder().decode(check.stdout), /resolver: sockopt/);
    // As the service's user (root here, so that a user can be had): a
    // self-extracting build that root unpacked first (say, `--check` after
    // an upgrade) runs in the same cache, and a plugin it cannot read is
    // refused by `--check` with the reason, not accepted.
    if (Deno.uid() === 0) {
      await Deno.chmod(cache, 0o1777);
      const plugin = `${cache}/unreadable.ts`;
      await Deno.writeTextFile(plugin, "export default () => ({});\n", { mode: 0o600 });
      const asNobody = (...args: string[]) =>
        new Deno.Command("setpriv", {
          args: [
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            `${ROOT}dist/shifter`,
            ...args,
          ],
          env: { SHIFTER_CACHE: cache, HOME: "/nonexistent" },
          stdout: "piped",
          stderr: "piped",
        }).output();
      const version = await asNobody("--version");
      assert.equal(version.code, 0, new TextDecoder().decode(version.stderr));
      const unreadable = await asNobody("--check", "--resolver", plugin);
      assert.equal(unreadable.code, 2);
      assert.match(
        new TextDecoder().decode(unreadable.stderr),
        /^shifter: --resolver ".*unreadable\.ts" cannot be read: Permission denied/,
      );
    }
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
