import assert from "node:assert/strict";
import { parseUpstream, UpstreamPool } from "./upstream.ts";

Deno.test("parseUpstream() takes host, port and Basic credentials", () => {
  const u = parseUpstream("http://al%40ice:p%3Ass@proxy.example:3128");
  assert.equal(u.hostname, "proxy.example");
  assert.equal(u.port, 3128);
  assert.equal(u.label, "proxy.example:3128");
  assert.equal(u.authorization, `Basic ${btoa("al@ice:p:ss")}`);
});

Deno.test("parseUpstream() handles IPv6 literals and an explicit :80", () => {
  assert.equal(parseUpstream("http://[::1]:3128").label, "[::1]:3128");
  assert.equal(parseUpstream("http://[::1]:3128").hostname, "::1");
  assert.equal(parseUpstream("http://10.0.0.1:80").port, 80);
  assert.equal(parseUpstream("http://10.0.0.1:3128").authorization, undefined);
});

Deno.test("parseUpstream() rejects unusable URLs with the reason", async (t) => {
  const cases: [string, RegExp][] = [
    ["proxy:3128", /must use http:\/\//],
    ["not a url", /is not a URL/],
    ["https://p:3128", /must use http:\/\//],
    ["socks5://p:1080", /must use http:\/\//],
    ["http://p", /needs a port/],
    ["http://[::1]", /needs a port/],
    ["http://p:", /needs a port/],
    ["http://p:3128/path", /path or query/],
    ["http://p:0", /port 1-65535/],
    ["http://u:50%off@p:3128", /not valid percent-encoding/],
  ];
  for (const [text, reason] of cases) {
    await t.step(text, () => assert.throws(() => parseUpstream(text), reason));
  }
});

Deno.test("UpstreamPool tries held-down upstreams last, and forgets after the hold-down", () => {
  let now = 1000;
  const [a, b, c] = ["http://a:1", "http://b:1", "http://c:1"].map(
    parseUpstream,
  );
  const pool = new UpstreamPool([a!, b!, c!], {
    holdDownMs: 100,
    now: () => now,
  });
  assert.deepEqual(pool.order().map((u) => u.hostname), ["a", "b", "c"]);
  assert.equal(pool.markDown(a!), true);
  assert.equal(pool.markDown(a!), false);
  assert.deepEqual(pool.order().map((u) => u.hostname), ["b", "c", "a"]);
  now += 101;
  assert.deepEqual(pool.order().map((u) => u.hostname), ["a", "b", "c"]);
  pool.markDown(b!);
  assert.equal(pool.markUp(b!), true);
  assert.deepEqual(pool.order().map((u) => u.hostname), ["a", "b", "c"]);
});

Deno.test("parseUpstream() takes a password with a raw @ (the last @ ends the credentials)", () => {
  const u = parseUpstream("http://u:p@ss@proxy:3128");
  assert.equal(u.label, "proxy:3128");
  assert.equal(u.authorization, `Basic ${btoa("u:p@ss")}`);
});

Deno.test("parseUpstream() never puts the credentials into an error", async (t) => {
  for (
    const text of [
      "https://alice:s3cret@p:3128",
      "http://alice:s3cret@p",
      "http://alice:s3cret@p:3128/x",
      "http://alice:s3cret%@p:3128",
      "http://alice:s3cret@p:0",
      "http://alice:s3c/ret@p:3128",
      "http://alice:s3c?ret@p:3128",
      "http://alice:s3c#ret@p:3128",
      "http://alice/s3cret@p:3128",
    ]
  ) {
    await t.step(text, () => {
      assert.throws(() => parseUpstream(text), (error) => {
        assert.ok(error instanceof TypeError, `${text} must be refused`);
        assert.ok(!error.message.includes("s3cret"), error.message);
        assert.ok(error.message.includes("***@p"), error.message);
        return true;
      });
    });
  }
});

Deno.test("parseUpstream() says how to write / ? # in a password", () => {
  assert.throws(
    () => parseUpstream("http://alice:s3c/ret@p:3128"),
    /"http:\/\/\*\*\*@p:3128" is not a URL .*%2F %3F %23/,
  );
  // A password that leaves a URL behind (host alice, port 12, a query).
  assert.throws(
    () => parseUpstream("http://alice:12?x@p:3128"),
    /"http:\/\/\*\*\*@p:3128" must not have a path or query \(write .*%2F %3F %23\)/,
  );
  assert.equal(
    parseUpstream("http://alice:s3c%2Fret@p:3128").authorization,
    `Basic ${btoa("alice:s3c/ret")}`,
  );
});
