/**
 * The daemon hands memory back after a burst: a thousand tunnels grow its
 * resident set by megabytes; once they close, the reclaim (compacting GC,
 * buffer pool drained, malloc trimmed) must give most of it back. Runs the
 * daemon with the `--v8-flags` of `deno task start`, as deployed.
 */

import assert from "node:assert/strict";
import { skipUnless, SQUID_REQUIREMENTS, waitFor } from "./_env.ts";
import { START_V8_FLAGS, startShifterRig } from "./_daemon.ts";

const TUNNELS = 1000;

function residentKib(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "daemon returns the memory of 1000 closed tunnels to within half their growth",
  ignore: skipUnless("memory test", SQUID_REQUIREMENTS),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using rig = await startShifterRig(["--log-level", "debug"], {
      denoFlags: START_V8_FLAGS,
    });
    const { port, shifter } = rig;
    await sleep(1500);
    const pid = shifter.child.pid;
    const base = residentKib(pid);
    const clients: Deno.TcpConn[] = [];
    const buf = new Uint8Array(8);
    try {
      for (let i = 0; i < TUNNELS; i++) {
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        clients.push(c);
        await c.write(new Uint8Array([i & 0xff]));
        assert.equal(await c.read(buf), 1, `tunnel ${i} echoes`);
      }
      await sleep(1000);
    } catch (e) {
      for (const c of clients) c.close();
      throw e;
    }
    const loaded = residentKib(pid);
    // Only a release logged after the tunnels began to close counts.
    const seen = shifter.text().length;
    const released = () => shifter.text().slice(seen);
    // Half first, so that a sample (one a second) falls between the halves,
    // as one did by chance in the CI run at 3aa0269: what the other half
    // held must still be given back once they close.
    for (const c of clients.splice(0, TUNNELS / 2)) c.close();
    // Not a fixed wait: on a loaded machine the first half's closes may take
    // longer than the sampling interval to reach the daemon.
    await waitFor(
      () => /Memory reclaimed.*\([1-9]\d* connections open/.test(released()),
      "a release while half the tunnels are still open",
      10_000,
    ).catch((e) => {
      for (const c of clients) c.close();
      throw e;
    });
    for (const c of clients) c.close();
    const growth = loaded - base;
    // The reclaimer's own thresholds (4 MiB and 10%), or no release is due.
    assert.ok(
      growth > Math.max(4096, base / 10),
      `${TUNNELS} tunnels grew the daemon by ${growth} KiB from ${base} KiB (> 4 MiB and 10%)`,
    );
    // A release while half were still open, then one once all are closed.
    const releases = () => released().split("\n").filter((l) => /Memory reclaimed/.test(l));
    await waitFor(
      () => /\(0 connections open/.test(released()),
      "a release once the tunnels are all closed",
      15_000,
    ).catch((e) => {
      throw new Error(`${e.message}; releases logged:\n${releases().join("\n")}`);
    });
    const after = residentKib(pid);
    assert.ok(
      after - base < growth / 2,
      `resident ${base} KiB fresh, ${loaded} KiB with ${TUNNELS} tunnels, ${after} KiB after the reclaim`,
    );
    assert.match(
      releases()[0] ?? "",
      /Memory reclaimed: resident [\d.]+ -> [\d.]+ MiB in \d+ ms \([1-9]\d* connections open/,
    );
  },
});
