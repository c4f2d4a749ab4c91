/**
 * The daemon hands memory back after a burst: a thousand tunnels grow its
 * resident set by megabytes; once they close, the reclaim (compacting GC,
 * buffer pool drained, malloc trimmed) must give most of it back. Runs the
 * daemon with the `--v8-flags` of `deno task start`, as deployed.
 */

import assert from "node:assert/strict";
import { waitFor } from "./_env.ts";
import { START_V8_FLAGS, startShifterRig } from "./_daemon.ts";

const TUNNELS = 1000;

function residentKib(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "daemon returns the memory of 1000 closed tunnels to within half their growth",
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
    } finally {
      for (const c of clients) c.close();
    }
    const loaded = residentKib(pid);
    const growth = loaded - base;
    assert.ok(growth > 4096, `${TUNNELS} tunnels grew the daemon by ${growth} KiB (> 4 MiB)`);
    // Only a release logged after the tunnels closed counts.
    const seen = shifter.text().length;
    const released = () => shifter.text().slice(seen);
    await waitFor(
      () => /Memory reclaimed/.test(released()),
      "the reclaim after the tunnels closed",
      10_000,
    );
    const after = residentKib(pid);
    assert.ok(
      after - base < growth / 2,
      `resident ${base} KiB fresh, ${loaded} KiB with ${TUNNELS} tunnels, ${after} KiB after the reclaim`,
    );
    // The log line says what it did.
    assert.match(released(), /Memory reclaimed: resident [\d.]+ -> [\d.]+ MiB in \d+ ms/);
  },
});
