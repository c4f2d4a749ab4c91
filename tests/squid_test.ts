/**
 * The relay against a real Squid on loopback: byte-exact transfers,
 * server-speaks-first, Squid's own denials and proxy authentication.
 * Original destinations come from an in-test resolver (no NAT needed here;
 * tests/e2e_test.ts covers REDIRECT).
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createLoopGuard } from "../relay/loop_guard.ts";
import { startServer } from "../relay/server.ts";
import { parseUpstream } from "../relay/upstream.ts";
import type { Resolver } from "../resolvers/resolver.ts";
import { freePort } from "./_daemon.ts";
import { hasProgram, readmeBlock, run, skipUnless, SQUID_REQUIREMENTS, waitFor } from "./_env.ts";
import { startSquid } from "./_squid.ts";
import { patternBytes } from "./fixtures/pattern.ts";

const ignore = skipUnless("Squid integration tests", {
  ...SQUID_REQUIREMENTS,
  openssl: hasProgram("openssl"),
});
const enc = new TextEncoder();

/** Loopback origin: banner first, then sends `down` pattern bytes and hashes what it receives. */
function origin(down: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const hashes: string[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      (async () => {
        try {
          await conn.write(enc.encode("220 hello\r\n"));
          const writer = (async () => {
            for (let off = 0; off < down; off += 65536) {
              const chunk = patternBytes(off, Math.min(65536, down - off));
              for (let o = 0; o < chunk.length;) {
                o += await conn.write(chunk.subarray(o));
              }
            }
          })();
          const h = createHash("sha256");
          const buf = new Uint8Array(65536);
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            h.update(buf.subarray(0, n));
          }
          await writer;
          hashes.push(h.digest("hex"));
        } catch { /* reset */ }
        conn.close();
      })();
    }
  })();
  return {
    port: listener.addr.port,
    hashes,
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop;
    },
  };
}

async function shifterVia(upstreamUrl: string | string[], destPort: number) {
  const listen = [{ hostname: "127.0.0.1", port: 0 }];
  const resolver: Resolver = {
    name: "fixed",
    resolve: () => ({ hostname: "127.0.0.1", port: destPort, family: "ipv4" }),
  };
  const server = startServer({
    listen,
    upstreams: [upstreamUrl].flat().map(parseUpstream),
    resolver,
    loopGuard: await createLoopGuard(listen, []),
  });
  return {
    port: server.addrs[0]!.port,
    async [Symbol.asyncDispose]() {
      await server.shutdown(2000);
    },
  };
}

Deno.test({
  name: "through a real Squid: banner first, 8 MiB each way byte-exact",
  ignore,
  async fn() {
    const size = 8 * 1024 * 1024;
    await using o = origin(size);
    await using squid = await startSquid({ port: freePort() });
    await using s = await shifterVia(`http://127.0.0.1:${squid.port}`, o.port);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
    const up = patternBytes(12345, size);
    const sending = (async () => {
      for (let off = 0; off < up.length;) {
        off += await conn.write(up.subarray(off, off + 65536));
      }
    })();
    const got = createHash("sha256");
    let total = 0;
    let head = "";
    const buf = new Uint8Array(65536);
    while (total < size + 11) {
      const n = await conn.read(buf);
      if (n === null) break;
      if (total < 11) {
        head += new TextDecoder().decode(
          buf.subarray(0, Math.min(n, 11 - total)),
        );
      }
      const start = Math.max(0, 11 - total);
      got.update(buf.subarray(start, n));
      total += n;
    }
    await sending;
    conn.close();
    assert.equal(head, "220 hello\r\n");
    assert.equal(total, size + 11);
    const want = createHash("sha256").update(patternBytes(0, size)).digest(
      "hex",
    );
    assert.equal(got.digest("hex"), want);
    await waitFor(() => o.hashes.length > 0, "the origin's hash of the upload");
    assert.equal(o.hashes[0], createHash("sha256").update(up).digest("hex"));
    // Squid writes the line when it has closed both sides, maybe after the origin saw EOF.
    await waitFor(
      () => squid.accessLog().some((l) => l.includes(`CONNECT 127.0.0.1:${o.port}`)),
      "Squid's line for the CONNECT",
    );
  },
});

Deno.test({
  name: "through a real Squid: a CONNECT Squid denies resets the client",
  ignore,
  async fn() {
    await using o = origin(0);
    await using squid = await startSquid({
      port: freePort(),
      extra: [`acl blocked port ${o.port}`, "http_access deny blocked"],
    });
    await using s = await shifterVia(`http://127.0.0.1:${squid.port}`, o.port);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
    await assert.rejects(
      conn.read(new Uint8Array(100)),
      Deno.errors.ConnectionReset,
    );
    conn.close();
    await waitFor(() => squid.accessLog().some((l) => l.includes("TCP_DENIED/403")), "403 logged");
  },
});

Deno.test({
  name:
    "through a real Squid: deny_info TCP_RESET resets the client, and no failover goes round it",
  ignore,
  async fn() {
    await using o = origin(0);
    await using squid = await startSquid({
      port: freePort(),
      extra: [
        `acl blocked port ${o.port}`,
        "deny_info TCP_RESET blocked",
        "http_access deny blocked",
      ],
    });
    await using open = await startSquid({ port: freePort() });
    await using s = await shifterVia(
      [`http://127.0.0.1:${squid.port}`, `http://127.0.0.1:${open.port}`],
      o.port,
    );
    // Several at once, as a browser opens them to one host.
    await Promise.all(Array.from({ length: 5 }, async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
      await assert.rejects(conn.read(new Uint8Array(100)), Deno.errors.ConnectionReset);
      conn.close();
    }));
    await waitFor(
      () => squid.accessLog().filter((l) => l.includes("TCP_DENIED")).length === 5,
      "every denial logged",
    );
    // (Its readiness probe is logged as a transaction that ended before headers.)
    assert.deepEqual(
      open.accessLog().filter((l) => l.includes("CONNECT")),
      [],
      "the second Squid was never asked",
    );
  },
});

Deno.test({
  name: "through a real Squid: Basic proxy authentication, right and wrong password",
  ignore,
  async fn() {
    await using o = origin(0);
    const dir = await Deno.makeTempDir();
    await Deno.chmod(dir, 0o755);
    const hash = (await run("openssl", "passwd", "-apr1", "s3cret")).trim();
    await Deno.writeTextFile(`${dir}/passwd`, `alice:${hash}\n`);
    await Deno.chmod(`${dir}/passwd`, 0o644);
    await using squid = await startSquid({
      port: freePort(),
      extra: [
        `auth_param basic program /usr/lib/squid/basic_ncsa_auth ${dir}/passwd`,
        "acl authed proxy_auth REQUIRED",
        "http_access deny !authed",
      ],
    });
    {
      await using s = await shifterVia(
        `http://alice:s3cret@127.0.0.1:${squid.port}`,
        o.port,
      );
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
      const buf = new Uint8Array(64);
      const n = await conn.read(buf);
      assert.equal(
        new TextDecoder().decode(buf.subarray(0, n ?? 0)),
        "220 hello\r\n",
      );
      conn.close();
    }
    {
      await using s = await shifterVia(
        `http://alice:wrong@127.0.0.1:${squid.port}`,
        o.port,
      );
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
      await assert.rejects(
        conn.read(new Uint8Array(100)),
        Deno.errors.ConnectionReset,
      );
      conn.close();
    }
    await waitFor(() => squid.accessLog().some((l) => l.includes("TCP_DENIED/407")), "407 logged");
    await Deno.remove(dir, { recursive: true });
  },
});

/** The Squid lines of the README's gateway setup, without its `http_port`. */
async function readmeSquidSnippet(): Promise<string[]> {
  return (await readmeBlock("squid")).filter((l) =>
    !l.startsWith("#") && !l.startsWith("http_port")
  );
}

// The README's Squid lines are what an operator copies: with Shifter's
// default --connect-by name, a LAN client can ask for any name, so the
// proxy must refuse the proxy host's own services. Without the lines these
// CONNECTs pass the ACLs (503: nothing listens, or 200 if something does).
Deno.test({
  name: "the README's Squid lines refuse the proxy host's loopback and link-local services",
  ignore,
  async fn() {
    await using squid = await startSquid({
      port: freePort(),
      extra: await readmeSquidSnippet(),
      // As /etc/hosts has it on a gateway (Squid reads that by default).
      hosts: ["127.0.0.1 localhost", "::1 localhost"],
    });
    const statusOf = async (target: string) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: squid.port });
      try {
        await conn.write(enc.encode(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
        const buf = new Uint8Array(512);
        const n = await conn.read(buf);
        return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0];
      } finally {
        conn.close();
      }
    };
    for (
      const target of [
        "localhost:80",
        "127.0.0.1:80",
        "127.0.0.2:443",
        "[::1]:80",
        "0.0.0.0:80",
        "169.254.169.254:80",
        "[fe80::1]:443",
        "x.ads.example:443",
      ]
    ) {
      assert.equal(await statusOf(target), "HTTP/1.1 403 Forbidden", target);
    }
  },
});
