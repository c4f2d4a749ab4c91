/**
 * The paths under test and the upstreams they tunnel through. Like redsocks'
 * table of `{ name, getdestaddr }`, each path is one entry: the address the
 * client dials and how to start its redirector (none for `direct`).
 *
 * @module
 */

import type { Netns } from "./_netns.ts";
import { Service } from "./_service.ts";
import { startTaskV8Flags } from "../scripts/start_flags.ts";

/** Port the origin listens on: not 80/443, so no sniffing is involved. */
export const ORIGIN_PORT = 5201;
/** Port of the fast upstream. */
export const FAST_UPSTREAM_PORT = 3129;
/** Port of Squid. */
export const SQUID_PORT = 3128;

/** Names of the paths, in the order of the table. */
export const PATH_NAMES = ["shifter", "redsocks", "direct"] as const;
/** One of {@linkcode PATH_NAMES}. */
export type PathName = typeof PATH_NAMES[number];

/** Everything a path needs to start its redirector. */
export interface PathContext {
  /** Namespace to run in. */
  ns: Netns;
  /** Upstream port on 127.0.0.1. */
  upstreamPort: number;
  /** Directory for configs and logs. */
  dir: string;
  /** Port to listen on (the REDIRECT target), new for every start. */
  port: number;
}

/** One path under test. */
export interface PathSpec {
  /** Path name. */
  name: PathName;
  /** Address the client dials; a REDIRECT rule catches it unless direct. */
  dest: string;
  /** Starts a fresh redirector; absent for direct. */
  start?: (ctx: PathContext) => Promise<Service>;
}

const SHIFTER_MOD = new URL("../mod.ts", import.meta.url).pathname;

/**
 * The `--v8-flags=...` of `deno task start`, so the bench runs Shifter the
 * way it is deployed (the V8 heap settings change its RSS per tunnel).
 */
export const SHIFTER_V8_FLAGS: string[] = startTaskV8Flags();

/** The three paths. */
export const PATHS: Record<PathName, PathSpec> = {
  shifter: {
    name: "shifter",
    dest: "10.99.1.1",
    start: (ctx) =>
      Service.start(ctx.ns, "shifter", [
        Deno.execPath(),
        "run",
        "-A",
        "--cached-only",
        ...SHIFTER_V8_FLAGS,
        SHIFTER_MOD,
        "--listen",
        `127.0.0.1:${ctx.port}`,
        "--upstream",
        `http://127.0.0.1:${ctx.upstreamPort}`,
        "--resolver",
        "sockopt",
        "--log-level",
        "warning",
      ], { log: `${ctx.dir}/shifter.log`, port: ctx.port }),
  },
  redsocks: {
    name: "redsocks",
    dest: "10.99.2.1",
    start: async (ctx) => {
      const conf = `${ctx.dir}/redsocks.conf`;
      await Deno.writeTextFile(
        conf,
        `base {
  log_debug = off;
  log_info = off;
  log = stderr;
  daemon = off;
  redirector = iptables;
}
redsocks {
  local_ip = 127.0.0.1;
  local_port = ${ctx.port};
  ip = 127.0.0.1;
  port = ${ctx.upstreamPort};
  type = http-connect;
  splice = true;
}
`,
      );
      return Service.start(ctx.ns, "redsocks", ["redsocks", "-c", conf], {
        log: `${ctx.dir}/redsocks.log`,
        port: ctx.port,
      });
    },
  },
  direct: { name: "direct", dest: "10.99.3.1" },
};

/** Which upstream a run uses. */
export type UpstreamKind = "fast" | "squid";

/**
 * Starts an upstream CONNECT proxy running as user `proxy`, whose own
 * connections the REDIRECT rules exempt.
 *
 * @param ns namespace to run in
 * @param kind `fast` (bench/upstream.c) or `squid`
 * @param bin path of the fast upstream binary
 * @param dir directory for configs and logs
 * @returns the running upstream, its port and `close()`, which stops it
 *   and, for Squid, copies its log into `dir`
 */
export async function startUpstream(
  ns: Netns,
  kind: UpstreamKind,
  bin: string,
  dir: string,
): Promise<{ service: Service; port: number; close: () => Promise<void> }> {
  if (kind === "fast") {
    const port = FAST_UPSTREAM_PORT;
    const service = await Service.start(ns, "upstream", [
      bin,
      "127.0.0.1",
      String(port),
      "proxy",
    ], { log: `${dir}/upstream.log`, port });
    return { service, port, close: () => service.close() };
  }
  // Squid drops to "proxy": its log and pid directory must be writable, and
  // reachable, which a checkout under /root is not.
  const sdir = await Deno.makeTempDir({ prefix: "shbench-squid-" });
  const conf = `${sdir}/squid.conf`;
  await Deno.writeTextFile(
    conf,
    `http_port 127.0.0.1:${SQUID_PORT}
http_access allow all
cache deny all
cache_mem 8 MB
access_log none
cache_store_log none
cache_log ${sdir}/cache.log
pid_filename ${sdir}/squid.pid
coredump_dir ${sdir}
cache_effective_user proxy
max_filedescriptors 16384
shutdown_lifetime 0 seconds
dns_nameservers 127.0.0.1
visible_hostname shbench
pinger_enable off
netdb_filename none
logfile_rotate 0
`,
  );
  await chown(sdir, "proxy");
  const close = async () => {
    await service?.close();
    for (const f of ["squid.conf", "cache.log"]) {
      await Deno.copyFile(`${sdir}/${f}`, `${dir}/${f}`).catch(() => {});
    }
    await Deno.remove(sdir, { recursive: true }).catch(() => {});
  };
  let service: Service | undefined;
  try {
    service = await Service.start(ns, "squid", [
      "squid",
      "-N",
      "-f",
      conf,
    ], { log: `${dir}/squid-stderr.log`, port: SQUID_PORT, timeoutMs: 30000 });
  } catch (err) {
    await close();
    throw err;
  }
  return { service, port: SQUID_PORT, close };
}

async function chown(path: string, user: string): Promise<void> {
  const out = await new Deno.Command("chown", {
    args: ["-R", `${user}:`, path],
  }).output();
  if (!out.success) throw new Error(`Cannot chown "${path}" to ${user}`);
}
