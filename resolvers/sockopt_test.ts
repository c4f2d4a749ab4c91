import assert from "node:assert/strict";
import { connFd } from "../sys/fd.ts";
import { withLoopbackPair } from "../sys/loopback.ts";
import { ResolveError } from "./resolver.ts";
import { createSockoptResolver } from "./sockopt.ts";

Deno.test("sockopt says a connection that was not redirected has no original destination", async () => {
  const resolver = createSockoptResolver();
  await withLoopbackPair((_, accepted) => {
    const accepting = {
      conn: accepted,
      fd: connFd(accepted),
      remoteAddr: accepted.remoteAddr,
      localAddr: accepted.localAddr,
    };
    assert.throws(() => resolver.resolve(accepting), (error) => {
      assert.ok(error instanceof ResolveError, String(error));
      // ENOENT with conntrack in the kernel (no NAT entry), ENOPROTOOPT
      // without it: either way the reason, never a generic EIO.
      assert.ok(["ENOENT", "ENOPROTOOPT"].includes(error.code), error.code);
      if (error.code === "ENOENT") assert.match(error.message, /was not redirected/);
      return true;
    });
  });
});
