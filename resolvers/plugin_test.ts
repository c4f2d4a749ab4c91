import assert from "node:assert/strict";
import { loadResolverPlugin } from "./plugin.ts";

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
