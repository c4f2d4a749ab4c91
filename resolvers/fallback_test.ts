import assert from "node:assert/strict";
import { closeLogging, setupLogging } from "../cli/log.ts";
import { withFallback } from "./fallback.ts";
import {
  type AcceptedConnection,
  type Destination,
  ResolveError,
  type Resolver,
} from "./resolver.ts";

// Scripted resolvers: the point is which one answers, not how.
const HERE: Destination = { hostname: "192.0.2.1", port: 8080, family: "ipv4" };
const THERE: Destination = { hostname: "192.0.2.2", port: 443, family: "ipv4" };
const accepted = {} as AcceptedConnection;

function scripted(
  name: string,
  answer: () => Destination | Promise<Destination>,
): Resolver & { asked: number; closed: number } {
  const r = {
    name,
    asked: 0,
    closed: 0,
    resolve: () => {
      r.asked++;
      return answer();
    },
    close: () => {
      r.closed++;
    },
  };
  return r;
}

const miss = () => {
  throw new ResolveError("no entry", "ENOENT");
};

Deno.test("withFallback() asks the second resolver only on a miss, sync or async", async () => {
  const second = scripted("second", () => THERE);
  assert.deepEqual(await withFallback(scripted("a", () => HERE), second).resolve(accepted), HERE);
  assert.deepEqual(
    await withFallback(scripted("b", () => Promise.resolve(HERE)), second).resolve(accepted),
    HERE,
  );
  assert.equal(second.asked, 0);
  assert.deepEqual(await withFallback(scripted("c", miss), second).resolve(accepted), THERE);
  assert.deepEqual(
    await withFallback(scripted("d", () => Promise.reject(new ResolveError("x", "ENOENT"))), second)
      .resolve(accepted),
    THERE,
  );
  assert.equal(second.asked, 2);
});

Deno.test("withFallback() asks the second resolver on an I/O failure too, and logs a run of them once a minute at most", async () => {
  let out = "";
  await setupLogging("json", "info", {
    write: (p) => {
      out += new TextDecoder().decode(p);
      return Promise.resolve(p.length);
    },
  });
  let clock = 0;
  let script: (() => Destination)[] = [];
  const first = scripted("netlink", () => script.shift()!());
  const second = scripted("sockopt", () => THERE);
  const both = withFallback(first, second, { now: () => clock });
  const timeout = () => {
    throw new ResolveError("lookup timed out", "EIO");
  };
  try {
    // A run of two failures; a miss ends it; a success; a second run within
    // the minute (not logged, nor its end); a third a minute after the first.
    script = [timeout, timeout, miss, () => HERE, timeout, () => HERE];
    for (const want of [THERE, THERE, THERE, HERE, THERE, HERE]) {
      assert.deepEqual(await both.resolve(accepted), want);
      clock += 1000;
    }
    clock = 61_000;
    script = [timeout];
    assert.deepEqual(await both.resolve(accepted), THERE);
  } finally {
    await closeLogging();
  }
  assert.equal(second.asked, 5);
  const lines = out.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l).message);
  assert.deepEqual(lines, [
    "Resolver netlink failed (lookup timed out); asking sockopt until it answers again",
    "Resolver netlink answers again",
    "Resolver netlink failed (lookup timed out); asking sockopt until it answers again",
  ]);
});

Deno.test("withFallback() reports any other failure of the first resolver as it is", async () => {
  const second = scripted("second", () => THERE);
  const denied = () => {
    throw new ResolveError("denied", "EPERM");
  };
  assert.throws(() => withFallback(scripted("a", denied), second).resolve(accepted), /denied/);
  await assert.rejects(
    async () =>
      await withFallback(scripted("b", () => Promise.reject(new Error("broken"))), second)
        .resolve(accepted),
    /broken/,
  );
  assert.equal(second.asked, 0);
});

Deno.test("withFallback() is named after both and closes both", async () => {
  const first = scripted("netlink", () => HERE);
  const second = scripted("sockopt", () => THERE);
  const both = withFallback(first, second);
  assert.equal(both.name, "netlink+sockopt");
  await both.close?.();
  assert.deepEqual([first.closed, second.closed], [1, 1]);
});
