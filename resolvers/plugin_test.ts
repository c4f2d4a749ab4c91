import assert from "node:assert/strict";
import { loadResolverPlugin } from "./plugin.ts";
import { ResolveError } from "./resolver.ts";

async function pluginFile(source: string): Promise<string> {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, source);
  return file;
}

Deno.test("loadResolverPlugin() takes a createResolver export", async () => {
  const file = await pluginFile(
    `export function createResolver() { return { name: "p", resolve: () => ({ hostname: "192.0.2.1", port: 1, family: "ipv4" }) }; }`,
  );
  const r = await loadResolverPlugin(file);
  assert.equal(r.name, "p");
  await Deno.remove(file);
});

Deno.test("loadResolverPlugin() says which file is missing", async () => {
  await assert.rejects(
    loadResolverPlugin("/nonexistent/plugin.ts"),
    /Cannot load resolver plugin "\/nonexistent\/plugin.ts": no such file/,
  );
});

Deno.test("loadResolverPlugin() rejects a module without a factory", async () => {
  const file = await pluginFile(`export const x = 1;`);
  await assert.rejects(loadResolverPlugin(file), /exports no factory/);
  await Deno.remove(file);
});

Deno.test("loadResolverPlugin() rejects a factory that returns no resolver", async () => {
  const file = await pluginFile(`export default () => ({ name: "x" });`);
  await assert.rejects(loadResolverPlugin(file), /returned no resolver/);
  await Deno.remove(file);
});

Deno.test("loadResolverPlugin() reports a module that does not compile", async () => {
  const file = await pluginFile(`export default (;`);
  await assert.rejects(loadResolverPlugin(file), /Cannot load resolver plugin/);
  await Deno.remove(file);
});

Deno.test("loadResolverPlugin() takes the default export only when it is a factory", async () => {
  const file = await pluginFile(
    `export default 42; export function createResolver() { return { name: "c", resolve: () => ({ hostname: "192.0.2.1", port: 1, family: "ipv4" }) }; }`,
  );
  assert.equal((await loadResolverPlugin(file)).name, "c");
  await Deno.remove(file);
});

Deno.test("loadResolverPlugin() checks every answer and makes the address canonical", async (t) => {
  // The plugin answers whatever the test puts in globalThis.answer.
  const file = await pluginFile(
    `export default () => ({ name: "echo", resolve: () => globalThis.answer });`,
  );
  const r = await loadResolverPlugin(file);
  const g = globalThis as { answer?: unknown };
  const accepted = {} as Parameters<typeof r.resolve>[0];
  try {
    g.answer = { hostname: "0:0:0:0:0:0:0:1", port: 443, family: "ipv6" };
    assert.deepEqual(r.resolve(accepted), { hostname: "::1", port: 443, family: "ipv6" });
    g.answer = Promise.resolve({ hostname: "::ffff:192.0.2.7", port: 80, family: "ipv6" });
    assert.deepEqual(await r.resolve(accepted), {
      hostname: "192.0.2.7",
      port: 80,
      family: "ipv4",
    });
    for (
      const bad of [
        { hostname: "192.0.2.1", port: 99999 },
        { hostname: "192.0.2.1", port: 0 },
        { hostname: "192.0.2.1", port: "443" },
        { hostname: "example.test", port: 443 },
        { hostname: "192.0.2.1\r\nX: 1", port: 443 },
        null,
        undefined,
      ]
    ) {
      await t.step(JSON.stringify(bad) ?? "undefined", async () => {
        g.answer = bad;
        assert.throws(() => r.resolve(accepted), ResolveError);
        g.answer = Promise.resolve(bad);
        await assert.rejects(async () => await r.resolve(accepted), /not an IP address and a port/);
      });
    }
    await t.step("a zone is refused, not dropped", async () => {
      g.answer = { hostname: "fe80::1%eth0", port: 443 };
      assert.throws(() => r.resolve(accepted), /scoped to an interface \(a zone\)/);
      g.answer = Promise.resolve({ hostname: "fe80::1%eth0", port: 443 });
      await assert.rejects(async () => await r.resolve(accepted), /scoped to an interface/);
      // Read once: a getter that drops the zone on a second read still fails.
      let reads = 0;
      g.answer = {
        get hostname() {
          return reads++ === 0 ? "fe80::1%eth0" : "fe80::1";
        },
        port: 443,
      };
      assert.throws(() => r.resolve(accepted), /scoped to an interface/);
      // A name with a % in it is no address, zone or not.
      g.answer = { hostname: "example.test%x", port: 443 };
      assert.throws(() => r.resolve(accepted), /not an IP address and a port/);
    });
  } finally {
    delete g.answer;
    await Deno.remove(file);
  }
});

Deno.test("loadResolverPlugin() names a missing module the plugin imports, not the plugin", async () => {
  const file = await pluginFile(`import "./shifter-no-such-helper.ts"; export default () => ({});`);
  try {
    await assert.rejects(loadResolverPlugin(file), (e: Error) => {
      assert.match(e.message, /Cannot load resolver plugin ".*": Module not found/);
      assert.match(e.message, /shifter-no-such-helper\.ts/);
      assert.doesNotMatch(e.message, /no such file/);
      return true;
    });
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("loadResolverPlugin() gives up on a module or factory that does not settle", async (t) => {
  // Each stalls until the test lets it go, after the verdict, so that
  // nothing is left pending.
  const g = globalThis as { release?: () => void };
  const cases: [string, string, RegExp][] = [
    [
      "module",
      `await new Promise((r) => globalThis.release = r); export default () => ({});`,
      /its module did not finish loading within 200 ms/,
    ],
    [
      "factory",
      `export default () => new Promise((r) => globalThis.release = r);`,
      /its factory did not return a resolver within 200 ms/,
    ],
  ];
  for (const [name, source, reason] of cases) {
    await t.step(name, async () => {
      const file = await pluginFile(source);
      try {
        await assert.rejects(loadResolverPlugin(file, {}, 200), (e: Error) => {
          assert.match(e.message, /^Cannot load resolver plugin ".*": /);
          assert.match(e.message, reason);
          return true;
        });
      } finally {
        g.release?.();
        delete g.release;
        await Deno.remove(file);
      }
    });
  }
});
