import assert from "node:assert/strict";
import { assertFdAccess, connFd, findConnFd, isConnFd } from "./fd.ts";
import { withLoopbackPair } from "./loopback.ts";

Deno.test("assertFdAccess() passes on this Deno", async () => {
  await assertFdAccess();
});

Deno.test("isConnFd() tells a connection's socket from any other descriptor", async () => {
  await withLoopbackPair((dialed, accepted) => {
    const fd = connFd(accepted);
    const other = findConnFd(dialed, fd);
    assert.ok(other !== undefined && other !== fd, "the dialed side's descriptor is found");
    assert.ok(isConnFd(accepted, fd));
    assert.ok(isConnFd(dialed, other));
    // The two ends share both addresses, swapped: each is the other's no match.
    assert.ok(!isConnFd(accepted, other));
    assert.ok(!isConnFd(dialed, fd));
    assert.ok(!isConnFd(accepted, 0), "not a socket");
    assert.ok(!isConnFd(accepted, 1 << 20), "not open");
  });
});
