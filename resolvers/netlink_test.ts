import {
  _internals,
  createNetlinkResolver,
  parseHostPort,
  SHIFTER_NL_LIB_ENV,
  ShifterNetlink,
  ShifterNetlinkError,
} from "./netlink.ts";

function assertEquals(actual: unknown, expected: unknown): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`expected ${e}, got ${a}`);
}

function assertThrows(fn: () => unknown, match: RegExp): Error {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof Error)) throw new Error(`threw a non-Error: ${err}`);
    if (!match.test(err.message)) {
      throw new Error(
        `message ${JSON.stringify(err.message)} does not match ${match}`,
      );
    }
    return err;
  }
  throw new Error(`did not throw (expected ${match})`);
}

const shim = new URL("../libnl-shim/libshifter_nl.so", import.meta.url);
const shimBuilt = (() => {
  try {
    return Deno.statSync(shim).isFile;
  } catch {
    return false;
  }
})();

Deno.test("parseHostPort() splits IPv4 and bracketed IPv6", () => {
  assertEquals(parseHostPort("192.0.2.10:40000"), {
    hostname: "192.0.2.10",
    port: 40000,
  });
  assertEquals(parseHostPort("[2001:db8::1]:443"), {
    hostname: "2001:db8::1",
    port: 443,
  });
  assertThrows(() => parseHostPort("2001:db8::1"), /expected ADDR:PORT/);
});

Deno.test("addresses round-trip to kernel bytes and back", async (t) => {
  const { parseAddress, formatAddress } = _internals;
  const cases: [string, number, string][] = [
    ["192.0.2.1", 2, "192.0.2.1"],
    ["::1", 10, "::1"],
    ["2001:db8::1", 10, "2001:db8::1"],
    ["2001:DB8:0:0:1:0:0:1", 10, "2001:db8::1:0:0:1"],
    ["fe80::1%eth0", 10, "fe80::1"],
    ["::ffff:192.0.2.7", 2, "192.0.2.7"],
    ["1:2:3:4:5:6:7:8", 10, "1:2:3:4:5:6:7:8"],
  ];
  for (const [text, family, back] of cases) {
    await t.step(text, () => {
      const { family: f, bytes } = parseAddress(text);
      assertEquals(f, family);
      assertEquals(formatAddress(bytes), back);
    });
  }
  for (
    const bad of [
      "256.1.1.1",
      "1:2:3:4:5:6:7:8:9",
      "::1::",
      "example.com",
      "1.2.3",
    ]
  ) {
    await t.step(`rejects ${bad}`, () => {
      assertThrows(() => parseAddress(bad), /not an IPv4 or IPv6 literal/);
    });
  }
});

Deno.test("check() turns -errno into ShifterNetlinkError with its code", () => {
  assertEquals(_internals.check(3, "x"), 3);
  const err = assertThrows(
    () => _internals.check(-92, "look up"),
    /ENOPROTOOPT/,
  );
  if (!(err instanceof ShifterNetlinkError) || err.errno !== 92) throw err;
});

Deno.test("createNetlinkResolver() names the shim file it tried and how to build it", () => {
  const env = (name: string) =>
    name === SHIFTER_NL_LIB_ENV ? "/nonexistent/libshifter_nl.so" : undefined;
  assertThrows(
    () => createNetlinkResolver({ env }),
    /\/nonexistent\/libshifter_nl\.so.*make -C libnl-shim/,
  );
});

// The host kernel here cannot load modules: with the shim built, the family
// is absent and the error must say to insmod. Inside the VM suite
// (tests/kernel/) the same calls run against the real module.
Deno.test({
  name: "createNetlinkResolver() says insmod when the SHIFTER family is absent",
  ignore: !shimBuilt || Deno.build.os !== "linux",
  fn() {
    const present = (() => {
      try {
        ShifterNetlink.open({ libraryPath: shim.pathname }).close();
        return true;
      } catch {
        return false;
      }
    })();
    if (present) {
      console.log(
        "SHIFTER family registered on this host: absent-module case not testable",
      );
      return;
    }
    assertThrows(
      () => createNetlinkResolver({ libraryPath: shim.pathname }),
      /insmod kernel\/shifter\.ko/,
    );
  },
});
