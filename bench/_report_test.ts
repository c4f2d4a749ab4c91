// Needs --allow-read (as `deno task test` gives -A): _paths.ts reads deno.json when loaded.
import assert from "node:assert/strict";
import { firstRuns, latestJson, medians, type Sample, table, targets } from "./_report.ts";

function paths(shifter: Sample, redsocks: Sample, direct: Sample = {}) {
  return { shifter, redsocks, direct };
}

Deno.test("medians take the middle of each key's finite values", () => {
  const med = medians({
    shifter: [{ rtt_p50_us: 90, x: NaN }, { rtt_p50_us: 120 }, { rtt_p50_us: 100 }],
  });
  assert.deepEqual(med.shifter, { rtt_p50_us: 100 });
});

Deno.test("targets check the repeated runs; the first runs are reported apart", () => {
  const med = paths(
    {
      cpu_ms_per_1000_conns: 250,
      cpu_ms_per_1000_conns_first: 280,
      rtt_p50_us: 95,
      rtt_p50_us_first: 110,
      rtt_p99_us: 200,
      rtt_p99_us_first: 300,
    },
    {
      cpu_ms_per_1000_conns: 200,
      cpu_ms_per_1000_conns_first: 200,
      rtt_p50_us: 90,
      rtt_p50_us_first: 90,
      rtt_p99_us: 180,
      rtt_p99_us_first: 180,
    },
  );
  const lines = targets(med);
  assert.ok(lines.includes("PASS  CPU/1000 conns <= 1.3x redsocks: 1.25x"), lines.join("\n"));
  assert.ok(lines.includes("PASS  RTT p50 within 10 us of redsocks: 5.00 us"), lines.join("\n"));
  assert.ok(lines.includes("PASS  RTT p99 <= 1.3x redsocks: 1.11x"), lines.join("\n"));
  assert.equal(lines.filter((l) => l.includes("1st")).length, 0);
  assert.equal(
    firstRuns(med),
    "info  1st runs after start (vs redsocks's 1st): CPU/1000 conns 1.40x, RTT p50 +20.00 us, RTT p99 1.67x",
  );
});

Deno.test("targets fail over the limits and say n/a without a figure", () => {
  const med = paths(
    { cpu_ms_per_1000_conns: 270, rtt_p50_us: 101, rtt_p99_us: 240, idle_kib_per_tunnel: 16.5 },
    { cpu_ms_per_1000_conns: 200, rtt_p50_us: 90, rtt_p99_us: 180 },
  );
  const lines = targets(med);
  assert.ok(lines.includes("FAIL  CPU/1000 conns <= 1.3x redsocks: 1.35x"), lines.join("\n"));
  assert.ok(lines.includes("FAIL  RTT p50 within 10 us of redsocks: 11.00 us"), lines.join("\n"));
  assert.ok(lines.includes("FAIL  RTT p99 <= 1.3x redsocks: 1.33x"), lines.join("\n"));
  assert.ok(lines.includes("FAIL  RSS/idle tunnel <= 16 KiB: 16.50 KiB"), lines.join("\n"));
  assert.ok(lines.includes("n/a   CPU/GiB upload <= 1.2x redsocks"), lines.join("\n"));
  assert.equal(
    firstRuns(med),
    "info  1st runs after start (vs redsocks's 1st): CPU/1000 conns -, RTT p50 -, RTT p99 -",
  );
});

Deno.test("a ratio to redsocks's added p99 at or below zero is n/a", () => {
  const lines = targets(paths(
    { rtt_p99_us: 216.5 },
    { rtt_p99_us: 197.5 },
    { rtt_p99_us: 224.5 },
  ));
  assert.ok(lines.includes("n/a   added p99 over direct <= 1.3x redsocks's"), lines.join("\n"));
});

Deno.test("the table has a row per figure and latest.json only the measured keys", () => {
  const med = paths(
    { rtt_p50_us: 95, rtt_p50_us_first: 110, upstream_cpu_ms_per_1000_conns: 170 },
    { rtt_p50_us: 90 },
    { rtt_p50_us: 75 },
  );
  const text = table(med);
  assert.match(
    text,
    /\| RTT p50 µs +\| +95\.0 \| +1\.06x \| +1\.27x \| +90\.0 \| +1\.20x \| +75\.0 \|/,
  );
  assert.match(text, /\| RTT p50 µs, 1st run +\| +110\.0 \| +- \|/);
  assert.match(text, /\| added p50 µs \(-direct\) +\| +20\.0 \|/);
  assert.deepEqual(latestJson("fast", med), {
    upstream: "fast",
    paths: {
      shifter: { rtt_p50_us: 95, rtt_p50_us_first: 110 },
      redsocks: { rtt_p50_us: 90 },
      direct: { rtt_p50_us: 75 },
    },
  });
});
