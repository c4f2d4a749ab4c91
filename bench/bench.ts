/**
 * Shifter benchmark: Shifter, redsocks and the direct path (no redirector)
 * through the same upstream, in a network namespace of its own.
 *
 * Run as root: `deno task bench` or
 * `deno run -A bench/bench.ts [--rounds 3] [--upstream fast|squid|both]
 *  [--bytes N] [--conns N] [--tunnels N] [--rtts N] [--paths a,b]`.
 *
 * Prints one table per upstream, writes the raw samples and logs under
 * `bench/results/<timestamp>/` and the medians to `bench/results/latest.json`
 * (fast upstream) and `bench/results/latest-squid.json`.
 *
 * @module
 */

import { buildHelpers, type Helpers } from "./_build.ts";
import { IdleTunnels, loadgen, type Target } from "./_loadgen.ts";
import { Netns, run } from "./_netns.ts";
import {
  ORIGIN_PORT,
  PATH_NAMES,
  type PathName,
  PATHS,
  SHIFTER_V8_FLAGS,
  startUpstream,
  type UpstreamKind,
} from "./_paths.ts";
import {
  addedOverDirect,
  firstRuns,
  latestJson,
  median,
  medians,
  type Sample,
  settled,
  spread,
  table,
  targets,
} from "./_report.ts";
import { closeAllServices, Service } from "./_service.ts";

/** Benchmark parameters; the defaults are the issue's. */
export interface BenchOptions {
  /** Rounds; the path order rotates each round. @default 3 */
  rounds: number;
  /** Bytes per single-stream transfer. @default 2 GiB */
  bytes: number;
  /** Short connections per round. @default 2000 */
  conns: number;
  /** Concurrency of the short connections. @default 50 */
  concurrency: number;
  /** Idle tunnels for the RSS figure. @default 2000 */
  tunnels: number;
  /** One-byte round trips. @default 20000 */
  rtts: number;
  /** Upstreams to run, in order. @default ["fast", "squid"] */
  upstreams: UpstreamKind[];
  /** Paths to measure. @default all */
  paths: PathName[];
  /** Names the measured Shifter instead of its git commit. */
  label?: string;
}

const NS_NAME = "shbench-gw";
const GIB = 2 ** 30;
const RESULTS = new URL("./results/", import.meta.url).pathname;

let interrupted = false;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

function parseArgs(args: string[]): BenchOptions {
  const o: BenchOptions = {
    rounds: 3,
    bytes: 2 * GIB,
    conns: 2000,
    concurrency: 50,
    tunnels: 2000,
    rtts: 20000,
    upstreams: ["fast", "squid"],
    paths: [...PATH_NAMES],
  };
  for (let i = 0; i < args.length; i += 2) {
    const key = args[i];
    const val = args[i + 1];
    if (val === undefined) throw new TypeError(`Missing value for ${key}`);
    const num = Number(val);
    switch (key) {
      case "--rounds":
        o.rounds = num;
        break;
      case "--bytes":
        o.bytes = num;
        break;
      case "--conns":
        o.conns = num;
        break;
      case "--tunnels":
        o.tunnels = num;
        break;
      case "--rtts":
        o.rtts = num;
        break;
      case "--upstream":
        o.upstreams = val === "both" ? ["fast", "squid"] : [val as UpstreamKind];
        break;
      case "--paths":
        o.paths = val.split(",") as PathName[];
        break;
      case "--label":
        o.label = val;
        break;
      default:
        throw new TypeError(`Unknown option ${key}`);
    }
  }
  for (const p of o.paths) {
    if (!PATH_NAMES.includes(p)) throw new TypeError(`Unknown path "${p}"`);
  }
  for (const u of o.upstreams) {
    if (u !== "fast" && u !== "squid") {
      throw new TypeError(`Unknown upstream "${u}"`);
    }
  }
  return o;
}

interface RunContext {
  ns: Netns;
  helpers: Helpers;
  upstreamPort: number;
  upstream: Service;
  dir: string;
  clkTck: number;
  opts: BenchOptions;
  /** Executable names already logged. */
  seen: Set<string>;
  /** Listening port for the next redirector start. */
  nextPort: number;
}

/** Busy and total jiffies of all CPUs, from `/proc/stat`. */
async function cpuJiffies(): Promise<{ busy: number; total: number }> {
  const line = (await Deno.readTextFile("/proc/stat")).split("\n")[0] ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  // idle and iowait are fields 4 and 5.
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/**
 * Waits, at most `maxMs`, for a 500 ms window in which the machine is less
 * than 25% busy: the bench is idle here, so what runs is someone else's.
 *
 * @returns the busy percentage of the last window
 */
async function quietGate(maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const a = await cpuJiffies();
    await sleep(500);
    const b = await cpuJiffies();
    const pct = 100 * (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (pct < 25 || Date.now() >= deadline) return Math.round(pct);
  }
}

/** Measures one path once; a fresh redirector for every call. */
async function measure(ctx: RunContext, path: PathName): Promise<Sample> {
  const spec = PATHS[path];
  const target: Target = { dest: `${spec.dest}:${ORIGIN_PORT}` };
  if (!spec.start) target.proxy = `127.0.0.1:${ctx.upstreamPort}`;
  const { ns, helpers, opts } = ctx;
  const s: Sample = {};
  // Other load on the machine shows up as noise: wait a little for a quiet
  // moment, and keep what was seen with the sample.
  s.others_busy_pct = await quietGate(3000);
  const loadavg = await Deno.readTextFile("/proc/loadavg");
  s.loadavg_1m = Number(loadavg.split(" ")[0]);
  let svc: Service | undefined;
  if (spec.start) {
    const port = ctx.nextPort++;
    await ns.redirect({ dest: spec.dest, port: ORIGIN_PORT, toPort: port });
    svc = await spec.start({ ns, upstreamPort: ctx.upstreamPort, dir: ctx.dir, port });
  }
  await using _svc = svc;
  const cpu = async () => svc ? await svc.cpuTicks() / ctx.clkTck : 0;

  if (svc) {
    const comm = await svc.comm();
    // The wrappers exec the redirector: were one not to, the figures would
    // be a shell's, near nothing, and every CPU and memory target would pass.
    const expected = path === "shifter" ? "deno" : path;
    if (comm !== expected) {
      throw new Error(`${path} runs as pid ${svc.pid} "${comm}", not ${expected}: not measured`);
    }
    if (!ctx.seen.has(comm)) log(`${path} runs as pid ${svc.pid} (${comm})`);
    ctx.seen.add(comm);
    await sleep(500);
    s.rss_baseline_kib = await svc.rssKib();
    const idle = await IdleTunnels.open(
      ns,
      helpers.loadgen,
      target,
      opts.tunnels,
    );
    try {
      await sleep(1000);
      const loaded = await svc.rssKib();
      s.idle_tunnels_failed = idle.result.failed ?? NaN;
      // No tunnel open, no figure (NaN is left out of the medians).
      s.idle_kib_per_tunnel = idle.result.tunnels
        ? (loaded - s.rss_baseline_kib) / idle.result.tunnels
        : NaN;
    } finally {
      await idle.close();
    }
    // Let the redirector finish closing them before timing anything.
    await sleep(1000);
    s.rss_after_idle_kib = await svc.rssKib();
  }

  // The round trips and the short connections run twice in a row, on every
  // path. The first run is the first time a fresh Shifter's code for it runs
  // hot, and V8 is still compiling it meanwhile (on the rig, TurboFan spent
  // 48 ms on the copy loop alone, on a helper thread sharing the two cores):
  // the `_first` figures, measured as every run before this one was. The
  // second is the steady state a gateway runs in, and the headline figure.
  // Redsocks and the direct path have nothing to compile: theirs show what
  // the repetition alone changes.
  for (const suffix of ["_first", ""]) {
    const rtt = await loadgen(ns, helpers.loadgen, target, "rtt", [opts.rtts]);
    s[`rtt_p50_us${suffix}`] = rtt.p50_us!;
    s[`rtt_p99_us${suffix}`] = rtt.p99_us!;
  }

  // CPU seconds of the redirector and the upstream while `mode` runs; the
  // load generator reports its own.
  const step = async (mode: string, args: number[]) => {
    const r0 = await cpu();
    const u0 = await ctx.upstream.cpuTicks();
    const res = await loadgen(ns, helpers.loadgen, target, mode, args);
    const r1 = await cpu();
    const u1 = await ctx.upstream.cpuTicks();
    return { res, redir: r1 - r0, upstream: (u1 - u0) / ctx.clkTck };
  };
  const gib = opts.bytes / GIB;

  const up = await step("up", [opts.bytes]);
  s.upload_mbps = opts.bytes / up.res.secs! / 1e6;
  if (svc) s.cpu_s_per_gib_up = up.redir / gib;
  s.upstream_cpu_s_per_gib_up = up.upstream / gib;
  s.loadgen_cpu_s_per_gib_up = up.res.cpu_s! / gib;

  const down = await step("down", [opts.bytes]);
  s.download_mbps = opts.bytes / down.res.secs! / 1e6;
  if (svc) s.cpu_s_per_gib_down = down.redir / gib;
  s.upstream_cpu_s_per_gib_down = down.upstream / gib;
  s.loadgen_cpu_s_per_gib_down = down.res.cpu_s! / gib;

  // Short connections, first and again (see the round trips above).
  for (const suffix of ["_first", ""]) {
    const conns = await step("conns", [opts.conns, opts.concurrency]);
    // Per completed connection: a path that refuses fast must not look cheap.
    const completed = opts.conns - (conns.res.failed ?? 0);
    const kconns = completed > 0 ? completed / 1000 : NaN;
    s[`conns_per_s${suffix}`] = completed / conns.res.secs!;
    s[`conns_failed${suffix}`] = conns.res.failed!;
    if (svc) s[`cpu_ms_per_1000_conns${suffix}`] = conns.redir * 1000 / kconns;
    s[`upstream_cpu_ms_per_1000_conns${suffix}`] = conns.upstream * 1000 / kconns;
    s[`loadgen_cpu_ms_per_1000_conns${suffix}`] = conns.res.cpu_s! * 1000 / kconns;
  }

  if (svc) {
    // The CPU window above closes when the load generator exits; whatever
    // the redirector does after (closing up, collecting, Shifter's memory
    // reclaim) is measured here, and reported beside the figure.
    const c0 = await cpu();
    await sleep(2000);
    s.cpu_ms_settle = (await cpu() - c0) * 1000;
    s.rss_after_load_kib = await svc.rssKib();
  }
  return s;
}

async function runUpstream(
  kind: UpstreamKind,
  ns: Netns,
  helpers: Helpers,
  runDir: string,
  clkTck: number,
  opts: BenchOptions,
): Promise<Partial<Record<PathName, Sample[]>>> {
  const dir = `${runDir}/${kind}`;
  await Deno.mkdir(dir, { recursive: true });
  await using up = await startUpstream(ns, kind, helpers.upstream, dir).then(
    (u) => ({ ...u, [Symbol.asyncDispose]: u.close }),
  );
  const ctx: RunContext = {
    ns,
    helpers,
    upstreamPort: up.port,
    upstream: up.service,
    dir,
    clkTck,
    opts,
    seen: new Set(),
    nextPort: kind === "fast" ? 20000 : 21000,
  };
  const samples: Partial<Record<PathName, Sample[]>> = {};
  // A path that fails twice is left out of the remaining rounds.
  const failures = new Map<PathName, number>();
  for (let round = 0; round < opts.rounds; round++) {
    // Rotate the order every round so no path always runs first or last.
    const order = opts.paths.map((_, i) => opts.paths[(i + round) % opts.paths.length]!);
    const thisRound: Partial<Record<PathName, Sample>> = {};
    for (const path of order) {
      if (interrupted) throw new Error("Benchmark interrupted");
      if ((failures.get(path) ?? 0) >= 2) continue;
      const t0 = performance.now();
      try {
        const s = await measure(ctx, path);
        (samples[path] ??= []).push(s);
        thisRound[path] = s;
        log(
          `${kind} round ${round + 1} ${path}: ${((performance.now() - t0) / 1000).toFixed(1)} s ${
            JSON.stringify(s)
          }`,
        );
      } catch (err) {
        if (interrupted) throw new Error("Benchmark interrupted");
        const n = (failures.get(path) ?? 0) + 1;
        failures.set(path, n);
        log(`${kind} round ${round + 1} ${path}: failed (${n}/2): ${err}`);
      }
    }
    addedOverDirect(thisRound);
  }
  return samples;
}

/** How many rounds each path completed. */
function countsOf(samples: Partial<Record<PathName, Sample[]>>): Partial<Record<PathName, number>> {
  return Object.fromEntries(Object.entries(samples).map(([p, l]) => [p, l?.length ?? 0]));
}

/** `" (shifter 2 of them)"` for paths that completed fewer rounds, else `""`. */
function roundsShort(samples: Partial<Record<PathName, Sample[]>>, rounds: number): string {
  const short = Object.entries(countsOf(samples)).filter(([, n]) => n < rounds);
  return short.length === 0 ? "" : ` (${short.map(([p, n]) => `${p} ${n}`).join(", ")} of them)`;
}

/**
 * The last commit that touched the daemon's code, with `+dirty` when those
 * paths have uncommitted changes: that is what gets measured.
 */
async function shifterVersion(): Promise<string> {
  const root = new URL("..", import.meta.url).pathname;
  // deno.json too: the start task's V8 flags are part of what is measured.
  const paths = ["mod.ts", "deno.json", "cli", "relay", "resolvers", "sys", "sniff"];
  try {
    const head = (await run("git", [
      "-C",
      root,
      "log",
      "-1",
      "--format=%h",
      "--",
      ...paths,
    ])).trim();
    const dirty = (await run("git", [
      "-C",
      root,
      "status",
      "--porcelain",
      "--",
      ...paths,
    ])).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return "unknown";
  }
}

/** The issue's static target: no `pipeTo` on the data path (relay/). */
async function pipeToCheck(): Promise<string> {
  const dir = new URL("../relay/", import.meta.url).pathname;
  const hits: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.name.endsWith(".ts") || e.name.endsWith("_test.ts")) continue;
      const lines = (await Deno.readTextFile(dir + e.name)).split("\n");
      lines.forEach((l, i) => {
        // Calls only: a comment saying "no pipeTo" is fine.
        if (/\.pipeTo\(/.test(l)) hits.push(`relay/${e.name}:${i + 1}`);
      });
    }
  } catch {
    return "n/a   no pipeTo on the data path (relay/ not found)";
  }
  return hits.length
    ? `FAIL  no pipeTo on the data path: ${hits.join(", ")}`
    : "PASS  no pipeTo on the data path (relay/*.ts, static)";
}

async function main(args: string[]): Promise<number> {
  const opts = parseArgs(args);
  if (Deno.uid() !== 0) {
    console.error("bench: needs root (network namespace, iptables); skipped");
    return 0;
  }
  const started = performance.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const runDir = `${RESULTS}${stamp}`;
  await Deno.mkdir(runDir, { recursive: true });
  const helpers = await buildHelpers(`${RESULTS}bin`);
  const clkTck = Number((await run("getconf", ["CLK_TCK"])).trim());
  if (opts.paths.includes("shifter")) {
    // The namespace has no route out: fetch Shifter's dependencies first.
    const mod = new URL("../mod.ts", import.meta.url).pathname;
    await run(Deno.execPath(), ["cache", mod]).catch((err) =>
      log(`cannot cache Shifter's dependencies: ${err}`)
    );
  }
  const commit = opts.label ?? await shifterVersion();

  // Before the namespace exists, so that an interrupt while it is being
  // made still deletes it.
  const stop = () => {
    if (interrupted) return;
    interrupted = true;
    // The running step fails once its helpers are gone; `await using` then
    // deletes the namespace on the way out.
    log("interrupted: stopping helpers and deleting the namespace");
    closeAllServices();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await using ns = await Netns.create(NS_NAME, {
      addresses: PATH_NAMES.map((p) => PATHS[p].dest),
    });
    if (interrupted) throw new Error("Benchmark interrupted");
    await using _origin = await Service.start(ns, "origin", [
      helpers.origin,
      String(ORIGIN_PORT),
    ], { log: `${runDir}/origin.log`, port: ORIGIN_PORT });

    const raw: Record<string, unknown> = {
      commit,
      shifterV8Flags: SHIFTER_V8_FLAGS,
      options: opts,
    };
    let text = "";
    for (const kind of opts.upstreams) {
      const upstream = kind === "fast" ? "fast (bench/upstream.c, splice)" : "squid";
      let samples: Awaited<ReturnType<typeof runUpstream>>;
      try {
        samples = await runUpstream(kind, ns, helpers, runDir, clkTck, opts);
      } catch (err) {
        // One upstream failing (Squid would not start) costs only its table.
        if (interrupted) throw err;
        const section = `\nUpstream: ${upstream}: not measured: ${err}\n`;
        console.log(section);
        text += section;
        raw[kind] = { error: String(err) };
        continue;
      }
      const med = medians(samples);
      raw[kind] = { samples, medians: med };
      // What was measured so far survives a later failure.
      await Deno.writeTextFile(`${runDir}/raw.json`, JSON.stringify(raw, null, 2));
      const file = kind === "fast" ? "latest.json" : `latest-${kind}.json`;
      if (Object.keys(med).length > 0) {
        await Deno.writeTextFile(
          `${RESULTS}${file}`,
          JSON.stringify(latestJson(upstream, med), null, 2) + "\n",
        );
      }
      const busy = median(
        Object.values(samples).flat().map((x) => x.others_busy_pct ?? NaN),
      );
      const flags = SHIFTER_V8_FLAGS.length ? ` (${SHIFTER_V8_FLAGS.join(" ")})` : "";
      const section =
        `\nUpstream: ${upstream}; shifter ${commit}${flags}; medians of ${opts.rounds} rounds${
          roundsShort(samples, opts.rounds)
        }; ` +
        `${opts.bytes / GIB} GiB transfers, ${opts.conns} conns at ${opts.concurrency}, ` +
        `${opts.tunnels} idle tunnels, ${opts.rtts} round trips; ` +
        `others' CPU use before each path: median ${busy}%\n\n` +
        table(med) + "\n\nEach round (the order they ran):\n" +
        spread(samples).map((l) => `  ${l}`).join("\n") +
        "\n\nTargets (shifter vs redsocks):\n" +
        [
          ...targets(med, countsOf(samples), opts.rounds),
          await pipeToCheck(),
          firstRuns(med),
          settled(med),
        ].map((l) => `  ${l}`).join(
          "\n",
        ) + "\n";
      console.log(section);
      text += section;
    }
    const secs = (performance.now() - started) / 1000;
    const tail = `Command: ${["deno task bench", ...args].join(" ")}\nTotal: ${secs.toFixed(0)} s`;
    text += `\n${tail}\n`;
    await Deno.writeTextFile(
      `${runDir}/raw.json`,
      JSON.stringify(raw, null, 2),
    );
    await Deno.writeTextFile(`${runDir}/table.md`, text);
    await Deno.writeTextFile(`${RESULTS}latest.md`, text);
    console.log(tail);
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    if (!interrupted) throw err;
    Deno.exit(130);
  }
}
