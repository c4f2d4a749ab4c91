/**
 * The kernel module, proven in a real kernel: builds shifter.ko against the
 * installed Debian headers, boots the matching Debian kernel in
 * `qemu-system-x86_64 -accel tcg` with an initramfs (tests/kernel/
 * build_initramfs.sh), runs tests/kernel/vm_suite.ts inside it and turns each
 * `SHIFTER-VERDICT` line of the serial console into one test here.
 *
 * Skipped, with the reason printed, when qemu, the headers or the build
 * tools are missing, unless `CI=true`: then it fails instead.
 *
 * Environment: `SHIFTER_VM_TIMEOUT` (seconds, default 300) bounds the whole
 * qemu run; `SHIFTER_VM_LOG` keeps the console log at that path.
 *
 * @module
 */

const ROOT = new URL("../../", import.meta.url).pathname;
const CACHE = `${ROOT}.cache/kernel-vm`;

/** Every check vm_suite.ts reports, in order. */
const CHECKS = [
  "module_loads",
  "syn_recorded_and_looked_up",
  "fin_removes_entry",
  "fin_before_lookup_kept_for_grace",
  "closing_entry_ends_at_ttl",
  "rst_removes_entry",
  "resolver_maps_errors",
  "ipv6_recorded",
  "ports_outside_ignored",
  "loopback_second_pass_kept",
  "local_out_skip_uid",
  "ttl_expiry",
  "syn_flood_bounded",
  "netns_isolated",
  "flood_spares_looked_up",
  "malformed_requests_rejected",
  "unprivileged_eperm",
  "container_root_owns_its_netns",
  "dump_and_stats",
  "dump_whole_table_under_churn",
  "limit_follows_buckets",
  "key_reuse_never_misleads",
  "entries_charged_to_sender_cgroup",
  "forwarded_entries_charged_to_netns_owner",
  "vrf_second_pass_kept",
  "ffi_sync_vs_nonblocking",
  "netlink_and_sockopt_agree",
  "e2e_daemon_netlink",
  "e2e_daemon_auto_unrecorded_port_by_sockopt",
  "cli_operator_commands",
  "cli_auto_picks_netlink",
  "cli_netlink_refuses_unprivileged",
  "rmmod_under_load",
  "resolver_says_insmod_when_unloaded",
  "cli_netlink_fails_without_module",
  "cli_auto_falls_back_to_sockopt",
  "reload_after_rmmod",
  "no_oops",
] as const;

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function which(cmd: string): boolean {
  const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  return path.split(":").some((dir) => exists(`${dir}/${cmd}`));
}

/** Why the VM suite cannot run here, or undefined when it can. */
function missing(): string | undefined {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return "Linux on x86_64";
  }
  const headers = [...Deno.readDirSync("/usr/src")].some((e) =>
    /^linux-headers-.*-amd64$/.test(e.name)
  );
  if (!headers) {
    return "/usr/src/linux-headers-*-amd64 (linux-headers-amd64)";
  }
  const tools = [
    "qemu-system-x86_64",
    "cpio",
    "gcc",
    "make",
    "apt-get",
    "dpkg-deb",
    "depmod",
    "modprobe",
    "ip",
    "timeout",
  ];
  const absent = tools.filter((t) =>
    !which(t) && !exists(`/usr/sbin/${t}`) && !exists(`/sbin/${t}`)
  );
  if (absent.length) return `${absent.join(", ")} (see scripts/setup.sh)`;
  if (!exists("/bin/busybox")) {
    return "/bin/busybox (busybox-static)";
  }
  if (!exists("/usr/sbin/xtables-legacy-multi")) {
    return "xtables-legacy-multi (iptables)";
  }
  if (!exists("/usr/include/libnl3/netlink/genl/genl.h")) {
    return "libnl headers (libnl-3-dev libnl-genl-3-dev)";
  }
  return undefined;
}

const reason = missing();
const inCi = Deno.env.get("CI") === "true";
if (reason && !inCi) console.log(`SKIP tests/kernel (qemu VM suite): needs ${reason}`);

interface Verdict {
  ok: boolean;
  detail: string;
}

interface VmRun {
  verdicts: Map<string, Verdict>;
  console: string;
  seconds: number;
  failure?: string;
}

let vm: Promise<VmRun> | undefined;

async function bootOnce(): Promise<VmRun> {
  if (reason) {
    throw new Error(`kernel VM suite cannot run (CI=true): needs ${reason}`);
  }
  const t0 = performance.now();
  const build = await new Deno.Command("bash", {
    args: [`${ROOT}tests/kernel/build_initramfs.sh`],
    env: { DENO: Deno.execPath() },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const buildOut = new TextDecoder().decode(build.stdout).trim().split("\n");
  if (!build.success) {
    const err = new TextDecoder().decode(build.stderr).trim().slice(-1500);
    return {
      verdicts: new Map(),
      console: err,
      seconds: 0,
      failure: `build_initramfs.sh failed: ${err}`,
    };
  }
  const [kernel, initrd] = (buildOut.at(-1) ?? "").split(" ");
  const timeout = Number(Deno.env.get("SHIFTER_VM_TIMEOUT") ?? "300");
  const watchdog = Math.max(30, timeout - 20);
  const bootStart = performance.now();
  const qemu = await new Deno.Command("timeout", {
    args: [
      "--kill-after=5",
      String(timeout),
      "qemu-system-x86_64",
      "-accel",
      "tcg",
      "-cpu",
      "max",
      "-smp",
      "2",
      "-m",
      "1536",
      "-nographic",
      "-no-reboot",
      "-nic",
      "none",
      "-kernel",
      kernel!,
      "-initrd",
      initrd!,
      "-append",
      `console=ttyS0 panic=-1 oops=panic quiet WATCHDOG=${watchdog}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(qemu.stdout) +
    new TextDecoder().decode(qemu.stderr);
  const log = Deno.env.get("SHIFTER_VM_LOG") ?? `${CACHE}/console.log`;
  Deno.writeTextFileSync(log, text);
  const verdicts = new Map<string, Verdict>();
  for (
    const m of text.matchAll(/^SHIFTER-VERDICT (\S+) (PASS|FAIL) ?(.*?)\r?$/gm)
  ) {
    verdicts.set(m[1]!, { ok: m[2] === "PASS", detail: m[3] ?? "" });
  }
  const seconds = (performance.now() - bootStart) / 1000;
  console.log(
    `kernel VM: build ${((bootStart - t0) / 1000).toFixed(1)} s, qemu ${seconds.toFixed(1)} s, ` +
      `${verdicts.size} verdicts, console log at ${log}`,
  );
  const failure = qemu.code === 124 || qemu.code === 137
    ? `qemu killed after ${timeout} s (see ${log})`
    : undefined;
  return failure === undefined
    ? { verdicts, console: text, seconds }
    : { verdicts, console: text, seconds, failure };
}

function verdictsOnce(): Promise<VmRun> {
  vm ??= bootOnce();
  return vm;
}

for (const name of CHECKS) {
  Deno.test({
    name: `kernel VM: ${name}`,
    ignore: reason !== undefined && !inCi,
    async fn() {
      const run = await verdictsOnce();
      const v = run.verdicts.get(name);
      if (!v) {
        const hint = run.failure ?? "the VM stopped before reporting it";
        const tail = run.console.split("\n").slice(-15).join("\n");
        throw new Error(
          `no verdict for ${name}: ${hint}\n--- console tail ---\n${tail}`,
        );
      }
      if (!v.ok) throw new Error(`${name} failed in the VM: ${v.detail}`);
      console.log(`  ${v.detail}`);
    },
  });
}

Deno.test({
  name: "kernel VM: every check the VM reported has a test here",
  ignore: reason !== undefined && !inCi,
  async fn() {
    const run = await verdictsOnce();
    // "watchdog" and "modules" are the init script's own (failure-only) verdicts.
    const known = new Set<string>([...CHECKS, "watchdog", "modules"]);
    const unknown = [...run.verdicts.keys()].filter((name) => !known.has(name));
    if (unknown.length) {
      throw new Error(`verdicts with no test (add them to CHECKS): ${unknown.join(", ")}`);
    }
  },
});

Deno.test({
  name: "kernel VM: console shows no BUG, Oops or WARNING and the watchdog never fired",
  ignore: reason !== undefined && !inCi,
  async fn() {
    const run = await verdictsOnce();
    const bad = run.console.split("\n").filter((l) =>
      /\bBUG\b|Oops|WARNING|Call Trace|Kernel panic/.test(l) &&
      !l.startsWith("SHIFTER-VERDICT")
    );
    if (bad.length) {
      throw new Error(`kernel console:\n${bad.slice(0, 10).join("\n")}`);
    }
    const watchdog = run.verdicts.get("watchdog");
    if (watchdog) throw new Error(`watchdog: ${watchdog.detail}`);
    if (!/SHIFTER-SUITE-EXIT 0/.test(run.console)) {
      throw new Error(
        "the in-VM suite did not exit cleanly (no SHIFTER-SUITE-EXIT 0)",
      );
    }
  },
});
