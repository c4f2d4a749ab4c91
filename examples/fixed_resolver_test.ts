import assert from "node:assert/strict";
import { openResolver } from "../resolvers/registry.ts";
import type { AcceptedConnection } from "../resolvers/resolver.ts";

const path = new URL("./fixed_resolver.ts", import.meta.url).pathname;

Deno.test("the example plugin loads by path and answers its destination", async () => {
  const resolver = await openResolver(path, {
    env: (name) => name === "SHIFTER_FIXED_DEST" ? "[2001:db8::7]:8443" : undefined,
  });
  assert.equal(resolver.name, "fixed");
  assert.deepEqual(await resolver.resolve({} as AcceptedConnection), {
    hostname: "2001:db8::7",
    port: 8443,
    family: "ipv6",
  });
});

Deno.test("the example plugin's own error reaches the operator with the file name", async () => {
  await assert.rejects(
    openResolver(path, { env: () => undefined }),
    /Cannot start resolver plugin ".*fixed_resolver.ts": set SHIFTER_FIXED_DEST/,
  );
});

Deno.test("the example plugin refuses a zoned destination at startup, not per connection", async () => {
  await assert.rejects(
    openResolver(path, {
      env: (name) => name === "SHIFTER_FIXED_DEST" ? "[fe80::1%eth0]:443" : undefined,
    }),
    /Cannot start resolver plugin ".*fixed_resolver.ts": .*must not have a zone/,
  );
});
