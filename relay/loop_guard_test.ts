import assert from "node:assert/strict";
import { createLoopGuard } from "./loop_guard.ts";

const local = () => ["192.0.2.1", "2001:db8::1"];

Deno.test("loop guard refuses Shifter's own wildcard listener on any local address", async () => {
  const guard = await createLoopGuard(
    [{ hostname: "0.0.0.0", port: 3130 }],
    [{ hostname: "198.51.100.7", port: 3128 }],
    { localAddresses: local },
  );
  assert.match(
    guard.check({ hostname: "192.0.2.1", port: 3130, family: "ipv4" })!,
    /own listener/,
  );
  assert.match(
    guard.check({ hostname: "127.0.0.1", port: 3130, family: "ipv4" })!,
    /own listener/,
  );
  assert.equal(
    guard.check({ hostname: "203.0.113.9", port: 3130, family: "ipv4" }),
    undefined,
  );
  assert.equal(
    guard.check({ hostname: "192.0.2.1", port: 443, family: "ipv4" }),
    undefined,
  );
});

Deno.test("loop guard refuses a specific listener only on its address", async () => {
  const guard = await createLoopGuard(
    [{ hostname: "2001:db8::1", port: 3130 }],
    [],
    { localAddresses: local },
  );
  assert.match(
    guard.check({ hostname: "2001:db8::1", port: 3130, family: "ipv6" })!,
    /own listener/,
  );
  assert.equal(
    guard.check({ hostname: "192.0.2.1", port: 3130, family: "ipv4" }),
    undefined,
  );
});

Deno.test("loop guard refuses the upstream proxies, also a loopback one reached on a local address", async () => {
  const guard = await createLoopGuard(
    [{ hostname: "0.0.0.0", port: 3130 }],
    [{ hostname: "198.51.100.7", port: 3128 }, {
      hostname: "127.0.0.1",
      port: 8080,
    }],
    { localAddresses: local },
  );
  assert.match(
    guard.check({ hostname: "198.51.100.7", port: 3128, family: "ipv4" })!,
    /upstream proxy 198.51.100.7:3128/,
  );
  assert.match(
    guard.check({ hostname: "192.0.2.1", port: 8080, family: "ipv4" })!,
    /upstream proxy 127.0.0.1:8080/,
  );
  assert.equal(
    guard.check({ hostname: "198.51.100.7", port: 443, family: "ipv4" }),
    undefined,
  );
  assert.equal(
    guard.check({ hostname: "203.0.113.9", port: 8080, family: "ipv4" }),
    undefined,
  );
});

Deno.test("loop guard resolves upstream host names once", async () => {
  const guard = await createLoopGuard([], [{
    hostname: "localhost",
    port: 3128,
  }], {
    localAddresses: local,
  });
  assert.match(
    guard.check({ hostname: "127.0.0.1", port: 3128, family: "ipv4" })!,
    /upstream proxy localhost:3128/,
  );
});

Deno.test("loop guard knows an address however it was written", async (t) => {
  const own = (hostname: string, port: number) => ({
    hostname,
    port,
    family: hostname.includes(":") ? "ipv6" as const : "ipv4" as const,
  });
  for (
    const [listen, dest] of [
      ["::0", "127.0.0.1"],
      ["0:0:0:0:0:0:0:0", "::1"],
      ["localhost", "127.0.0.1"],
      ["0:0:0:0:0:0:0:1", "::1"],
      ["2001:DB8:0::1", "2001:db8::1"],
    ]
  ) {
    await t.step(`listen ${listen}, destination ${dest}`, async () => {
      const guard = await createLoopGuard([{ hostname: listen!, port: 3130 }], [], {
        localAddresses: local,
      });
      assert.match(guard.check(own(dest!, 3130))!, /own listener/);
    });
  }
  await t.step("upstream ::ffff:127.0.0.1, destination 127.0.0.1", async () => {
    const guard = await createLoopGuard([], [{ hostname: "::ffff:127.0.0.1", port: 3128 }], {
      localAddresses: local,
    });
    assert.match(guard.check(own("127.0.0.1", 3128))!, /upstream proxy/);
  });
});
