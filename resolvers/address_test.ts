import assert from "node:assert/strict";
import {
  canonicalAddress,
  formatAddress,
  formatHostPort,
  isLinkLocalAddress,
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

Deno.test("a zone is no part of the address, even with a dot in its name (VLAN)", () => {
  for (const zoned of ["fe80::1%eth0", "fe80::1%eth0.100", "fe80::1%br-lan.10", "fe80::1%1"]) {
    assert.equal(canonicalAddress(zoned), "fe80::1", zoned);
  }
  assert.equal(canonicalAddress("::ffff:192.0.2.1%eth0.7"), "192.0.2.1");
});

Deno.test("withoutZone() drops what follows the %, and nothing else", () => {
  assert.equal(withoutZone("fe80::1%eth0"), "fe80::1");
  assert.equal(withoutZone("fe80::1%"), "fe80::1");
  assert.equal(withoutZone("2001:db8::1"), "2001:db8::1");
  assert.equal(withoutZone("192.0.2.1"), "192.0.2.1");
});

Deno.test("isLinkLocalAddress() is true for fe80::/10 and nothing else", () => {
  const linkLocal = ["fe80::", "fe80::1", "fe80::1:2:3:4", "fe9f:1::", "feaa::1", "febf:ffff::1"];
  const others = [
    "fec0::1", // site-local, deprecated but routable here
    "fe7f::1",
    "ff02::1",
    "fe8::1", // 0fe8::1
    "::1",
    "::",
    "2001:db8::fe80",
    "127.0.0.1",
    "169.254.1.1", // IPv4 link-local has no zone in a socket address
    "fe80", // not an address at all
  ];
  for (const a of linkLocal) {
    assert.equal(isLinkLocalAddress(canonicalAddress(a)!), true, a);
  }
  for (const a of others) {
    assert.equal(isLinkLocalAddress(canonicalAddress(a) ?? a), false, a);
  }
});
