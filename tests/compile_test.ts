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
    // The self-extracting build runs `deno run` inside, so it loads a plugin
    // from disk; a `deno compile` binary cannot (denoland/deno#18327, as the
    // README says), and is not asked to.
    const selfExtracting = (await Deno.readTextFile(`${ROOT}dist/shifter`).catch(() => ""))
      .startsWith("#!/bin/sh");
    if (selfExtracting) {
      const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = probe.addr.port;
      probe.close();
      const daemon = new Deno.Command(`${ROOT}dist/shifter`, {
        args: [
          "--listen",
          `127.0.0.1:${port}`,
          "--resolver",
          `${ROOT}examples/fixed_resolver.ts`,
        ],
        env: { SHIFTER_CACHE: cache, SHIFTER_FIXED_DEST: "192.0.2.10:443" },
        stdout: "null",
        stderr: "piped",
      }).spawn();
      let log = "";
      const reader = daemon.stderr.pipeThrough(new TextDecoderStream()).getReader();
      const guard = setTimeout(() => daemon.kill("SIGKILL"), 30_000);
      try {
        while (!log.includes("listening on")) {
          const { value, done } = await reader.read();
          if (done) break;
          log += value;
        }
        daemon.kill("SIGTERM");
        for (let r = await reader.read(); !r.done; r = await reader.read()) log += r.value;
      } finally {
        clearTimeout(guard);
        reader.releaseLock();
        await daemon.status;
      }
      assert.match(log, /listening on 127\.0\.0\.1:\d+, upstream [^,]+, resolver fixed/, log);
    }
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
