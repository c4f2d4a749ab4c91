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
