import assert from "node:assert/strict";
import { parseUpstream } from "./upstream.ts";
import { UpstreamAddresses } from "./upstream_address.ts";

Deno.test("UpstreamAddresses resolves names once per refresh and keeps the last address on failure", async () => {
  // A scripted resolver: the point is when it is asked and what is kept.
  const answers: Record<string, string[] | Error> = { "proxy.test": ["192.0.2.8", "192.0.2.9"] };
  const asked: string[] = [];
  const errors: string[] = [];
  const named = parseUpstream("http://proxy.test:3128");
  const literal = parseUpstream("http://[2001:db8::3]:3128");
  const addresses = new UpstreamAddresses([named, literal], {
    lookup: (name) => {
      asked.push(name);
      const a = answers[name]!;
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
    onError: (u, e, last) => errors.push(`${u.label}: ${(e as Error).message}, last ${last}`),
    onRecover: (u, a) => errors.push(`${u.label}: back at ${a}`),
  });
  assert.equal(addresses.hostFor(named), "proxy.test", "the name until it is resolved");
  await addresses.refresh();
  assert.equal(addresses.hostFor(named), "192.0.2.8");
  assert.equal(addresses.hostFor(literal), "2001:db8::3");
  for (let i = 0; i < 100; i++) addresses.hostFor(named);
  assert.deepEqual(asked, ["proxy.test"], "literals are never looked up; lookups only on refresh");
  answers["proxy.test"] = new Error("SERVFAIL");
  await addresses.refresh();
  assert.equal(addresses.hostFor(named), "192.0.2.8", "a failed refresh keeps the last address");
  await addresses.refresh();
  assert.deepEqual(
    errors,
    ["proxy.test:3128: SERVFAIL, last 192.0.2.8"],
    "told once per run of failures",
  );
  answers["proxy.test"] = ["192.0.2.10"];
  await addresses.refresh();
  await addresses.refresh();
  assert.equal(addresses.hostFor(named), "192.0.2.10");
  assert.deepEqual(
    errors.slice(1),
    ["proxy.test:3128: back at 192.0.2.10"],
    "told once it is back",
  );
  answers["proxy.test"] = [];
  await addresses.refresh();
  assert.deepEqual(errors.slice(2), ["proxy.test:3128: no address, last 192.0.2.10"]);
});

Deno.test("UpstreamAddresses says when a name never resolved", async () => {
  const errors: (string | undefined)[] = [];
  const named = parseUpstream("http://proxy.test:3128");
  const addresses = new UpstreamAddresses([named], {
    lookup: () => Promise.reject(new Error("NXDOMAIN")),
    onError: (_u, _e, last) => errors.push(last),
  });
  await addresses.refresh();
  assert.deepEqual(errors, [undefined]);
  assert.equal(addresses.hostFor(named), "proxy.test", "connections go by name meanwhile");
});

Deno.test("UpstreamAddresses uses the system resolver (/etc/hosts) by default", async () => {
  const u = parseUpstream("http://localhost:3128");
  const addresses = new UpstreamAddresses([u]);
  await addresses.refresh();
  assert.ok(["127.0.0.1", "::1"].includes(addresses.hostFor(u)), addresses.hostFor(u));
});

Deno.test("UpstreamAddresses starts no refresh while one hangs (DNS down)", async () => {
  // A scripted resolver that answers only when the test says.
  let release!: (a: string[]) => void;
  let asked = 0;
  const named = parseUpstream("http://proxy.test:3128");
  const addresses = new UpstreamAddresses([named], {
    lookup: () => {
      asked++;
      return new Promise<string[]>((r) => release = r);
    },
  });
  const first = addresses.refresh();
  const second = addresses.refresh();
  assert.equal(asked, 1, "one lookup in flight, not two");
  release(["192.0.2.8"]);
  await Promise.all([first, second]);
  assert.equal(addresses.hostFor(named), "192.0.2.8");
  const third = addresses.refresh();
  assert.equal(asked, 2, "the next refresh asks again");
  release(["192.0.2.9"]);
  await third;
  assert.equal(addresses.hostFor(named), "192.0.2.9");
});
