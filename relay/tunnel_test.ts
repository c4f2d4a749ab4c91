import assert from "node:assert/strict";
import fc from "fast-check";
import { resetConn } from "../sys/socket.ts";
import { fakeUpstream } from "./_test_upstream.ts";
import { isSafeTarget, openTunnel, type TunnelCanceller, TunnelError } from "./tunnel.ts";
import { parseUpstream } from "./upstream.ts";
import { promotedPer } from "./_promotion.ts";

const enc = new TextEncoder();
const upstreamAt = (port: number, auth = "") => parseUpstream(`http://${auth}127.0.0.1:${port}`);

async function failure(port: number, timeoutMs = 500): Promise<TunnelError> {
  const error = await openTunnel(upstreamAt(port), "192.0.2.1:443", {
    replyTimeoutMs: timeoutMs,
    connectTimeoutMs: timeoutMs,
  }).then(() => undefined, (e) => e);
  assert.ok(
    error instanceof TunnelError,
    `expected a TunnelError, got ${error}`,
  );
  return error;
}

Deno.test("openTunnel() sends CONNECT with Host and Proxy-Authorization, keeps early bytes", async () => {
  await using up = fakeUpstream(async (conn) => {
    await conn.write(
      enc.encode("HTTP/1.1 200 Connection established\r\n\r\n220 banner\r\n"),
    );
  });
  const tunnel = await openTunnel(
    upstreamAt(up.port, "u:p@"),
    "[2001:db8::1]:25",
  );
  tunnel.conn.close();
  assert.equal(tunnel.status, 200);
  assert.equal(new TextDecoder().decode(tunnel.early), "220 banner\r\n");
  assert.equal(
    up.requests[0],
    `CONNECT [2001:db8::1]:25 HTTP/1.1\r\nHost: [2001:db8::1]:25\r\nProxy-Authorization: Basic ${
      btoa("u:p")
    }\r\n\r\n`,
  );
});

Deno.test("openTunnel() reads a reply that arrives one byte at a time", async () => {
  await using up = fakeUpstream(async (conn) => {
    for (const b of enc.encode("HTTP/1.0 200 OK\r\n\r\n")) {
      await conn.write(new Uint8Array([b]));
    }
  });
  const tunnel = await openTunnel(upstreamAt(up.port), "192.0.2.1:443");
  tunnel.conn.close();
  assert.equal(tunnel.early, undefined);
});

// A fake upstream: Squid never sends an interim reply or bare LFs to CONNECT,
// but a proxy may (RFC 9110 §15.2, RFC 9112 §2.2).
Deno.test("openTunnel() skips an interim 100 and reads a bare-LF answer, keeping the bytes after it", async () => {
  await using up = fakeUpstream(async (conn) => {
    await conn.write(enc.encode("HTTP/1.1 100 Continue\r\n\r\n"));
    await conn.write(enc.encode("HTTP/1.0 200 OK\nVia: p\n\nbanner"));
  });
  const tunnel = await openTunnel(upstreamAt(up.port), "192.0.2.1:443");
  tunnel.conn.close();
  assert.equal(tunnel.status, 200);
  assert.equal(new TextDecoder().decode(tunnel.early), "banner");
});

Deno.test("openTunnel() fails on 407 without failover", async () => {
  await using up = fakeUpstream(async (conn) => {
    await conn.write(
      enc.encode(
        "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
      ),
    );
  });
  const error = await failure(up.port);
  assert.equal(error.failure, "status");
  assert.equal(error.status, 407);
  assert.equal(error.upstreamFailed, false);
  assert.match(
    error.message,
    /upstream answered 407 Proxy Authentication Required/,
  );
});

Deno.test("openTunnel() fails on a garbage reply", async () => {
  await using up = fakeUpstream(async (conn) => {
    await conn.write(enc.encode("SSH-2.0-OpenSSH_9.2\r\n"));
  });
  const error = await failure(up.port);
  assert.equal(error.failure, "protocol");
  assert.ok(error.upstreamFailed);
});

Deno.test("openTunnel() fails on a reply header over 16 KiB", async () => {
  await using up = fakeUpstream(async (conn) => {
    await conn.write(enc.encode("HTTP/1.1 200 OK\r\n"));
    const line = enc.encode(`X-Pad: ${"a".repeat(1000)}\r\n`);
    for (let i = 0; i < 40; i++) await conn.write(line);
  });
  const error = await failure(up.port);
  assert.equal(error.failure, "protocol");
  assert.match(error.message, /over 16384 bytes/);
});

Deno.test("openTunnel() reads a 10 KiB reply header and keeps the bytes after it", async () => {
  await using up = fakeUpstream(async (conn) => {
    const pad = `X-Pad: ${"a".repeat(1000)}\r\n`.repeat(10);
    await conn.write(enc.encode(`HTTP/1.1 200 OK\r\n${pad}\r\nSSH-2.0-x`));
    await conn.read(new Uint8Array(16));
  });
  const tunnel = await openTunnel(upstreamAt(up.port), "192.0.2.1:22");
  try {
    assert.equal(tunnel.status, 200);
    assert.equal(new TextDecoder().decode(tunnel.early), "SSH-2.0-x");
  } finally {
    tunnel.conn.close();
  }
});

Deno.test("openTunnel() times out on a reply that never ends", async () => {
  await using up = fakeUpstream(async (conn) => {
    await conn.write(enc.encode("HTTP/1.1 200 OK\r\nX-Slow: "));
    await new Promise((r) => setTimeout(r, 2000));
  });
  const started = performance.now();
  const error = await failure(up.port, 300);
  assert.equal(error.failure, "reply-timeout");
  assert.ok(performance.now() - started < 1500);
});

Deno.test("openTunnel() times out on an upstream that accepts and stalls", async () => {
  await using up = fakeUpstream(async () => {
    await new Promise((r) => setTimeout(r, 2000));
  });
  const error = await failure(up.port, 300);
  assert.equal(error.failure, "reply-timeout");
});

Deno.test("openTunnel() fails when the upstream closes mid-reply", async () => {
  await using up = fakeUpstream(async (conn) => {
    await conn.write(enc.encode("HTTP/1.1 200 OK\r\n"));
  });
  const error = await failure(up.port);
  assert.equal(error.failure, "closed");
  assert.ok(error.upstreamFailed);
});

Deno.test("openTunnel() tells a close without a reply from one mid-reply", async () => {
  await using closes = fakeUpstream(async () => {});
  const error = await failure(closes.port);
  assert.equal(error.failure, "no-reply");
  assert.match(error.message, /closed the connection without a reply/);
  assert.ok(error.upstreamFailed);
  await using resets = fakeUpstream((conn) => {
    resetConn(conn);
    return Promise.resolve();
  });
  assert.equal((await failure(resets.port)).failure, "no-reply");
});

Deno.test("openTunnel() fails fast when the upstream refuses", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  const error = await failure(port);
  assert.equal(error.failure, "connect");
});

Deno.test("openTunnel() refuses a target that could inject headers", async () => {
  await assert.rejects(
    openTunnel(upstreamAt(1), "evil.test\r\nX-Injected: 1:443"),
    TypeError,
  );
});

// The target grammar as a regular expression: isSafeTarget() reads
// characters instead, and must agree with it on every string.
const SAFE_TARGET = /^[A-Za-z0-9.\-]+:[0-9]{1,5}$|^\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}$/;

Deno.test("isSafeTarget() accepts exactly HOST:PORT and [IPv6]:PORT", () => {
  for (const ok of ["a.test:443", "A-1.b:1", "[::1]:80", "[2001:DB8::a.1]:65535", "1.2.3.4:08"]) {
    assert.ok(isSafeTarget(ok), ok);
  }
  for (
    const bad of [
      "",
      ":443",
      "a.test",
      "a.test:",
      "a.test:123456",
      "a_b:1",
      "[]:1",
      "[::1:1",
      "::1:443",
      "a.test\r\nX: 1:443",
      "a.test:44\n",
      "[::g]:1",
      "é.test:1",
    ]
  ) {
    assert.ok(!isSafeTarget(bad), JSON.stringify(bad));
  }
  // Mostly near-valid shapes, each part sometimes wrong.
  const chars = (alphabet: string[], max: number) =>
    fc.array(fc.constantFrom(...alphabet), { maxLength: max }).map((c) => c.join(""));
  const odd = ["_", " ", "\r", "\n", ":", "[", "]", "é", "g"];
  const host = fc.oneof(
    chars(["a", "Z", "0", "9", ".", "-", ...odd], 6),
    chars(["0", "f", "A", ":", ".", ...odd], 6).map((h) => `[${h}]`),
  );
  const targets = fc.tuple(
    host,
    fc.constantFrom(":", ":", ":", "", "::"),
    chars(["0", "9", "x"], 7),
  )
    .map((p) => p.join(""));
  fc.assert(
    fc.property(targets, (target) => {
      assert.equal(isSafeTarget(target), SAFE_TARGET.test(target), JSON.stringify(target));
    }),
    { numRuns: 20_000 },
  );
});

Deno.test("openTunnel() gives up when cancelled, closing its connection", async () => {
  let closed!: () => void;
  const upstreamSawClose = new Promise<void>((r) => closed = r);
  await using up = fakeUpstream(async (conn) => {
    // Never answers; reads until the relay closes.
    while (await conn.read(new Uint8Array(16)) !== null) { /* more */ }
    closed();
  });
  const canceller: TunnelCanceller = { cancel: undefined };
  const opening = openTunnel(upstreamAt(up.port), "192.0.2.1:443", { canceller });
  while (up.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
  assert.equal(typeof canceller.cancel, "function", "cancellable while the reply is awaited");
  canceller.cancel!();
  const error = await opening.then(() => assert.fail("opened"), (e) => e);
  assert.ok(error instanceof TunnelError);
  assert.equal(error.failure, "cancelled");
  assert.equal(error.upstreamFailed, false, "giving up says nothing about the upstream");
  assert.equal(canceller.cancel, undefined, "nothing left to cancel");
  await upstreamSawClose;
});

Deno.test("openTunnel() leaves nothing for the young-generation collector to promote", async () => {
  // A closure born in the old generation (a function literal assigned
  // straight to a property) made each tunnel's objects outlive every
  // scavenge: about 1200 bytes promoted per tunnel, against none without it.
  const promoted = await promotedPer("tunnel", 2000);
  assert.ok(promoted < 300, `${promoted} bytes promoted per tunnel opened and closed`);
});
