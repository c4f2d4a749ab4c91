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

Deno.test("shifter stops cleanly when its resolver fails to close", async () => {
  const plugin = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    plugin,
    `export default () => ({ name: "stubborn", resolve: () => { throw new Error("unused"); }, close: () => { throw new Error("handle stuck"); } });`,
  );
  const port = (() => {
    using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return l.addr.port;
  })();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "--listen", `127.0.0.1:${port}`, "--resolver", plugin],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const dec = new TextDecoder();
  const reader = child.stderr.getReader();
  // A daemon that never logs what is awaited ends the reads, not the test run.
  const guard = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    while (!log.includes("listening on")) {
      const { value, done } = await reader.read();
      if (done) break;
      log += dec.decode(value);
    }
    child.kill("SIGTERM");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      log += dec.decode(value);
    }
  } finally {
    clearTimeout(guard);
    reader.releaseLock();
    await Deno.remove(plugin);
  }
  const { code } = await child.status;
  assert.equal(code, 0, log);
  assert.match(log, /Resolver stubborn did not close cleanly: handle stuck/);
  assert.match(log, /Stopped/);
});

Deno.test("shifter ignores SIGHUP with a warning, keeps serving, and still drains on SIGTERM", async () => {
  const port = (() => {
    using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return l.addr.port;
  })();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "--listen", `127.0.0.1:${port}`, "--resolver", "local"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const dec = new TextDecoder();
  const reader = child.stderr.getReader();
  // A daemon that never logs what is awaited ends the reads, not the test run.
  const guard = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const readUntil = async (text: string) => {
    while (!log.includes(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      log += dec.decode(value);
    }
  };
  try {
    await readUntil("listening on");
    child.kill("SIGHUP");
    await readUntil("SIGHUP ignored");
    // Still accepting after it.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    child.kill("SIGTERM");
    await readUntil("\u0000"); // to the end
  } finally {
    clearTimeout(guard);
    reader.releaseLock();
  }
  const { code, signal } = await child.status;
  assert.equal(signal, null, log);
  assert.equal(code, 0, log);
  assert.match(log, /SIGHUP ignored: Shifter has no configuration to reload/);
  assert.match(log, /SIGTERM: no longer accepting; draining/);
  assert.match(log, /Stopped/);
});
