import { deepStrictEqual as assertEquals } from "node:assert/strict";
import fc from "fast-check";
import { isLocalhostName, validHostname } from "./hostname.ts";

const encoder = new TextEncoder();

Deno.test("validHostname() accepts and lower-cases host names", () => {
  for (
    const [raw, name] of [
      ["site.test", "site.test"],
      ["WWW.Example.COM", "www.example.com"],
      ["a", "a"],
      ["xn--bcher-kva.example", "xn--bcher-kva.example"],
      ["1.2.3.example", "1.2.3.example"],
      ["3com.com", "3com.com"],
      ["site.test.", "site.test"],
      ["a-b.c-d", "a-b.c-d"],
    ]
  ) {
    assertEquals(validHostname(raw as string), { ok: true, name });
    assertEquals(validHostname(encoder.encode(raw)), { ok: true, name });
  }
});

Deno.test("validHostname() refuses hostile and malformed names with a reason", () => {
  const cases: [string, string][] = [
    ["", "invalid name: empty"],
    [".", "invalid name: empty"],
    ["a\r\nX-Injected: 1", "invalid name: contains CR"],
    ["a\nb", "invalid name: contains LF"],
    ["a\0b", "invalid name: contains NUL"],
    ["a b", "invalid name: contains a space"],
    ["a:443", "invalid name: contains a colon"],
    ["::1", "invalid name: contains a colon"],
    ["a_b.test", "invalid name: contains an underscore"],
    ["a/b", "invalid name: contains byte 0x2f"],
    ["bücher.test", "invalid name: contains byte 0xfc"],
    ["🙂.test", "invalid name: contains a non-ASCII character"],
    ["a..b", "invalid name: empty label"],
    [".a", "invalid name: empty label"],
    ["a..", "invalid name: empty label"],
    ["-a.test", "invalid name: label starts or ends with a hyphen"],
    ["a-.test", "invalid name: label starts or ends with a hyphen"],
    ["a".repeat(64) + ".test", "invalid name: label longer than 63 bytes"],
    ["192.0.2.1", "invalid name: IP literal"],
    ["127.1", "invalid name: IP literal"],
    ["2130706433", "invalid name: IP literal"],
    ["0x7f000001", "invalid name: IP literal"],
    ["10.0.0.0x1", "invalid name: IP literal"],
  ];
  for (const [raw, reason] of cases) {
    assertEquals(validHostname(raw), { ok: false, reason }, JSON.stringify(raw));
  }
});

Deno.test("validHostname() enforces 253 bytes, ignoring one trailing dot", () => {
  const label = "a".repeat(63);
  const name253 = [label, label, label, "a".repeat(61)].join(".");
  assertEquals(name253.length, 253);
  assertEquals(validHostname(name253), { ok: true, name: name253 });
  assertEquals(validHostname(name253 + "."), { ok: true, name: name253 });
  assertEquals(validHostname(name253 + "a"), {
    ok: false,
    reason: "invalid name: longer than 253 bytes",
  });
});

Deno.test("validHostname() only ever returns names in the allowed alphabet (fuzz)", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.uint8Array(),
        fc.string({ unit: fc.constantFrom(..."aZ09.-x:\r"), maxLength: 300 }),
      ),
      (raw) => {
        const check = validHostname(raw);
        if (check.ok) {
          return /^[a-z0-9.-]{1,253}$/.test(check.name) &&
            !/^[0-9.]+$/.test(check.name);
        }
        return check.reason.startsWith("invalid name: ");
      },
    ),
    { numRuns: 5000 },
  );
});

Deno.test("isLocalhostName() is localhost and names under it, nothing else", () => {
  for (const name of ["localhost", "a.localhost", "x.y.localhost"]) {
    assertEquals(isLocalhostName(name), true, name);
  }
  for (const name of ["localhost.example", "notlocalhost", "xlocalhost", "local", "example.com"]) {
    assertEquals(isLocalhostName(name), false, name);
  }
});
