import assert from "node:assert/strict";
import {
  canonicalAddress,
  formatAddress,
  formatHostPort,
  parseAddress,
  parseHostPort,
  withoutZone,
} from "./address.ts";

Deno.test("formatAddress() writes RFC 5952 IPv6 and maps v4-mapped to IPv4", async (t) => {
  const cases: [string, string][] = [
    ["2001:db8:0:0:0:0:0:1", "2001:db8::1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["2001:db8:1:1:1:1:1:1", "2001:db8:1:1:1:1:1:1"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["fd77:1::2", "fd77:1::2"],
  ];
  for (const [input, want] of cases) {
    await t.step(
      input,
      () => assert.equal(formatAddress(parseAddress(input)!), want),
    );
  }
  assert.equal(formatAddress(new Uint8Array([10, 0, 0, 1])), "10.0.0.1");
  assert.throws(() => formatAddress(new Uint8Array(5)), RangeError);
});

Deno.test("parseAddress() rejects names", () => {
  assert.equal(parseAddress("example.com"), undefined);
  assert.equal(parseAddress("1.2.3.256"), undefined);
});

Deno.test("parseHostPort() parses HOST:PORT and [V6]:PORT, with one-line errors", () => {
  assert.deepEqual(parseHostPort("0.0.0.0:3130", "--listen"), {
    hostname: "0.0.0.0",
    port: 3130,
  });
  assert.deepEqual(parseHostPort("[::]:3130", "--listen"), {
    hostname: "::",
    port: 3130,
  });
  assert.throws(
    () => parseHostPort("::1:3130", "--listen"),
    /write IPv6 as \[ADDRESS\]:PORT/,
  );
  assert.throws(() => parseHostPort("host:0", "--listen"), /no valid port/);
  assert.throws(() => parseHostPort("host:65536", "--listen"), /no valid port/);
  assert.throws(() => parseHostPort("[nope]:1", "--listen"), /no valid IPv6/);
  assert.throws(() => parseHostPort("3130", "--listen"), /not HOST:PORT/);
  assert.equal(formatHostPort("2001:db8::1", 443), "[2001:db8::1]:443");
});

Deno.test("canonicalAddress() gives one spelling per address, undefined for a name", () => {
  assert.equal(canonicalAddress("0:0:0:0:0:0:0:1"), "::1");
  assert.equal(canonicalAddress("2001:DB8:0::1"), "2001:db8::1");
  assert.equal(canonicalAddress("::ffff:127.0.0.1"), "127.0.0.1");
  assert.equal(canonicalAddress("::0"), "::");
  assert.equal(canonicalAddress("192.0.2.1"), "192.0.2.1");
  assert.equal(canonicalAddress("localhost"), undefined);
});

Deno.test("withoutZone() drops what follows the %, and nothing else", () => {
  assert.equal(withoutZone("fe80::1%eth0"), "fe80::1");
  assert.equal(withoutZone("fe80::1%"), "fe80::1");
  assert.equal(withoutZone("2001:db8::1"), "2001:db8::1");
  assert.equal(withoutZone("192.0.2.1"), "192.0.2.1");
});
