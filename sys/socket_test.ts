import assert from "node:assert/strict";
import { findConnFd } from "./fd.ts";
import { getsockname } from "./libc.ts";
import { withLoopbackPair } from "./loopback.ts";
import { resetConn } from "./socket.ts";

/** What the peer of a reset or closed connection reads: "reset" or "eof". */
async function outcome(conn: Deno.Conn): Promise<"reset" | "eof"> {
  const buf = new Uint8Array(64);
  try {
    while (await conn.read(buf) !== null) { /* drain */ }
    return "eof";
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionReset) return "reset";
    throw error;
  }
}

Deno.test("resetConn() resets a connection from Deno.connect(): its peer reads a reset, not an end of stream", async () => {
  await withLoopbackPair(async (connected, accepted) => {
    await connected.write(new Uint8Array([1, 2, 3]));
    assert.equal(resetConn(connected, accepted), true);
    assert.equal(await outcome(accepted), "reset");
  });
});

Deno.test("resetConn() resets an accepted connection", async () => {
  await withLoopbackPair(async (connected, accepted) => {
    assert.equal(resetConn(accepted), true);
    assert.equal(await outcome(connected), "reset");
  });
});

Deno.test("findConnFd() finds each of 40 connections from Deno.connect() near its hint, and none out of reach", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pairs: [Deno.TcpConn, Deno.TcpConn][] = [];
  const open = async () => {
    const c = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    pairs.push([c, await listener.accept()]);
    return pairs.at(-1)!;
  };
  try {
    for (let i = 0; i < 40; i++) await open();
    const sockaddr = new Uint8Array(128);
    const found = new Set<number>();
    for (const [connected, accepted] of pairs) {
      const fd = findConnFd(connected, findConnFd(accepted));
      assert.ok(fd !== undefined);
      assert.ok(getsockname(fd, sockaddr) > 0);
      assert.equal((sockaddr[2]! << 8) | sockaddr[3]!, connected.localAddr.port);
      found.add(fd);
    }
    assert.equal(found.size, 40, "forty different descriptors");
    // 300 more pairs put the next one's descriptors past 600: with a hint
    // of 0 it is out of reach (256), and is not looked for elsewhere.
    for (let i = 0; i < 300; i++) await open();
    const [far, farAccepted] = await open();
    assert.equal(findConnFd(far), undefined);
    assert.ok(findConnFd(far, findConnFd(farAccepted)) !== undefined);
    // 20 000 probes a second in all: eighty fruitless searches (256 each,
    // upwards from 0) spend them, and then even a near one is not looked
    // for until the next second. Retried if the second turns meanwhile.
    let spent: number | undefined | "retry" = "retry";
    for (let attempt = 0; attempt < 3 && spent === "retry"; attempt++) {
      const second = Math.floor(performance.now() / 1000);
      for (let i = 0; i < 80; i++) findConnFd(far);
      spent = findConnFd(far, findConnFd(farAccepted));
      if (Math.floor(performance.now() / 1000) !== second) spent = "retry";
    }
    assert.equal(spent, undefined, "no probes left this second");
  } finally {
    for (const [c, a] of pairs) {
      c.close();
      a.close();
    }
    listener.close();
  }
});

Deno.test("findConnFd() finds nothing for a closed connection, and resetConn() then only closes", async () => {
  let closed: Deno.TcpConn | undefined;
  await withLoopbackPair((connected) => {
    closed = connected;
  });
  assert.equal(findConnFd(closed!), undefined);
  assert.equal(resetConn(closed!), false);
});
