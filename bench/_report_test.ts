// Needs --allow-read (as `deno task test` gives -A): _paths.ts reads deno.json when loaded.
import assert from "node:assert/strict";
import {
  addedOverDirect,
  firstRuns,
  latestJson,
  medians,
  type Sample,
  settled,
  table,
  targets,
} from "./_report.ts";

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

Deno.test("an added p99 at or below zero on either side is n/a, never a PASS", () => {
  // Redsocks's side; then Shifter's, as run 31 printed
  // "PASS added p99 over direct <= 1.3x redsocks's: -0.08x".
  const cases: [number, number, number][] = [[216.5, 197.5, 224.5], [168.5, 200.0, 170.9]];
  for (const [shifter, redsocks, direct] of cases) {
    const lines = targets(paths(
      { rtt_p99_us: shifter },
      { rtt_p99_us: redsocks },
      { rtt_p99_us: direct },
    ));
    assert.ok(lines.includes("n/a   added p99 over direct <= 1.3x redsocks's"), lines.join("\n"));
    // And the table prints no ratio for it either (it printed "-0.08x").
    const text = table(paths(
      { rtt_p99_us: shifter },
      { rtt_p99_us: redsocks },
      { rtt_p99_us: direct },
    ));
    const row = text.split("\n").find((l) => l.startsWith("| added p99"))!;
    assert.match(row, /\| +n\/a \|/, row);
    assert.doesNotMatch(row, /-\d\.\d\dx/, row);
  }
});

Deno.test("a failed connection or idle tunnel on either redirector is a FAIL", () => {
  const ok = targets(paths({ conns_failed: 0 }, { conns_failed: 0 }));
  assert.ok(
    ok.some((l) => l.startsWith("PASS  no connection or idle tunnel failed")),
    ok.join("\n"),
  );
  for (const [s, r] of [[{ conns_failed: 3 }, {}], [{}, { idle_tunnels_failed: 1 }]]) {
    const lines = targets(paths(s as Sample, r as Sample));
    assert.ok(
      lines.some((l) => l.startsWith("FAIL  no connection or idle tunnel failed")),
      lines.join("\n"),
    );
  }
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

Deno.test("added latency is taken per round, then the median", () => {
  const rounds = [
    { shifter: { rtt_p99_us: 168.5 }, direct: { rtt_p99_us: 158.0 } },
    { shifter: { rtt_p99_us: 254.8 }, direct: { rtt_p99_us: 179.7 } },
    { shifter: { rtt_p99_us: 156.4 }, direct: { rtt_p99_us: 170.9 } },
  ];
  for (const r of rounds) addedOverDirect(r);
  const med = medians({
    shifter: rounds.map((r) => r.shifter),
    direct: rounds.map((r) => r.direct),
  });
  // 10.5, 75.1, -14.5: median 10.5 (the difference of medians was -2.4).
  assert.equal(med.shifter?.added_p99_us, 10.5);
});

Deno.test("targets are n/a when Shifter or redsocks completed fewer rounds", () => {
  const med = paths({ cpu_ms_per_1000_conns: 250 }, { cpu_ms_per_1000_conns: 240 }, {});
  const lines = targets(med, { shifter: 2, redsocks: 3, direct: 3 }, 3);
  assert.ok(
    lines.includes(
      "n/a   CPU/1000 conns <= 1.3x redsocks: 1.04x, but shifter completed 2 of 3 rounds",
    ),
    lines.join("\n"),
  );
  assert.ok(targets(med, { shifter: 3, redsocks: 3 }, 3).some((l) => l.startsWith("PASS")));
});

Deno.test("the settle line reports each redirector's CPU after the connections", () => {
  const med = paths({ cpu_ms_settle: 42 }, { cpu_ms_settle: 0 }, {});
  assert.equal(
    settled(med),
    "info  CPU in the 2 s after the connections (not in CPU/1000 conns): shifter 42 ms, redsocks 0 ms",
  );
});
