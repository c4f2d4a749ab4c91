/**
 * End to end, as on an office gateway: a client namespace whose TCP the
 * gateway namespace REDIRECTs (iptables and ip6tables nat PREROUTING) to
 * Shifter, which tunnels through a real Squid to an origin namespace. Real
 * curl clients; raw TCP clients only for what curl cannot show.
 *
 * The tests share one topology, built by the first and torn down by the
 * last, so they run in file order and do not sanitize per test.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import {
  hasProgram,
  NETNS_REQUIREMENTS,
  ROOT,
  run,
  skipUnless,
  SQUID_REQUIREMENTS,
  waitFor,
} from "./_env.ts";
import { type Squid, startSquid } from "./_squid.ts";
import { createTopology, type Topology } from "./_topology.ts";
import { patternBytes } from "./fixtures/pattern.ts";

const ignore = skipUnless("end-to-end namespace tests", {
  ...NETNS_REQUIREMENTS,
  ...SQUID_REQUIREMENTS,
  openssl: hasProgram("openssl"),
});
const MIB = 1024 * 1024;
const SHIFTER_PORT = 3130,
  HALF_CLOSE_PORT = 3131,
  VERIFIED_PORT = 3132,
  SQUID_PORT = 3128,
  PASS_PORT = 3129;

interface Daemon {
  child: Deno.ChildProcess;
  lines: string[];
  exited: Promise<Deno.CommandStatus>;
}

interface World {
  topo: Topology;
  dir: string;
  cert: string;
  squid: Squid;
  origin: Deno.ChildProcess;
  passProxy: Deno.ChildProcess;
  shifter: Daemon;
  shifterHalf: Daemon;
  shifterVerified: Daemon;
  /** Undoes the setup, last step first; also run when the setup fails. */
  undo: (() => unknown)[];
}

/** The shared setup, or its failure (every test then fails with it). */
let world: Promise<World> | undefined;

async function stopProcess(p: Deno.ChildProcess): Promise<void> {
  try {
    p.kill("SIGKILL");
  } catch { /* exited */ }
  await p.status;
}

async function undoAll(undo: (() => unknown)[]): Promise<void> {
  for (const step of undo.splice(0).reverse()) {
    try {
      await step();
    } catch { /* best effort: go on with the rest */ }
  }
}

/** Squid on the gateway: names of the test hosts, and a dstdomain ACL. */
const SQUID_OPTIONS = (topo: Topology) => ({
  port: SQUID_PORT,
  netns: topo.gateway,
  hosts: ["10.77.2.2 site.test blocked.test", "10.77.2.99 wrong.test"],
  // -n: no reverse DNS for address-only CONNECTs (the test has no DNS server).
  extra: ["acl blocked dstdomain -n blocked.test", "http_access deny blocked"],
});

function startShifter(
  topo: Topology,
  port: number,
  upstream: string,
  extra: string[] = [],
): Daemon {
  const child = topo.spawn(topo.gateway, [
    Deno.execPath(),
    "run",
    "-A",
    `${ROOT}mod.ts`,
    "--listen",
    `[::]:${port}`,
    "--upstream",
    upstream,
    "--resolver",
    "sockopt",
    "--log-format",
    "json",
    "--idle-timeout",
    "30s",
    "--drain-timeout",
    "20s",
    ...extra,
  ], { stdout: "null", stderr: "piped" });
  const lines: string[] = [];
  (async () => {
    let rest = "";
    for await (
      const chunk of child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      lines.push(...parts);
    }
  })();
  return { child, lines, exited: child.status };
}

/**
 * Wait for a log line written after the first `mark` lines that matches
 * (Shifter writes a connection's line when it ends, possibly after the
 * client is done).
 */
async function nextLog(
  d: Daemon,
  mark: number,
  match: (line: Record<string, unknown>) => boolean,
  what: string,
): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await waitFor(() => (found = logs(d).slice(mark).find(match)) !== undefined, what);
  return found!;
}

function logs(d: Daemon): Record<string, unknown>[] {
  return d.lines.flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
}

async function listening(topo: Topology, port: number): Promise<boolean> {
  const out = await topo.exec(topo.gateway, "ss", "-Hltn", `sport = :${port}`);
  return out.includes(`:${port}`);
}

async function setup(): Promise<World> {
  // Built step by step, each with its undo, so that a failure halfway
  // leaves nothing behind; the undo of Squid reads w.squid when it runs (a
  // test restarts Squid).
  const w = { undo: [] as (() => unknown)[] } as World;
  try {
    w.topo = await createTopology("shtest");
    w.undo.push(() => w.topo.destroy());
    w.dir = await Deno.makeTempDir({ prefix: "shifter-e2e-" });
    w.undo.push(() => Deno.remove(w.dir, { recursive: true }));
    w.cert = `${w.dir}/cert.pem`;
    await run(
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=site.test",
      "-addext",
      "subjectAltName=DNS:site.test,IP:10.77.2.2,IP:fd77:2::2",
      "-days",
      "2",
      "-keyout",
      `${w.dir}/key.pem`,
      "-out",
      w.cert,
    );
    w.origin = w.topo.spawn(w.topo.origin, [
      Deno.execPath(),
      "run",
      "-A",
      `${ROOT}tests/fixtures/origin.ts`,
      w.cert,
      `${w.dir}/key.pem`,
    ], { stdout: "null", stderr: "inherit" });
    w.undo.push(() => stopProcess(w.origin));
    // The gateway's system resolver (for name-verified) reads this hosts file:
    // `ip netns exec` mounts /etc/netns/NAME/hosts over /etc/hosts.
    await Deno.mkdir(`/etc/netns/${w.topo.gateway}`, { recursive: true });
    w.undo.push(() => Deno.remove(`/etc/netns/${w.topo.gateway}`, { recursive: true }));
    await Deno.writeTextFile(
      `/etc/netns/${w.topo.gateway}/hosts`,
      "127.0.0.1 localhost\n::1 localhost ip6-localhost\n10.77.2.2 site.test\n10.77.2.99 wrong.test\n",
    );
    w.squid = await startSquid(SQUID_OPTIONS(w.topo));
    w.undo.push(() => w.squid.stop());
    w.passProxy = w.topo.spawn(w.topo.gateway, [
      Deno.execPath(),
      "run",
      "-A",
      `${ROOT}tests/fixtures/connect_proxy.ts`,
      "127.0.0.1",
      String(PASS_PORT),
    ], { stdout: "null", stderr: "inherit" });
    w.undo.push(() => stopProcess(w.passProxy));
    // Half-close needs an upstream that passes it: Squid 5 ends the tunnel.
    await w.topo.redirect(HALF_CLOSE_PORT, ["--dport", "7007"]);
    await w.topo.redirect(VERIFIED_PORT, ["--dport", "8443"]);
    await w.topo.redirect(SHIFTER_PORT);
    w.shifter = startShifter(w.topo, SHIFTER_PORT, `http://127.0.0.1:${SQUID_PORT}`);
    w.undo.push(() => stopProcess(w.shifter.child));
    w.shifterHalf = startShifter(w.topo, HALF_CLOSE_PORT, `http://127.0.0.1:${PASS_PORT}`);
    w.undo.push(() => stopProcess(w.shifterHalf.child));
    w.shifterVerified = startShifter(w.topo, VERIFIED_PORT, `http://127.0.0.1:${SQUID_PORT}`, [
      "--connect-by",
      "name-verified",
      "--tls-ports",
      "8443",
    ]);
    w.undo.push(() => stopProcess(w.shifterVerified.child));
    await waitFor(
      async () =>
        await listening(w.topo, SHIFTER_PORT) &&
        await listening(w.topo, HALF_CLOSE_PORT) &&
        await listening(w.topo, VERIFIED_PORT) &&
        await listening(w.topo, PASS_PORT),
      "Shifter and the pass-through proxy",
      20_000,
    );
    await waitFor(
      async () => {
        const out = await new Deno.Command("ip", {
          args: ["netns", "exec", w.topo.origin, "ss", "-Hltn", "sport = :443"],
        }).output();
        return new TextDecoder().decode(out.stdout).includes(":443");
      },
      "the origin",
      20_000,
    );
    return w;
  } catch (error) {
    await undoAll(w.undo);
    throw error;
  }
}

function getWorld(): Promise<World> {
  return world ??= setup();
}

function curl(w: World, ...args: string[]): Promise<string> {
  return w.topo.exec(
    w.topo.client,
    "curl",
    "-sS",
    "--max-time",
    "60",
    "--cacert",
    w.cert,
    ...args,
  );
}

/** curl in the client namespace, for requests that may fail: its whole output. */
function curlOutput(w: World, ...args: string[]): Promise<Deno.CommandOutput> {
  return new Deno.Command("ip", {
    args: ["netns", "exec", w.topo.client, "curl", "-sS", ...args],
  }).output();
}

/** Run tests/fixtures/client.ts in the client namespace; its JSON line. */
function rawClient(w: World, ...args: string[]): Promise<string> {
  return w.topo.exec(
    w.topo.client,
    Deno.execPath(),
    "run",
    "-A",
    `${ROOT}tests/fixtures/client.ts`,
    ...args,
  );
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function patternSha256(size: number): string {
  const h = createHash("sha256");
  for (let off = 0; off < size; off += MIB) {
    h.update(patternBytes(off, Math.min(MIB, size - off)));
  }
  return h.digest("hex");
}

function fdCount(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

const opts = { ignore, sanitizeOps: false, sanitizeResources: false };

Deno.test({
  ...opts,
  name: "e2e: curl downloads 64 MiB over HTTPS through REDIRECT, Shifter and Squid, byte-exact",
  async fn() {
    const w = await getWorld();
    const out = await w.topo.exec(
      w.topo.client,
      "sh",
      "-c",
      `curl -sS --max-time 120 --cacert ${w.cert} 'https://10.77.2.2/bytes?n=${
        64 * MIB
      }' | sha256sum`,
    );
    assert.equal(out.split(" ")[0], patternSha256(64 * MIB));
    await waitFor(
      () => w.squid.accessLog().some((l) => l.includes("CONNECT 10.77.2.2:443")),
      "CONNECT 10.77.2.2:443 in Squid's log",
    );
    const line = await nextLog(
      w.shifter,
      0,
      (l) => l.dest === "10.77.2.2:443" && (l.bytes_down as number) > 64 * MIB,
      "one log line for the connection",
    );
    assert.equal(line.status, 200);
    // curl may close before the origin's last TLS record: then "client-reset".
    assert.match(String(line.close), /^(done|client-reset)$/);
    // Logged as the IPv4 address it is, not as [::ffff:10.77.1.2] (the
    // listener is dual-stack [::]).
    assert.match(String(line.client), /^10\.77\.1\.2:\d+$/);
  },
});

Deno.test({
  ...opts,
  name: "e2e: curl uploads 64 MiB over HTTPS, byte-exact",
  async fn() {
    const w = await getWorld();
    const file = `${w.dir}/upload.bin`;
    const data = patternBytes(7, 64 * MIB);
    await Deno.writeFile(file, data);
    const out = await curl(
      w,
      "--data-binary",
      `@${file}`,
      "https://10.77.2.2/sha256",
    );
    assert.equal(out.trim(), sha256(data));
    await Deno.remove(file);
  },
});

Deno.test({
  ...opts,
  name: "e2e: IPv6 clients are redirected and tunnelled (ip6tables REDIRECT, IP6T_SO_ORIGINAL_DST)",
  async fn() {
    const w = await getWorld();
    const out = await w.topo.exec(
      w.topo.client,
      "sh",
      "-c",
      `curl -sS -g --max-time 60 --cacert ${w.cert} 'https://[fd77:2::2]/bytes?n=${MIB}' 2>${w.dir}/v6.err | sha256sum`,
    );
    const why = () =>
      `curl: ${Deno.readTextFileSync(`${w.dir}/v6.err`)}; shifter: ${
        logs(w.shifter).filter((l) => String(l.dest).startsWith("[")).map((l) => l.close).join(", ")
      }`;
    assert.equal(out.split(" ")[0], patternSha256(MIB), why());
    // Squid writes the line when the tunnel closes, which may come after curl exits.
    await waitFor(
      () => w.squid.accessLog().some((l) => l.includes("CONNECT [fd77:2::2]:443")),
      "Squid's line for the IPv6 CONNECT",
    );
  },
});

Deno.test({
  ...opts,
  name: "e2e: plain HTTP on port 80 is tunnelled too",
  async fn() {
    const w = await getWorld();
    assert.equal(await curl(w, "http://10.77.2.2/hello"), "origin: /hello\n");
  },
});

Deno.test({
  ...opts,
  name: "e2e: 200 concurrent curl transfers all complete",
  async fn() {
    const w = await getWorld();
    const config = `${w.dir}/parallel.curl`;
    await Deno.writeTextFile(
      config,
      Array.from(
        { length: 200 },
        (_, i) => `url = "http://10.77.2.2/bytes?n=${65536 + i}"\noutput = "/dev/null"\n`,
      ).join(""),
    );
    const out = await w.topo.exec(
      w.topo.client,
      "curl",
      "-sS",
      "--max-time",
      "120",
      "--parallel",
      "--parallel-immediate",
      "--parallel-max",
      "200",
      "-w",
      "%{http_code} %{size_download}\\n",
      "-K",
      config,
    );
    const lines = out.trim().split("\n");
    assert.equal(lines.length, 200);
    const sizes = lines.map((l) => {
      const [code, size] = l.split(" ");
      assert.equal(code, "200");
      return Number(size);
    }).sort((a, b) => a - b);
    assert.deepEqual(sizes, Array.from({ length: 200 }, (_, i) => 65536 + i));
  },
});

Deno.test({
  ...opts,
  name: "e2e: a server-speaks-first protocol gets its greeting before the client sends",
  async fn() {
    const w = await getWorld();
    const out = await rawClient(w, "banner", "10.77.2.2", "2525");
    assert.deepEqual(JSON.parse(out), {
      banner: "220 origin.test ready\r\n",
      echo: "HELO client.test\r\n",
    });
  },
});

Deno.test({
  ...opts,
  name: "e2e: a client's half-close passes through to the origin, which still answers",
  async fn() {
    const w = await getWorld();
    const out = await rawClient(w, "halfclose", "10.77.2.2", "7007", String(3 * MIB + 17));
    assert.deepEqual(JSON.parse(out), { answer: `got ${3 * MIB + 17}\n` });
  },
});

function squidLinesSince(w: World, mark: number): string[] {
  return w.squid.accessLog().slice(mark);
}

Deno.test({
  ...opts,
  name: "e2e: HTTPS is tunnelled by its TLS server name: Squid logs CONNECT site.test:443",
  async fn() {
    const w = await getWorld();
    const mark = w.squid.accessLog().length;
    const logMark = logs(w.shifter).length;
    const out = await curl(w, "--resolve", "site.test:443:10.77.2.2", "https://site.test/named");
    assert.equal(out, "origin: /named\n");
    await waitFor(
      () => squidLinesSince(w, mark).some((l) => l.includes("CONNECT site.test:443")),
      "CONNECT site.test:443 in Squid's log",
    );
    const line = await nextLog(
      w.shifter,
      logMark,
      (l) => l.name === "site.test" && l.name_source === "sni",
      "Shifter's log line with the name and that it came from SNI",
    );
    assert.equal(line.dest, "10.77.2.2:443");
  },
});

Deno.test({
  ...opts,
  name:
    "e2e: HTTP is tunnelled by its Host header (port stripped): Squid logs CONNECT site.test:80",
  async fn() {
    const w = await getWorld();
    const mark = w.squid.accessLog().length;
    const logMark = logs(w.shifter).length;
    const out = await curl(w, "--resolve", "site.test:80:10.77.2.2", "http://site.test:80/host");
    assert.equal(out, "origin: /host\n");
    await waitFor(
      () => squidLinesSince(w, mark).some((l) => l.includes("CONNECT site.test:80")),
      "CONNECT site.test:80 in Squid's log",
    );
    await nextLog(
      w.shifter,
      logMark,
      (l) => l.name === "site.test" && l.name_source === "host",
      "Shifter's log line with the name from Host",
    );
  },
});

Deno.test({
  ...opts,
  name: "e2e: a client without SNI is tunnelled by address, and the log says why",
  async fn() {
    const w = await getWorld();
    const mark = w.squid.accessLog().length;
    const logMark = logs(w.shifter).length;
    await curl(w, "https://10.77.2.2/nosni");
    await waitFor(
      () => squidLinesSince(w, mark).some((l) => l.includes("CONNECT 10.77.2.2:443")),
      "CONNECT 10.77.2.2:443 in Squid's log",
    );
    const line = await nextLog(
      w.shifter,
      logMark,
      (l) => l.dest === "10.77.2.2:443",
      "Shifter's log line for the connection",
    );
    assert.equal(line.name_source, "none");
    assert.match(String(line.name_fallback), /no SNI|no server_name|no server name/i);
  },
});

Deno.test({
  ...opts,
  name: "e2e: Squid's dstdomain ACL applies to redirected HTTPS by its server name",
  async fn() {
    const w = await getWorld();
    const r = await curlOutput(
      w,
      "-k",
      "--max-time",
      "10",
      "--resolve",
      "blocked.test:443:10.77.2.2",
      "https://blocked.test/",
    );
    assert.notEqual(r.code, 0, "the blocked domain must not load");
    await waitFor(
      () => w.squid.accessLog().some((l) => /TCP_DENIED\/403 .*CONNECT blocked\.test:443/.test(l)),
      "TCP_DENIED/403 CONNECT blocked.test:443 in Squid's log",
    );
  },
});

Deno.test({
  ...opts,
  name: "e2e: name-verified tunnels by a name that resolves to the destination, else by address",
  async fn() {
    const w = await getWorld();
    const mark = w.squid.accessLog().length;
    const ok = await curl(w, "--resolve", "site.test:8443:10.77.2.2", "https://site.test:8443/v");
    assert.equal(ok, "origin: /v\n");
    // wrong.test resolves (on the gateway) to 10.77.2.99, not 10.77.2.2.
    const bad = await curl(
      w,
      "-k",
      "--resolve",
      "wrong.test:8443:10.77.2.2",
      "https://wrong.test:8443/w",
    );
    assert.equal(bad, "origin: /w\n");
    await waitFor(
      () => {
        const lines = squidLinesSince(w, mark);
        return lines.some((l) => l.includes("CONNECT site.test:8443")) &&
          lines.some((l) => l.includes("CONNECT 10.77.2.2:8443"));
      },
      "CONNECT site.test:8443 and CONNECT 10.77.2.2:8443 in Squid's log",
    );
    assert.ok(!squidLinesSince(w, mark).some((l) => l.includes("wrong.test")));
    const mismatch = await nextLog(
      w.shifterVerified,
      0,
      (l) => l.name === "wrong.test",
      "the name-verified instance's line for wrong.test",
    );
    assert.match(String(mismatch.name_fallback), /not verified/);
  },
});

Deno.test({
  ...opts,
  name: "e2e: a server name with CRLF reaches Squid as an address-only CONNECT, no header injected",
  async fn() {
    const w = await getWorld();
    const mark = w.squid.accessLog().length;
    const logMark = logs(w.shifter).length;
    await rawClient(w, "hello", "10.77.2.2", "443", JSON.stringify("evil.test\r\nX-Injected: 1"));
    await waitFor(
      () => squidLinesSince(w, mark).some((l) => l.includes("CONNECT 10.77.2.2:443")),
      "the address-only CONNECT in Squid's log",
    );
    const lines = squidLinesSince(w, mark);
    assert.ok(lines.every((l) => l.endsWith("xi=-")), lines.join("\n"));
    assert.ok(!lines.some((l) => l.includes("evil")), lines.join("\n"));
    const line = await nextLog(
      w.shifter,
      logMark,
      (l) => l.dest === "10.77.2.2:443",
      "Shifter's log line for the hostile connection",
    );
    assert.equal(line.name_source, "none");
    assert.match(String(line.name_fallback), /invalid|CR|LF/i);
  },
});

Deno.test({
  ...opts,
  name: "e2e: the loop guard refuses Shifter's own port and the upstream's, forwarding nothing",
  async fn() {
    const w = await getWorld();
    const before = w.squid.accessLog().length;
    for (const port of [SHIFTER_PORT, SQUID_PORT]) {
      const r = await curlOutput(w, "--max-time", "10", `http://10.77.1.1:${port}/`);
      assert.notEqual(
        r.code,
        0,
        `curl to the gateway's port ${port} must fail`,
      );
    }
    await waitFor(
      () => logs(w.shifter).filter((l) => String(l.close).startsWith("loop-refused")).length >= 2,
      "loop-refused log lines",
    );
    const refused = logs(w.shifter).filter((l) => String(l.close).startsWith("loop-refused"));
    assert.match(String(refused[0]!.close), /own listener/);
    assert.match(String(refused[1]!.close), /upstream proxy/);
    // Squid logs a tunnel only once it ends: the lines say none was opened.
    for (const l of refused) assert.equal(l.upstream, undefined, "no upstream was asked");
    assert.equal(w.squid.accessLog().length, before, "nothing reached Squid");
  },
});

Deno.test({
  ...opts,
  name: "e2e: a client going to the gateway's IPv6 link-local address is refused, not tunnelled",
  async fn() {
    const w = await getWorld();
    // The kernel gives lan0 its fe80:: address when the link comes up; wait
    // out duplicate address detection before dialling it.
    let linkLocal = "";
    await waitFor(async () => {
      const out = await w.topo.exec(
        w.topo.gateway,
        "ip",
        "-6",
        "-o",
        "addr",
        "show",
        "dev",
        "lan0",
      );
      const line = out.split("\n").find((l) => / inet6 fe80:/.test(l) && !l.includes("tentative"));
      linkLocal = line?.match(/inet6 (fe80:[0-9a-f:]+)\//)?.[1] ?? "";
      return linkLocal !== "";
    }, "lan0's link-local address");
    const before = w.squid.accessLog().length;
    const mark = w.shifter.lines.length;
    const r = await curlOutput(w, "-g", "--max-time", "10", `http://[${linkLocal}%25c0]/`);
    assert.notEqual(r.code, 0, "curl to a link-local address through Shifter must fail");
    const line = await nextLog(
      w.shifter,
      mark,
      (l) => String(l.dest).startsWith("[fe80:"),
      "Shifter's log line for the link-local connection",
    );
    // sockopt gave the address without its link: a CONNECT could not carry it.
    assert.equal(line.dest, `[${linkLocal}]:80`);
    assert.match(String(line.close), /^link-local-refused: /);
    // Squid logs a tunnel only once it ends: the line says none was opened.
    assert.equal(line.upstream, undefined, "no upstream was asked");
    assert.equal(w.squid.accessLog().length, before, "nothing reached Squid");
  },
});

Deno.test({
  ...opts,
  name: "e2e: no file descriptor left behind after 300 clients connect and reset at once",
  async fn() {
    const w = await getWorld();
    const pid = w.shifter.child.pid;
    const baseline = fdCount(pid);
    const mark = w.shifter.lines.length;
    const out = await rawClient(w, "storm", "10.77.2.2", "2525", "300");
    assert.equal(JSON.parse(out).opened, 300);
    const stormed = () =>
      logs({ ...w.shifter, lines: w.shifter.lines.slice(mark) })
        .filter((l) => l.dest === "10.77.2.2:2525").length;
    await waitFor(() => stormed() >= 300, "a log line per connection", 20_000)
      .catch((e) => {
        throw new Error(
          `${e.message}: ${stormed()} lines; last: ${w.shifter.lines.slice(-3).join(" | ")}`,
        );
      });
    await waitFor(
      () => fdCount(pid) <= baseline,
      `Shifter's descriptors back to ${baseline}`,
      20_000,
    );
  },
});

Deno.test({
  ...opts,
  name: "e2e: upstream down fails clients fast with a reset, and recovers when it is back",
  async fn() {
    const w = await getWorld();
    await w.squid.stop();
    const started = performance.now();
    const r = await curlOutput(w, "--max-time", "10", "--cacert", w.cert, "https://10.77.2.2/x");
    const elapsed = performance.now() - started;
    const why = `curl: ${new TextDecoder().decode(r.stderr)}; shifter: ${
      w.shifter.lines.slice(-3).join(" | ")
    }`;
    assert.notEqual(r.code, 0);
    assert.match(why, /^curl: [^;]*(reset|closed|SSL)/i, why);
    assert.ok(elapsed < 5000, `failed in ${elapsed} ms`);
    await waitFor(
      () => logs(w.shifter).some((l) => String(l.close).startsWith("upstream-failed")),
      "upstream-failed log line",
    );
    w.squid = await startSquid(SQUID_OPTIONS(w.topo));
    assert.equal(await curl(w, "https://10.77.2.2/back"), "origin: /back\n");
  },
});

Deno.test({
  ...opts,
  name: "e2e: SIGTERM stops accepting at once, lets a transfer in flight finish, exits 0",
  async fn() {
    const w = await getWorld();
    const size = 32 * MIB;
    const transfer = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        w.topo.client,
        "sh",
        "-c",
        `curl -sS --max-time 60 --limit-rate 8M --cacert ${w.cert} 'https://10.77.2.2/bytes?n=${size}' | sha256sum`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    // The transfer is in flight once Shifter has accepted it.
    await waitFor(
      async () =>
        (await w.topo.exec(
          w.topo.gateway,
          "ss",
          "-Htn",
          "state",
          "established",
          `( sport = :${SHIFTER_PORT} )`,
        )).trim() !== "",
      "the transfer to reach Shifter",
    );
    // `ss` lists a connection still in the accept queue too: give Shifter
    // the moment it takes to accept it (the transfer lasts about 4 s).
    await new Promise((r) => setTimeout(r, 500));
    w.shifter.child.kill("SIGTERM");
    await waitFor(
      async () => !(await listening(w.topo, SHIFTER_PORT)),
      "the listener to close",
      5000,
    );
    const refused = await curlOutput(w, "--max-time", "5", "http://10.77.2.2/late");
    assert.notEqual(
      refused.code,
      0,
      "a new connection is refused while draining",
    );
    const done = await transfer;
    assert.equal(
      new TextDecoder().decode(done.stdout).split(" ")[0],
      patternSha256(size),
    );
    const status = await w.shifter.exited;
    assert.equal(status.code, 0);
    await waitFor(() => w.shifter.lines.some((l) => l.includes("draining")), "the drain log line");
  },
});

Deno.test({
  ...opts,
  name: "e2e: teardown leaves no process or namespace behind",
  async fn() {
    // Whether the setup succeeded or failed, what it started is gone after.
    const w = await world?.catch(() => undefined);
    world = undefined;
    const started = w === undefined
      ? []
      : [w.origin, w.passProxy, w.shifter.child, w.shifterHalf.child, w.shifterVerified.child];
    if (w !== undefined) await undoAll(w.undo);
    for (const p of started) {
      // Each was killed and reaped: kill() on a reaped child throws.
      assert.throws(() => p.kill("SIGKILL"), TypeError);
    }
    const left = await run("ip", "netns", "list");
    assert.ok(!left.includes("shtest-"), left);
    assert.ok(!existsSync("/etc/netns/shtest-gw"), "the gateway's hosts file is removed");
  },
});
