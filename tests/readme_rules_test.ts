/**
 * The README's REDIRECT rules, copied from it as an operator would, in the
 * namespace LAN of tests/_topology.ts (whose gateway's LAN link is `lan0`,
 * as in the README): a client's connection to a host beyond the gateway
 * lands on Shifter's port, one to the gateway's own addresses does not.
 */

import assert from "node:assert/strict";
import { hasProgram, NETNS_REQUIREMENTS, readmeBlock, skipUnless } from "./_env.ts";
import { createTopology } from "./_topology.ts";

const ignore = skipUnless("README rule tests", {
  ...NETNS_REQUIREMENTS,
  "nft (nftables)": hasProgram("nft"),
});

// Where each connection lands: Shifter's port, or the gateway's own
// service on port 80. It only accepts, says so, and closes.
const LISTENER = `
const ports = [3130, 80];
for (const port of ports) {
  (async () => {
    for await (const c of Deno.listen({ hostname: "::", port })) {
      console.log("LANDED " + port + " " + c.remoteAddr.hostname);
      c.close();
    }
  })();
}
console.log("READY");
`;

Deno.test({
  name:
    "the README's iptables and nftables rules redirect the LAN, not its connections to the gateway",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using topo = await createTopology("shrr");
    const listener = topo.spawn(topo.gateway, [Deno.execPath(), "eval", LISTENER], {
      stdout: "piped",
      stderr: "null",
    });
    const lines: string[] = [];
    const reading = (async () => {
      let rest = "";
      for await (const chunk of listener.stdout.pipeThrough(new TextDecoderStream())) {
        rest += chunk;
        const parts = rest.split("\n");
        rest = parts.pop()!;
        lines.push(...parts);
      }
    })();
    try {
      for (let i = 0; i < 200 && !lines.includes("READY"); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(lines.includes("READY"), "the listener started");
      // Where a client's connection to `host` port 80 lands.
      const landing = async (host: string) => {
        const before = lines.length;
        await topo.exec(
          topo.client,
          "curl",
          "-sg",
          "--max-time",
          "3",
          "-o",
          "/dev/null",
          `http://${host.includes(":") ? `[${host}]` : host}/`,
        ).catch(() => {}); // the listener closes at once: curl fails
        for (let i = 0; i < 60 && lines.length === before; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        return lines.slice(before).map((l) => l.split(" ")[1]).join(",") || "nowhere";
      };
      const expect = async () => {
        assert.equal(await landing(topo.origin4), "3130", "beyond the gateway (IPv4): redirected");
        assert.equal(await landing(topo.origin6), "3130", "beyond the gateway (IPv6): redirected");
        assert.equal(await landing(topo.gateway4), "80", "the gateway itself (IPv4): direct");
        assert.equal(await landing(topo.gateway6), "80", "the gateway itself (IPv6): direct");
      };

      await t.step("iptables and ip6tables", async () => {
        const rules = await readmeBlock("sh", "   iptables:");
        assert.equal(rules.length, 2, rules.join("\n"));
        for (const rule of rules) {
          const [tool, ...args] = rule.split(/\s+/);
          await topo.exec(topo.gateway, tool!, ...args);
        }
        try {
          await expect();
        } finally {
          for (const tool of ["iptables", "ip6tables"]) {
            await topo.exec(topo.gateway, tool, "-t", "nat", "-F", "PREROUTING");
          }
        }
      });

      await t.step("nftables", async () => {
        const table = await readmeBlock("nft", "   nftables:");
        const file = await Deno.makeTempFile({ suffix: ".nft" });
        try {
          await Deno.writeTextFile(file, table.join("\n") + "\n");
          await topo.exec(topo.gateway, "nft", "-f", file);
          await expect();
        } finally {
          await topo.exec(topo.gateway, "nft", "delete", "table", "inet", "shifter").catch(
            () => {},
          );
          await Deno.remove(file);
        }
      });
    } finally {
      listener.kill("SIGKILL");
      await listener.status;
      await reading.catch(() => {});
    }
  },
});
