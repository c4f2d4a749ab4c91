import assert from "node:assert/strict";
import { checkDirectIo, closeWriteDirect, directRid, readDirect, writeDirect } from "./io.ts";

async function pair(): Promise<[Deno.TcpConn, Deno.TcpConn, () => void]> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const a = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const b = await listener.accept();
  return [a, b, () => {
    a.close();
    b.close();
  }];
}

Deno.test("checkDirectIo() finds Deno's read/write ops on this Deno", async () => {
  assert.equal(await checkDirectIo(), undefined, `Deno ${Deno.version.deno} moved its core ops`);
});

for (const direct of [true, false]) {
  Deno.test(`${direct ? "direct ops" : "fallback to the methods"}: bytes, half-close and EOF as conn.read()/write() give them`, async () => {
    const [a, b, close] = await pair();
    try {
      const ra = direct ? directRid(a) : undefined;
      const rb = direct ? directRid(b) : undefined;
      if (direct) assert.equal(typeof ra, "number");
      const data = new Uint8Array(100_000).map((_, i) => i * 7);
      const writing = (async () => {
        for (let off = 0; off < data.length;) {
          off += await writeDirect(a, ra, data.subarray(off));
        }
        await closeWriteDirect(a, ra);
      })();
      const got = new Uint8Array(data.length + 1);
      let n = 0;
      for (let r; (r = await readDirect(b, rb, got.subarray(n))) !== 0;) n += r;
      await writing;
      assert.equal(n, data.length);
      assert.deepEqual(got.subarray(0, n), data);
      // The other direction still works after the half-close.
      assert.equal(await writeDirect(b, rb, new Uint8Array([9])), 1);
      const one = new Uint8Array(4);
      assert.equal(await readDirect(a, ra, one), 1);
      assert.equal(one[0], 9);
    } finally {
      close();
    }
  });
}

Deno.test("readDirect() on a closed connection rejects as conn.read() does", async () => {
  const [a, b] = await pair();
  const rid = directRid(a);
  a.close();
  b.close();
  await assert.rejects(readDirect(a, rid, new Uint8Array(4)), Deno.errors.BadResource);
  await assert.rejects(a.read(new Uint8Array(4)), Deno.errors.BadResource);
});
