/**
 * Shifter: a transparent redirector for Linux gateways. Connections that an
 * nftables or iptables `REDIRECT` rule sends here are tunnelled through an
 * HTTP `CONNECT` proxy to the destination the client originally asked for.
 *
 * Run it: `deno task start --upstream http://127.0.0.1:3128`.
 *
 * @module
 */

export * from "./resolvers/mod.ts";
export * from "./relay/mod.ts";
export * from "./sniff/mod.ts";
export { main } from "./cli/main.ts";

if (import.meta.main) {
  const { main } = await import("./cli/main.ts");
  Deno.exit(await main(Deno.args));
}
