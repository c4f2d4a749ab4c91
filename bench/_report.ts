/**
 * Medians, the results table and the check against the issue's targets.
 *
 * @module
 */

import { PATH_NAMES, type PathName } from "./_paths.ts";

/** One round's figures for one path; absent keys do not apply. */
export type Sample = Record<string, number>;

/** A figure of the table. */
interface Metric {
  key: string;
  label: string;
  digits: number;
  /** Derived for the table only, not written to `latest.json`. */
  derived?: boolean;
}

/** The figures of `latest.json`, in table order. */
export const METRICS: readonly Metric[] = [
  { key: "upload_mbps", label: "upload MB/s (1 stream)", digits: 0 },
  { key: "download_mbps", label: "download MB/s (1 stream)", digits: 0 },
  { key: "cpu_s_per_gib_up", label: "CPU s/GiB upload", digits: 3 },
  { key: "cpu_s_per_gib_down", label: "CPU s/GiB download", digits: 3 },
  { key: "conns_per_s", label: "connections/s (conc 50)", digits: 0 },
  { key: "cpu_ms_per_1000_conns", label: "CPU ms/1000 conns", digits: 0 },
  { key: "conns_per_s_first", label: "connections/s, 1st run", digits: 0 },
  { key: "cpu_ms_per_1000_conns_first", label: "CPU ms/1000 conns, 1st run", digits: 0 },
  { key: "idle_kib_per_tunnel", label: "RSS KiB/idle tunnel", digits: 1 },
  { key: "rtt_p50_us", label: "RTT p50 µs", digits: 1 },
  { key: "rtt_p99_us", label: "RTT p99 µs", digits: 1 },
  { key: "rtt_p50_us_first", label: "RTT p50 µs, 1st run", digits: 1 },
  { key: "rtt_p99_us_first", label: "RTT p99 µs, 1st run", digits: 1 },
  { key: "added_p50_us", label: "added p50 µs (-direct)", digits: 1, derived: true },
  { key: "added_p99_us", label: "added p99 µs (-direct)", digits: 1, derived: true },
  { key: "rss_baseline_kib", label: "RSS fresh KiB", digits: 0 },
  { key: "rss_after_idle_kib", label: "RSS tunnels closed KiB", digits: 0 },
  { key: "rss_after_load_kib", label: "RSS after load KiB", digits: 0 },
];

/** Median of the finite values; NaN if there are none. */
export function median(values: number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Per-path medians of every key present in the samples. */
export function medians(
  samples: Partial<Record<PathName, Sample[]>>,
): Partial<Record<PathName, Sample>> {
  const out: Partial<Record<PathName, Sample>> = {};
  for (const [path, list] of Object.entries(samples)) {
    if (!list || list.length === 0) continue;
    const keys = new Set(list.flatMap((s) => Object.keys(s)));
    const m: Sample = {};
    for (const k of keys) {
      const v = median(list.map((s) => s[k] ?? NaN));
      if (Number.isFinite(v)) m[k] = Number(v.toFixed(3));
    }
    out[path as PathName] = m;
  }
  return out;
}

/**
 * Adds to one round's samples the latency each redirector added over the
 * direct path in that round: its RTT percentile minus the direct one (a
 * difference of percentiles, not a percentile of differences). Taken per
 * round and then the median, rather than as a difference of medians from
 * different rounds.
 *
 * @param round The samples of one round, by path.
 */
export function addedOverDirect(round: Partial<Record<PathName, Sample>>): void {
  const d = round.direct;
  if (!d) return;
  for (const [p, m] of Object.entries(round)) {
    if (p === "direct" || !m) continue;
    for (const q of ["p50", "p99"]) {
      const v = m[`rtt_${q}_us`];
      const base = d[`rtt_${q}_us`];
      if (v !== undefined && base !== undefined) m[`added_${q}_us`] = v - base;
    }
  }
}

/**
 * The added latency from the medians, for results measured before it was
 * taken per round ({@linkcode addedOverDirect}): kept where present.
 */
function withAdded(
  med: Partial<Record<PathName, Sample>>,
): Partial<Record<PathName, Sample>> {
  const d = med.direct;
  const out: Partial<Record<PathName, Sample>> = {};
  for (const [p, m] of Object.entries(med)) {
    const x: Sample = { ...m };
    if (d && p !== "direct") {
      for (const q of ["p50", "p99"]) {
        const v = m[`rtt_${q}_us`];
        const base = d[`rtt_${q}_us`];
        if (v !== undefined && base !== undefined) x[`added_${q}_us`] ??= v - base;
      }
    }
    out[p as PathName] = x;
  }
  return out;
}

function fmt(v: number | undefined, digits: number): string {
  return v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(digits);
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !b) return "-";
  // A ratio of figures at or below zero (an added latency that came out
  // negative) means nothing: as the target lines say.
  if (a <= 0 || b <= 0) return "n/a";
  return `${(a / b).toFixed(2)}x`;
}

/**
 * Renders the medians as a fixed-width table: each path's figure and its
 * ratio to redsocks and to the direct path.
 *
 * @param med per-path medians
 * @returns the table text
 */
export function table(med: Partial<Record<PathName, Sample>>): string {
  med = withAdded(med);
  const head = [
    "figure",
    "shifter",
    "/redsocks",
    "/direct",
    "redsocks",
    "/direct",
    "direct",
  ];
  const rows = [head];
  for (const m of METRICS) {
    const s = med.shifter?.[m.key];
    const r = med.redsocks?.[m.key];
    const d = med.direct?.[m.key];
    rows.push([
      m.label,
      fmt(s, m.digits),
      ratio(s, r),
      ratio(s, d),
      fmt(r, m.digits),
      ratio(r, d),
      fmt(d, m.digits),
    ]);
  }
  const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    "| " +
    r.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))
      .join(" | ") +
    " |";
  // Markdown alignment row: figures left, numbers right.
  const sep = "|" +
    widths.map((w, i) => i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")
      .join("|") +
    "|";
  return [line(head), sep, ...rows.slice(1).map(line)].join("\n");
}

/** Figures whose round-by-round values the report lists, with a noise check. */
const SPREAD: readonly { key: string; label: string; digits: number }[] = [
  { key: "cpu_ms_per_1000_conns", label: "CPU ms/1000 conns", digits: 0 },
  { key: "upstream_cpu_ms_per_1000_conns", label: "  the upstream's own (same work)", digits: 0 },
  { key: "cpu_ms_per_1000_conns_first", label: "CPU ms/1000 conns, 1st run", digits: 0 },
  { key: "cpu_s_per_gib_down", label: "CPU s/GiB download", digits: 3 },
  { key: "rtt_p50_us", label: "RTT p50 µs", digits: 1 },
  { key: "rtt_p99_us", label: "RTT p99 µs", digits: 1 },
  { key: "rtt_p50_us_first", label: "RTT p50 µs, 1st run", digits: 1 },
  { key: "rtt_p99_us_first", label: "RTT p99 µs, 1st run", digits: 1 },
];

/**
 * Every round's value of the noisiest figures, Shifter's and redsocks's,
 * in the order the rounds ran. The upstream's own CPU per 1000
 * connections is the same work whatever the path: how much it moves
 * between rounds is how much the machine's noise moves the others.
 *
 * @param samples every round's samples, per path
 * @returns the lines
 */
export function spread(samples: Partial<Record<PathName, Sample[]>>): string[] {
  const width = Math.max(...SPREAD.map((f) => f.label.length));
  return SPREAD.map((f) => {
    const of = (path: PathName) =>
      (samples[path] ?? []).map((s) => fmt(s[f.key], f.digits)).join(" ");
    return `${f.label.padEnd(width)}  shifter ${of("shifter")}  |  redsocks ${of("redsocks")}`;
  });
}

/**
 * Checks Shifter's medians against the issue's targets, as ratios to
 * redsocks measured in the same run.
 *
 * @param med per-path medians
 * @param counts rounds each path completed
 * @param rounds rounds asked for: with fewer for Shifter or redsocks, every
 *   line is `n/a`
 * @returns one line per target, each `PASS`, `FAIL` or `n/a`
 */
export function targets(
  med: Partial<Record<PathName, Sample>>,
  counts?: Partial<Record<PathName, number>>,
  rounds?: number,
): string[] {
  med = withAdded(med);
  // Medians of fewer rounds than asked for (a round failed) decide nothing.
  const short = counts === undefined || rounds === undefined
    ? []
    : (["shifter", "redsocks"] as const).filter((p) => (counts[p] ?? 0) < rounds);
  const s = med.shifter;
  const r = med.redsocks;
  const checks: [string, number | undefined, (v: number) => boolean, string][] = [];
  const rel = (k: string) => over(s, r, k);
  checks.push([
    "CPU/GiB upload <= 1.2x redsocks",
    rel("cpu_s_per_gib_up"),
    (v) => v <= 1.2,
    "x",
  ]);
  checks.push([
    "CPU/GiB download <= 1.2x redsocks",
    rel("cpu_s_per_gib_down"),
    (v) => v <= 1.2,
    "x",
  ]);
  checks.push([
    "CPU/1000 conns <= 1.3x redsocks",
    rel("cpu_ms_per_1000_conns"),
    (v) => v <= 1.3,
    "x",
  ]);
  checks.push([
    "RSS/idle tunnel <= 16 KiB",
    s?.idle_kib_per_tunnel,
    (v) => v <= 16,
    " KiB",
  ]);
  const p50 = s?.rtt_p50_us !== undefined && r?.rtt_p50_us !== undefined
    ? s.rtt_p50_us - r.rtt_p50_us
    : undefined;
  checks.push(["RTT p50 within 10 us of redsocks", p50, (v) => v <= 10, " us"]);
  checks.push([
    "RTT p99 <= 1.3x redsocks",
    rel("rtt_p99_us"),
    (v) => v <= 1.3,
    "x",
  ]);
  checks.push([
    "added p99 over direct <= 1.3x redsocks's",
    rel("added_p99_us"),
    (v) => v <= 1.3,
    "x",
  ]);
  // A failed connection or tunnel is work one path did not do: the
  // comparison is off whatever its figures say.
  const failed = (["shifter", "redsocks"] as const).reduce(
    (sum, p) =>
      sum + (["conns_failed", "conns_failed_first", "idle_tunnels_failed"] as const).reduce(
        (n, k) => n + (med[p]?.[k] ?? 0),
        0,
      ),
    0,
  );
  checks.push([
    "no connection or idle tunnel failed (shifter, redsocks; medians)",
    failed,
    (v) => v === 0,
    "",
  ]);
  const back = s?.rss_after_load_kib !== undefined && s?.rss_baseline_kib
    ? s.rss_after_load_kib / s.rss_baseline_kib
    : undefined;
  checks.push([
    "RSS after load within 20% of fresh",
    back,
    (v) => v <= 1.2,
    "x",
  ]);
  return checks.map(([name, v, ok, unit]) =>
    v === undefined || !Number.isFinite(v)
      ? `n/a   ${name}`
      : short.length > 0
      ? `n/a   ${name}: ${v.toFixed(2)}${unit}, but ${
        short.map((p) => `${p} completed ${counts?.[p] ?? 0} of ${rounds} rounds`).join(", ")
      }`
      : `${ok(v) ? "PASS" : "FAIL"}  ${name}: ${v.toFixed(2)}${unit}`
  );
}

/**
 * The targeted latency and per-connection figures from the first runs
 * after start, while V8 still compiles Shifter's hot paths: for the
 * record, not a target.
 *
 * @param med per-path medians
 * @returns one `info` line
 */
export function firstRuns(med: Partial<Record<PathName, Sample>>): string {
  const s = med.shifter;
  const r = med.redsocks;
  const p50 = s?.rtt_p50_us_first !== undefined && r?.rtt_p50_us_first !== undefined
    ? s.rtt_p50_us_first - r.rtt_p50_us_first
    : undefined;
  const parts = [
    `CPU/1000 conns ${fmtRatio(over(s, r, "cpu_ms_per_1000_conns_first"))}`,
    `RTT p50 ${p50 === undefined ? "-" : `${p50 >= 0 ? "+" : ""}${p50.toFixed(2)} us`}`,
    `RTT p99 ${fmtRatio(over(s, r, "rtt_p99_us_first"))}`,
  ];
  return `info  1st runs after start (vs redsocks's 1st): ${parts.join(", ")}`;
}

/**
 * `a[key] / b[key]`, or `undefined` without both. A ratio with a figure at
 * or below zero on either side says nothing (an added p99 is a difference
 * of two p99s, and the noise can make either negative): `undefined` too,
 * never a PASS.
 */
function over(a: Sample | undefined, b: Sample | undefined, key: string): number | undefined {
  const x = a?.[key];
  const y = b?.[key];
  return x !== undefined && y !== undefined && x > 0 && y > 0 ? x / y : undefined;
}

/**
 * The redirectors' CPU in the 2 s after the short connections, which the
 * per-1000 figure leaves out (its window closes when the load generator
 * exits): for the record.
 *
 * @param med per-path medians
 * @returns one `info` line
 */
export function settled(med: Partial<Record<PathName, Sample>>): string {
  const part = (p: PathName) => {
    const v = med[p]?.cpu_ms_settle;
    return `${p} ${v === undefined ? "-" : `${v.toFixed(0)} ms`}`;
  };
  return `info  CPU in the 2 s after the connections (not in CPU/1000 conns): ${part("shifter")}, ${
    part("redsocks")
  }`;
}

function fmtRatio(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "-" : `${v.toFixed(2)}x`;
}

/** The JSON written to `bench/results/latest.json`. */
export function latestJson(
  upstream: string,
  med: Partial<Record<PathName, Sample>>,
): unknown {
  // The issue's keys, plus the RSS figures its "returns to within 20%"
  // target needs; everything else stays in the raw results.
  const keys = METRICS.filter((m) => !m.derived).map((m) => m.key);
  const paths: Record<string, Sample> = {};
  for (const p of PATH_NAMES) {
    const m = med[p];
    if (!m) continue;
    paths[p] = Object.fromEntries(
      keys.filter((k) => m[k] !== undefined).map((k) => [k, m[k]!]),
    );
  }
  return { upstream, paths };
}
