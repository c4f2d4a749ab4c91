import { deepStrictEqual as assertEquals, strictEqual, throws } from "node:assert/strict";
import type { HostLookup } from "../sys/lookup.ts";
import { createNameVerifier } from "./name_verifier.ts";

function countingLookup(table: Record<string, string[]>) {
  const calls: string[] = [];
  const lookup: HostLookup = (name) => {
    calls.push(name);
    const answer = table[name];
    if (answer === undefined) {
      return Promise.reject(Object.assign(new Error("not found"), { code: "ENOTFOUND" }));
    }
    return Promise.resolve(answer);
  };
  return { calls, lookup };
}

Deno.test("verify() accepts a name that resolves to the destination", async () => {
  const { lookup } = countingLookup({ "site.test": ["192.0.2.9", "2001:db8::1"] });
  const verifier = createNameVerifier({ lookup });
  assertEquals(await verifier.verify("site.test", "192.0.2.9"), { ok: true });
  assertEquals(await verifier.verify("site.test", "2001:0db8:0:0::1"), { ok: true });
  assertEquals(await verifier.verify("site.test", "::ffff:192.0.2.9"), { ok: true });
});

Deno.test("verify() refuses a mismatch and a failed lookup with a reason", async () => {
  const { lookup } = countingLookup({ "site.test": ["192.0.2.9"] });
  const verifier = createNameVerifier({ lookup });
  assertEquals(await verifier.verify("site.test", "198.51.100.1"), {
    ok: false,
    reason: "site.test resolves to 192.0.2.9, not 198.51.100.1",
  });
  assertEquals(await verifier.verify("gone.test", "198.51.100.1"), {
    ok: false,
    reason: "gone.test: lookup failed: ENOTFOUND",
  });
});

Deno.test("verify() treats a lookup that throws (not rejects) as a failed lookup", async () => {
  const verifier = createNameVerifier({
    lookup: () => {
      throw new Error("sync boom");
    },
  });
  assertEquals(await verifier.verify("site.test", "192.0.2.9"), {
    ok: false,
    reason: "site.test: lookup failed: sync boom",
  });
});

Deno.test("verify() caches answers for their TTL, failures for the negative TTL", async () => {
  let clock = 0;
  const { calls, lookup } = countingLookup({ "a.test": ["192.0.2.1"] });
  const verifier = createNameVerifier({
    lookup,
    now: () => clock,
    positiveTtlMs: 1000,
    negativeTtlMs: 100,
  });
  await verifier.verify("a.test", "192.0.2.1");
  await verifier.verify("a.test", "192.0.2.2");
  await verifier.verify("b.test", "192.0.2.1");
  await verifier.verify("b.test", "192.0.2.1");
  assertEquals(calls, ["a.test", "b.test"]);
  clock = 150;
  await verifier.verify("a.test", "192.0.2.1");
  await verifier.verify("b.test", "192.0.2.1");
  assertEquals(calls, ["a.test", "b.test", "b.test"]);
  clock = 1001;
  await verifier.verify("a.test", "192.0.2.1");
  assertEquals(calls, ["a.test", "b.test", "b.test", "a.test"]);
});

Deno.test("verify() coalesces concurrent lookups of one name", async () => {
  const calls: string[] = [];
  let answer: (a: string[]) => void = () => {};
  const verifier = createNameVerifier({
    lookup: (name) => {
      calls.push(name);
      return new Promise((resolve) => (answer = resolve));
    },
  });
  const checks = Array.from({ length: 50 }, () => verifier.verify("a.test", "192.0.2.1"));
  answer(["192.0.2.1"]);
  const results = await Promise.all(checks);
  strictEqual(calls.length, 1);
  strictEqual(results.every((r) => r.ok), true);
});

Deno.test("verify() evicts the least recently used name beyond maxEntries", async () => {
  const { calls, lookup } = countingLookup({
    "a.test": ["192.0.2.1"],
    "b.test": ["192.0.2.2"],
    "c.test": ["192.0.2.3"],
  });
  const verifier = createNameVerifier({ lookup, maxEntries: 2 });
  await verifier.verify("a.test", "192.0.2.1");
  await verifier.verify("b.test", "192.0.2.2");
  await verifier.verify("a.test", "192.0.2.1"); // a is now the most recent
  await verifier.verify("c.test", "192.0.2.3"); // evicts b
  strictEqual(verifier.size, 2);
  await verifier.verify("a.test", "192.0.2.1");
  await verifier.verify("b.test", "192.0.2.2");
  assertEquals(calls, ["a.test", "b.test", "c.test", "b.test"]);
  throws(() => createNameVerifier({ maxEntries: 0 }), RangeError);
});

Deno.test("verify() times out a slow lookup", async () => {
  let finish: (a: string[]) => void = () => {};
  const verifier = createNameVerifier({
    lookup: () => new Promise((resolve) => (finish = resolve)),
    timeoutMs: 30,
  });
  assertEquals(await verifier.verify("slow.test", "192.0.2.1"), {
    ok: false,
    reason: "slow.test: lookup failed: lookup timed out after 30 ms",
  });
  finish([]);
});

Deno.test("verify() uses the system resolver (/etc/hosts) by default", async () => {
  const verifier = createNameVerifier();
  assertEquals(await verifier.verify("localhost", "127.0.0.1"), { ok: true });
  strictEqual((await verifier.verify("localhost", "192.0.2.1")).ok, false);
  strictEqual((await verifier.verify("no-such-name.invalid", "192.0.2.1")).ok, false);
});

Deno.test("verify() starts at most maxLookups lookups and answers busy past them", async () => {
  // A scripted resolver: a DNS server that never answers, on cue.
  const finish: (() => void)[] = [];
  let started = 0;
  let answering = false;
  const verifier = createNameVerifier({
    lookup: () => {
      started++;
      if (answering) return Promise.resolve(["192.0.2.1"]);
      return new Promise((resolve) => finish.push(() => resolve(["192.0.2.1"])));
    },
    maxLookups: 2,
    // Far above what "at once" takes even on a loaded machine.
    timeoutMs: 1000,
  });
  const slow = [verifier.verify("a.test", "192.0.2.1"), verifier.verify("b.test", "192.0.2.1")];
  const t0 = performance.now();
  assertEquals(await verifier.verify("c.test", "192.0.2.1"), {
    ok: false,
    reason: "c.test: busy (2 lookups running)",
  });
  strictEqual(
    performance.now() - t0 < 500,
    true,
    "busy is answered at once, not after the timeout",
  );
  strictEqual(started, 2);
  // The first two time out for their callers but keep their slots...
  for (const r of await Promise.all(slow)) strictEqual(r.ok, false);
  strictEqual(
    (await verifier.verify("d.test", "192.0.2.1")).reason,
    "d.test: busy (2 lookups running)",
  );
  // ...until the lookups really end; their answers are then cached.
  answering = true;
  for (const f of finish) f();
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(await verifier.verify("a.test", "192.0.2.1"), { ok: true });
  assertEquals(await verifier.verify("c.test", "192.0.2.1"), { ok: true });
  strictEqual(started, 3, "a.test came from the cache, c.test was looked up");
});

Deno.test("verify() refuses a name that also resolves to the proxy's own host", async () => {
  const { lookup } = countingLookup({
    "evil.test": ["127.0.0.1", "203.0.113.5"],
    "evil6.test": ["::1", "2001:db8::5"],
    "cdn.test": ["203.0.113.5", "203.0.113.6"],
    "localhost": ["127.0.0.1"],
  });
  const verifier = createNameVerifier({ lookup });
  assertEquals(await verifier.verify("evil.test", "203.0.113.5"), {
    ok: false,
    reason: "evil.test also resolves to 127.0.0.1",
  });
  strictEqual((await verifier.verify("evil6.test", "2001:db8::5")).ok, false);
  assertEquals(await verifier.verify("cdn.test", "203.0.113.6"), { ok: true });
  assertEquals(await verifier.verify("localhost", "127.0.0.1"), { ok: true });
});

Deno.test("verify() refuses an address scoped to an interface", async () => {
  const { lookup, calls } = countingLookup({ "router.test": ["fe80::1"] });
  const verifier = createNameVerifier({ lookup });
  assertEquals(await verifier.verify("router.test", "fe80::1%eth0"), {
    ok: false,
    reason: "fe80::1%eth0 is scoped to an interface; a name cannot say which",
  });
  assertEquals(calls, []);
});

Deno.test("verify() refuses a link-local destination without looking the name up", async () => {
  const { lookup, calls } = countingLookup({
    "router.test": ["fe80::1"],
    "site.test": ["fe80::1"],
  });
  const verifier = createNameVerifier({ lookup });
  assertEquals(await verifier.verify("router.test", "fe80::1"), {
    ok: false,
    reason: "fe80::1 is link-local; the proxy would resolve the name to it without its link",
  });
  strictEqual((await verifier.verify("site.test", "FE80:0:0::1")).ok, false);
  assertEquals(calls, []);
});
