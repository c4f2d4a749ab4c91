import { hasProgram, skipUnless } from "../tests/_env.ts";
import {
  _internals,
  createNetlinkResolver,
  kernelStatsCommand,
  lookupCommand,
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
const shimBuilt = isFile(shim);

function isFile(path: string | URL): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
// Skip only with a printed reason, and never in CI (`scripts/setup.sh`,
// run by `deno task test`, builds the shim).
const skipShim = skipUnless("netlink shim tests", {
  "libnl-shim/libshifter_nl.so (make -C libnl-shim)": shimBuilt,
  linux: Deno.build.os === "linux",
});

Deno.test("addresses map to the family and bytes the module keys on", async (t) => {
  const { parseAddress } = _internals;
  const cases: [string, number, number[]][] = [
    ["192.0.2.1", 2, [192, 0, 2, 1]],
    ["::ffff:192.0.2.7", 2, [192, 0, 2, 7]],
    ["::1", 10, [...new Array(15).fill(0), 1]],
    ["fe80::1%eth0", 10, [0xfe, 0x80, ...new Array(13).fill(0), 1]],
  ];
  for (const [text, family, bytes] of cases) {
    await t.step(text, () => {
      const got = parseAddress(text);
      assertEquals(got.family, family);
      assertEquals(Array.from(got.bytes), bytes);
    });
  }
  for (const bad of ["256.1.1.1", "1:2:3:4:5:6:7:8:9", "example.com"]) {
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

// A fake shim, because the real one cannot be stale: a library built from
// older sources must be refused with the reason, not have its structs
// misread. Two ages: before shifter_nl_abi() existed, and layout 1.
Deno.test({
  name: "a shim built from older sources is refused with the reason and how to rebuild",
  ignore: skipUnless("stale shim test", { "cc (build-essential)": hasProgram("cc") }),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "shifter-stale-shim-" });
    try {
      const common = "int shifter_nl_open(void **h, unsigned t) { return -2; }\n" +
        "int shifter_nl_lookup(void) { return -2; }\n" +
        "int shifter_nl_stats(void) { return -2; }\n" +
        "int shifter_nl_dump(void) { return -2; }\n" +
        "void shifter_nl_close(void *h) {}\n";
      const cases: [string, string, RegExp][] = [
        ["unversioned", common, /undefined symbol: shifter_nl_abi/],
        [
          "layout1",
          common + "unsigned shifter_nl_abi(void) { return 1; }\n",
          /built with struct layout 1, this Shifter reads layout 2/,
        ],
      ];
      for (const [name, source, reason] of cases) {
        const c = `${dir}/${name}.c`;
        const so = `${dir}/${name}.so`;
        await Deno.writeTextFile(c, source);
        const built = await new Deno.Command("cc", {
          args: ["-shared", "-fPIC", "-o", so, c],
          stderr: "piped",
        }).output();
        if (!built.success) throw new Error(new TextDecoder().decode(built.stderr));
        const err = assertThrows(
          () => ShifterNetlink.open({ libraryPath: so }),
          /make -C libnl-shim/,
        );
        if (!reason.test(err.message) || !err.message.includes(so)) {
          throw new Error(`${name}: ${err.message}`);
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// A fake kernel (libnl-shim/fake_kernel.c: the shim unchanged, its socket
// pointed at a scripted user-space peer), because the real module never
// sends these replies: a LOOKUP answered by NLMSG_DONE, and a DUMP whose
// NLMSG_DONE carries an error. Neither may read as a success.
Deno.test({
  name: "a reply without an answer, or a DUMP cut short, is an error (fake kernel)",
  ignore: skipUnless("fake kernel test", {
    // Generic netlink lets only CAP_NET_ADMIN send to a user-space port.
    root: Deno.uid() === 0,
    "cc (build-essential)": hasProgram("cc"),
    make: hasProgram("make"),
    "libnl headers (libnl-genl-3-dev)": isFile("/usr/include/libnl3/netlink/genl/genl.h"),
    linux: Deno.build.os === "linux",
  }),
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "shifter-fake-kernel-" });
    const so = `${dir}/libfake_kernel.so`;
    try {
      const built = await new Deno.Command("make", {
        args: [
          "-C",
          new URL("../libnl-shim", import.meta.url).pathname,
          "fake-kernel",
          `OUT=${so}`,
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!built.success) throw new Error(new TextDecoder().decode(built.stderr));
      const open = (script: string) => {
        Deno.env.set("SHIFTER_NL_FAKE_SCRIPT", script);
        return ShifterNetlink.open({ libraryPath: so, timeoutMs: 500 });
      };
      await t.step("a LOOKUP answered by NLMSG_DONE is EPROTO, not the last answer", () => {
        using nl = open("dest:203.0.113.5:443,done,done");
        assertEquals(nl.lookup("10.0.0.5:40001").hostname, "203.0.113.5");
        assertThrows(() => nl.lookup("10.0.0.6:40002"), /10\.0\.0\.6:40002: EPROTO/);
        assertThrows(() => nl.lookup("10.0.0.7:40003"), /EPROTO/);
      });
      await t.step("the first LOOKUP answered by NLMSG_DONE is EPROTO", () => {
        using nl = open("done");
        assertThrows(() => nl.lookup("10.0.0.5:40001"), /EPROTO/);
      });
      await t.step("the resolver takes it for an I/O failure (auto asks sockopt)", () => {
        Deno.env.set("SHIFTER_NL_FAKE_SCRIPT", "stats,done");
        const resolver = createNetlinkResolver({
          env: (name) => name === SHIFTER_NL_LIB_ENV ? so : undefined,
        });
        try {
          const accepted = {
            remoteAddr: { transport: "tcp", hostname: "10.0.0.5", port: 40001 },
            localAddr: { transport: "tcp", hostname: "10.0.0.1", port: 3130 },
          };
          const err = assertThrows(() => resolver.resolve(accepted as never), /EPROTO/);
          assertEquals((err as Error & { code?: string }).code, "EIO");
        } finally {
          resolver.close?.();
        }
      });
      await t.step("a DUMP whose NLMSG_DONE carries an error fails with it", () => {
        using nl = open("dump:2:-4");
        assertThrows(() => nl.dump(), /EINTR/);
      });
      await t.step("a DUMP that ends with status 0 is the whole table", () => {
        using nl = open("dump:2:0");
        assertEquals(nl.dump().map((e) => e.srcPort), [40000, 40001]);
      });
    } finally {
      Deno.env.delete("SHIFTER_NL_FAKE_SCRIPT");
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// The host kernel here cannot load modules: with the shim built, the family
// is absent and the error must say to insmod. Inside the VM suite
// (tests/kernel/) the same calls run against the real module.
Deno.test({
  name: "createNetlinkResolver() says insmod when the SHIFTER family is absent",
  ignore: skipShim,
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

Deno.test({
  name: "lookupCommand() and kernelStatsCommand() exit 1 with a reason without the module",
  ignore: skipShim,
  async fn() {
    const errors: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => errors.push(args.join(" "));
    try {
      const env = Deno.env.get(SHIFTER_NL_LIB_ENV);
      Deno.env.set(SHIFTER_NL_LIB_ENV, shim.pathname);
      try {
        const a = await lookupCommand({ hostname: "192.0.2.1", port: 40000 });
        const b = await kernelStatsCommand();
        let present = false;
        try {
          ShifterNetlink.open({ libraryPath: shim.pathname }).close();
          present = true;
        } catch {
          // expected on a host without the module
        }
        if (present) return;
        assertEquals([a, b], [1, 1]);
        assertEquals(errors.length, 2);
        if (!errors.every((e) => e.includes("insmod kernel/shifter.ko"))) {
          throw new Error(`unexpected messages: ${errors.join(" | ")}`);
        }
      } finally {
        if (env === undefined) Deno.env.delete(SHIFTER_NL_LIB_ENV);
        else Deno.env.set(SHIFTER_NL_LIB_ENV, env);
      }
    } finally {
      console.error = original;
    }
  },
});
