import assert from "node:assert/strict";

const MOD = new URL("../mod.ts", import.meta.url).pathname;

async function shifter(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** A free loopback port (released again: the daemon binds it). */
function freePort(): number {
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return l.addr.port;
}

/**
 * The daemon on `port` with `args`, its stderr read on demand. A daemon that
 * never logs what is awaited is killed after 20 s: the reads end, not the
 * test run.
 */
function daemon(port: number, ...args: string[]) {
  return daemonWith({}, port, ...args);
}

/** {@linkcode daemon} with extra environment variables. */
function daemonWith(env: Record<string, string>, port: number, ...args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "--listen", `127.0.0.1:${port}`, ...args],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const dec = new TextDecoder();
  const reader = child.stderr.getReader();
  const guard = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const d = {
    child,
    log: "",
    /** Read until the log holds `text`, or to the end. */
    async readUntil(text: string): Promise<void> {
      while (!d.log.includes(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        d.log += dec.decode(value);
      }
    },
    /** Read to the end, then the exit status. */
    async end(): Promise<Deno.CommandStatus> {
      try {
        await d.readUntil("\u0000");
      } finally {
        clearTimeout(guard);
        reader.releaseLock();
      }
      return await child.status;
    },
  };
  return d;
}

Deno.test("shifter exits 2 with one line on a bad flag", async () => {
  const r = await shifter("--listen", "banana");
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.match(r.stderr, /^shifter: --listen "banana" is not HOST:PORT/);
});

Deno.test("shifter --check prints the settings and exits 0", async () => {
  const r = await shifter(
    "--check",
    "--upstream",
    "http://u:secret@127.0.0.1:3128",
  );
  assert.equal(r.code, 0);
  assert.match(r.stdout, /upstream: 127\.0\.0\.1:3128 \(with credentials\)/);
  assert.ok(!r.stdout.includes("secret"), "credentials stay out of the output");
});

Deno.test("shifter exits 1 with a clear reason when the resolver cannot start", async () => {
  // The example plugin refuses to start without SHIFTER_FIXED_DEST.
  const plugin = new URL("../examples/fixed_resolver.ts", import.meta.url).pathname;
  const r = await shifter("--listen", "127.0.0.1:39999", "--resolver", plugin);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /Cannot start: Cannot start resolver plugin ".*fixed_resolver.ts": set SHIFTER_FIXED_DEST/,
  );
});

Deno.test("shifter --check refuses a resolver that is neither a name nor a file", async () => {
  for (const spec of ["sokopt", "./nope.ts"]) {
    const r = await shifter("--check", "--resolver", spec);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /^shifter: (Unknown resolver "sokopt"|--resolver ".\/nope.ts" is not a file)/,
    );
  }
});

Deno.test("shifter exits 1 when its listen address is taken", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const r = await shifter(
    "--listen",
    `127.0.0.1:${taken.addr.port}`,
    "--resolver",
    "sockopt",
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Cannot start: .*(in use|AddrInUse)/i);
  assert.ok(r.stderr.includes(`Cannot listen on 127.0.0.1:${taken.addr.port}`), r.stderr);
});

/**
 * Start the daemon with a resolver plugin whose `close` is `close`, stop it
 * with SIGTERM once it listens, and return how it ended.
 */
async function stopWithResolver(name: string, close: string) {
  const plugin = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    plugin,
    `export default () => ({ name: "${name}", resolve: () => { throw new Error("unused"); }, close: ${close} });`,
  );
  const d = daemon(freePort(), "--resolver", plugin);
  let status: Deno.CommandStatus;
  try {
    await d.readUntil("listening on");
    d.child.kill("SIGTERM");
  } finally {
    status = await d.end();
    await Deno.remove(plugin);
  }
  return { code: status.code, log: d.log };
}

Deno.test("shifter stops cleanly when its resolver fails to close", async () => {
  const { code, log } = await stopWithResolver(
    "stubborn",
    `() => { throw new Error("handle stuck"); }`,
  );
  assert.equal(code, 0, log);
  assert.match(log, /Resolver stubborn did not close cleanly: handle stuck/);
  assert.match(log, /Stopped/);
});

Deno.test("shifter ignores SIGHUP with a warning, keeps serving, and still drains on SIGTERM", async () => {
  const port = freePort();
  const d = daemon(port, "--resolver", "local");
  let status: Deno.CommandStatus;
  try {
    await d.readUntil("listening on");
    d.child.kill("SIGHUP");
    await d.readUntil("SIGHUP ignored");
    // Still accepting after it. With --resolver local a direct connection
    // is refused as a loop, so its reset may beat connect()'s return: that
    // too says it was accepted (a closed listener refuses instead).
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
    }
    d.child.kill("SIGTERM");
  } finally {
    status = await d.end();
  }
  const { code, signal } = status;
  const log = d.log;
  assert.equal(signal, null, log);
  assert.equal(code, 0, log);
  assert.match(log, /SIGHUP ignored: Shifter has no configuration to reload/);
  assert.match(log, /SIGTERM: no longer accepting; draining/);
  assert.match(log, /Stopped/);
});

Deno.test("a second SIGTERM ends the drain, logging each connection; one at once is the first again", async () => {
  // A connection waiting for its ClientHello stays in the drain.
  const example = new URL("../examples/fixed_resolver.ts", import.meta.url).pathname;
  const port = freePort();
  const d = daemonWith(
    { SHIFTER_FIXED_DEST: "192.0.2.10:443" },
    port,
    "--resolver",
    example,
    "--sniff-timeout",
    "60s",
    "--drain-timeout",
    "60s",
    "--upstream",
    "http://127.0.0.1:9",
  );
  let status: Deno.CommandStatus;
  const started = performance.now();
  let conn: Deno.TcpConn | undefined;
  try {
    await d.readUntil("listening on");
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await new Promise((r) => setTimeout(r, 200));
    d.child.kill("SIGTERM");
    // Logged as the stop is handled, before the drain starts.
    await d.readUntil("no longer accepting");
    // The same stop delivered again a moment later, as `deno task` under
    // systemd's process-group kill passes it on: after the first was
    // handled (two at once would reach the process as one).
    d.child.kill("SIGTERM");
    await d.readUntil("Draining 1 connection(s)");
    await new Promise((r) => setTimeout(r, 1300));
    assert.doesNotMatch(d.log, /again|Stopped/, d.log);
    d.child.kill("SIGTERM");
  } finally {
    status = await d.end();
    conn?.close();
  }
  const log = d.log;
  assert.equal(status.signal, null, log);
  assert.equal(status.code, 0, log);
  assert.match(log, /SIGTERM again: closing the connections still open/);
  assert.match(log, /close=shutdown/);
  assert.match(log, /Stopped/);
  assert.ok(performance.now() - started < 20_000, "ended long before the 60 s drain");
});

Deno.test("shifter exits 0 when its resolver's close() never settles, after 5 s", async () => {
  const { code, log } = await stopWithResolver("stuck", "() => new Promise(() => {})");
  assert.equal(code, 0, log);
  assert.match(log, /Resolver stuck did not close cleanly: no end within 5000 ms/);
});
