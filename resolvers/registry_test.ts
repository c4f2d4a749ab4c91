import assert from "node:assert/strict";
import { AUTO, BUILTIN_RESOLVERS, openResolver } from "./registry.ts";

Deno.test("openResolver() knows the built-ins, netlink first for auto", () => {
  assert.deepEqual(BUILTIN_RESOLVERS.map((r) => r.name), [
    "netlink",
    "sockopt",
    "local",
  ]);
  assert.equal(AUTO, "auto");
});

Deno.test("openResolver() opens sockopt and local by name", async () => {
  assert.equal((await openResolver("sockopt")).name, "sockopt");
  assert.equal((await openResolver("local")).name, "local");
});

Deno.test("openResolver() rejects an unknown name and lists the choices", async () => {
  await assert.rejects(
    openResolver("magic"),
    /Unknown resolver "magic": use auto, netlink, sockopt, local, or a path to a plugin module/,
  );
});

Deno.test("openResolver(auto) falls back to sockopt when netlink cannot open", async () => {
  // No kernel module on this host (or no shim built): netlink must refuse,
  // and auto must still give a working resolver.
  const netlink = await openResolver("netlink").then(
    (r) => r,
    (e: Error) => e,
  );
  const auto = await openResolver(AUTO);
  if (netlink instanceof Error) assert.equal(auto.name, "sockopt");
  else {
    assert.equal(auto.name, "netlink+sockopt");
    await netlink.close?.();
  }
  await auto.close?.();
});
