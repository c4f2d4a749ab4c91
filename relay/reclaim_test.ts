import assert from "node:assert/strict";
import { MemoryReclaimer } from "./reclaim.ts";

const MiB = 1024 * 1024;

/** A process whose resident size the test sets; release() drops it to `low`. */
function fakeProcess(start: number) {
  const p = {
    rss: start,
    low: start,
    releases: 0,
    resident: () => p.rss,
    release: () => {
      p.releases++;
      p.rss = p.low;
    },
  };
  return p;
}

Deno.test("MemoryReclaimer releases once the connections fell to half their peak after growth", () => {
  const p = fakeProcess(50 * MiB);
  const r = new MemoryReclaimer(p);
  assert.equal(r.tick(0), undefined); // sets the floor
  p.rss = 80 * MiB;
  assert.equal(r.tick(2000), undefined, "at the peak: the load still uses it");
  assert.equal(r.tick(1001), undefined, "over half the peak");
  p.low = 55 * MiB;
  const done = r.tick(1000);
  assert.ok(done);
  assert.deepEqual({ ...done, ms: 0 }, {
    before: 80 * MiB,
    after: 55 * MiB,
    active: 1000,
    peak: 2000,
    ms: 0,
  });
  assert.equal(p.releases, 1);
  // The peak is now 1000, and 5 ticks must pass.
  assert.equal(r.tick(0), undefined);
  assert.equal(p.releases, 1);
});

Deno.test("MemoryReclaimer releases again what the connections still open at a release held", () => {
  // The sample fell while a burst of 1000 was closing: 480 still open.
  const p = fakeProcess(56 * MiB);
  const r = new MemoryReclaimer(p);
  r.tick(0);
  p.rss = 70 * MiB;
  r.tick(1000);
  p.low = 66 * MiB;
  assert.equal(r.tick(480)?.after, 66 * MiB);
  // The rest closed; their memory is garbage now, not growth since the
  // release, and it is still released once the count has halved again.
  p.low = 57 * MiB;
  const later = [1, 2, 3, 4, 5].map(() => r.tick(0));
  assert.deepEqual(later.map((d) => d?.after), [
    undefined,
    undefined,
    undefined,
    undefined,
    57 * MiB,
  ]);
  // Released near idle: 57 MiB is where this process settles.
  p.rss = 60 * MiB;
  r.tick(200);
  assert.equal([1, 2, 3, 4, 5].map(() => r.tick(0)).filter(Boolean).length, 0);
  assert.equal(p.releases, 2);
});

Deno.test("MemoryReclaimer counts a burst that came and went between two ticks", () => {
  // 2000 connections opened and closed within one tick: every sample sees
  // none open, but the caller saw the peak.
  const p = fakeProcess(50 * MiB);
  const r = new MemoryReclaimer(p);
  r.tick(0);
  p.rss = 80 * MiB;
  assert.equal(r.tick(0), undefined, "no peak reported: nothing to say the load receded");
  p.low = 55 * MiB;
  assert.equal(r.tick(0, 2000)?.peak, 2000);
  assert.equal(p.releases, 1);
});

Deno.test("MemoryReclaimer ignores growth under 4 MiB or under 10% of the floor", () => {
  const p = fakeProcess(100 * MiB);
  const r = new MemoryReclaimer(p);
  r.tick(100);
  p.rss = 109 * MiB; // 9 MiB, but under 10% of 100 MiB
  assert.equal(r.tick(0), undefined);
  const small = fakeProcess(20 * MiB);
  const r2 = new MemoryReclaimer(small);
  r2.tick(100);
  small.rss = 23 * MiB; // 15%, but under 4 MiB
  assert.equal(r2.tick(0), undefined);
  small.rss = 24 * MiB;
  assert.ok(r2.tick(0));
});

Deno.test("MemoryReclaimer leaves a small, wobbling load alone", () => {
  // 8 +/- 6 connections while V8's garbage creeps up 1 MiB a tick: the
  // count halves often, but never falls by 32, so nothing is released.
  const p = fakeProcess(50 * MiB);
  const r = new MemoryReclaimer(p);
  for (let t = 0; t < 600; t++) {
    p.rss = 50 * MiB + (t % 40) * MiB;
    r.tick(8 + Math.round(6 * Math.sin(t)));
  }
  assert.equal(p.releases, 0);
});

Deno.test("MemoryReclaimer waits 5 ticks between releases", () => {
  const p = fakeProcess(50 * MiB);
  const r = new MemoryReclaimer(p);
  r.tick(0);
  p.rss = 80 * MiB;
  r.tick(100);
  assert.ok(r.tick(0));
  const released: number[] = [];
  for (let t = 1; t <= 6; t++) {
    p.rss = 80 * MiB;
    r.tick(100);
    if (r.tick(0)) released.push(t);
  }
  // Two ticks per round: the second release comes on the third round.
  assert.deepEqual(released, [3, 6]);
});

Deno.test("MemoryReclaimer measures growth from the lowest size seen", () => {
  const p = fakeProcess(60 * MiB);
  const r = new MemoryReclaimer(p, { minGrowth: MiB, growthRatio: 0 });
  r.tick(40);
  p.rss = 50 * MiB; // the runtime shrank on its own
  assert.equal(r.tick(0), undefined);
  p.rss = 51.5 * MiB;
  p.low = 50 * MiB;
  assert.equal(r.tick(0)?.before, 51.5 * MiB);
});

Deno.test("MemoryReclaimer does not release on every dip of a steady load", () => {
  // A burst of 1000, then a load that swings between 140 and 66
  // connections every 10 ticks for 10 minutes; the resident set never
  // shrinks without a release, and a release keeps what the open
  // connections hold (50 KiB each).
  const idle = 56 * MiB, perConn = 50 * 1024;
  const p = fakeProcess(idle);
  const r = new MemoryReclaimer(p);
  r.tick(0);
  for (let t = 0; t < 600; t++) {
    const open = t < 5 ? 1000 : Math.floor(t / 10) % 2 ? 140 : 66;
    p.low = idle + open * perConn;
    p.rss = Math.max(p.rss, p.low);
    r.tick(open);
  }
  assert.equal(p.releases, 1, "once, after the burst");
});
