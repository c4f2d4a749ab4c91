import assert from "node:assert/strict";
import { parseCommandLine, UsageError } from "./options.ts";

function run(args: string[]) {
  const inv = parseCommandLine(args);
  assert.equal(inv.command, "run");
  return (inv as { config: import("./options.ts").DaemonConfig }).config;
}

Deno.test("parseCommandLine() gives the documented defaults", () => {
  const c = run([]);
  assert.deepEqual(c.listen, [{ hostname: "0.0.0.0", port: 3130 }]);
  assert.deepEqual(c.upstreams.map((u) => u.label), ["127.0.0.1:3128"]);
  assert.equal(c.resolver, "auto");
  assert.equal(c.connectTimeoutMs, 5000);
  assert.equal(c.replyTimeoutMs, 15000);
  assert.equal(c.idleTimeoutMs, 600000);
  assert.equal(c.maxConnections, 4096);
  assert.equal(c.logFormat, "text");
  assert.equal(c.logLevel, "info");
  assert.equal(c.memoryReclaim, true);
});

Deno.test("parseCommandLine() turns the memory reclaim off with --no-memory-reclaim", () => {
  assert.equal(run(["--no-memory-reclaim"]).memoryReclaim, false);
});

Deno.test("parseCommandLine() takes 0 where it means never or at once, and the longest timer", () => {
  const c = run(["--idle-timeout", "0", "--drain-timeout", "0", "--sniff-timeout", "596h"]);
  assert.equal(c.idleTimeoutMs, 0);
  assert.equal(c.drainTimeoutMs, 0);
  assert.equal(c.sniffTimeoutMs, 596 * 3_600_000);
});

Deno.test("parseCommandLine() repeats --listen and --upstream in order", () => {
  const c = run([
    "--listen",
    "[::]:3130",
    "--listen",
    "127.0.0.1:3131",
    "--upstream",
    "http://a:3128",
    "--upstream",
    "http://u:p@b:8080",
    "--resolver",
    "sockopt",
    "--idle-timeout",
    "90s",
    "--connect-timeout",
    "500ms",
    "--log-format",
    "json",
    "--log-level",
    "warn",
    "--max-connections",
    "10",
  ]);
  assert.deepEqual(c.listen, [{ hostname: "::", port: 3130 }, {
    hostname: "127.0.0.1",
    port: 3131,
  }]);
  assert.deepEqual(c.upstreams.map((u) => u.label), ["a:3128", "b:8080"]);
  assert.ok(c.upstreams[1]!.authorization?.startsWith("Basic "));
  assert.equal(c.idleTimeoutMs, 90000);
  assert.equal(c.connectTimeoutMs, 500);
  assert.equal(c.logFormat, "json");
  assert.equal(c.logLevel, "warning");
  assert.equal(c.maxConnections, 10);
});

Deno.test("parseCommandLine() rejects bad flags with one line", async (t) => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /unknown option '--bogus'/],
    [["--listen", "nope"], /--listen "nope" is not HOST:PORT/],
    [["--listen", "1.2.3.4:70000"], /no valid port/],
    [["--listen", "0.0.0.0:1", "--listen", "0.0.0.0:1"], /given twice/],
    [["--listen", "[::0]:1", "--listen", "[::]:1"], /--listen \[::\]:1 is given twice/],
    [["--tls-ports", "443,8443", "--http-ports", "80,8443"], /Port 8443 is in both --tls-ports/],
    [["--http-ports", "443"], /Port 443 is in both --tls-ports and --http-ports/],
    [["--upstream", "ftp://x:1"], /must use http:\/\//],
    [["--idle-timeout", "soon"], /not a duration/],
    [["--resolver", "sokopt"], /Unknown resolver "sokopt": use auto, netlink, sockopt, local/],
    [["--resolver", "./no/such/plugin.ts"], /--resolver ".\/no\/such\/plugin.ts" is not a file/],
    [["--sniff-timeout", "600h"], /too long \(at most 596h/],
    [["--drain-timeout", "2147484s"], /too long/],
    [["--connect-timeout", "0"], /must be at least 1ms/],
    [["--reply-timeout", "0s"], /must be at least 1ms/],
    [["--upstream", "http://u:50%off@p:3128"], /not valid percent-encoding/],
    [["--upstream", "http://p:0"], /port 1-65535/],
    [
      ["--upstream", "http://127.0.0.1:99999"],
      /"http:\/\/127\.0\.0\.1:99999" needs a port 1-65535/,
    ],
    [["--upstream", "http://a b:3128"], /is not a URL/],
    [["--max-connections", "0"], /not a whole number/],
    [["--log-format", "xml"], /xml/],
    [["--log-level", "loud"], /--log-level "loud"/],
    [["--listen"], /argument missing/],
  ];
  for (const [args, reason] of cases) {
    await t.step(args.join(" "), () => {
      const error = (() => {
        try {
          parseCommandLine(args);
        } catch (e) {
          return e;
        }
      })();
      assert.ok(
        error instanceof UsageError,
        `expected a UsageError for ${args}`,
      );
      assert.match(error.message, reason);
      assert.ok(!error.message.includes("\n"), "one line");
    });
  }
});

Deno.test("parseCommandLine() parses the operator commands", () => {
  const inv = parseCommandLine(["lookup", "[fd77:1::2]:40000"]);
  assert.equal(inv.command, "lookup");
  assert.deepEqual((inv as { target: unknown }).target, {
    hostname: "fd77:1::2",
    port: 40000,
  });
  assert.equal(parseCommandLine(["kernel-stats"]).command, "kernel-stats");
  assert.equal(parseCommandLine(["kernel-dump"]).command, "kernel-dump");
});

Deno.test("--help shows each default as it is written on the command line", () => {
  // Commander prints a default as the value it holds: 5000 for a duration
  // a bare number of which means seconds, {} for a Set of ports.
  const text = (parseCommandLine(["--help"]) as { text: string }).text.replace(/\s+/g, " ");
  const defaults: [string, string][] = [
    ["--listen", "0.0.0.0:3130"],
    ["--upstream", "http://127.0.0.1:3128"],
    ["--connect-timeout", "5s"],
    ["--reply-timeout", "15s"],
    ["--idle-timeout", "10m"],
    ["--drain-timeout", "30s"],
    ["--hold-down", "30s"],
    ["--sniff-timeout", "3s"],
    ["--tls-ports", "443"],
    ["--http-ports", "80"],
  ];
  for (const [flag, shown] of defaults) {
    const entry = text.slice(
      text.indexOf(` ${flag} <`),
      text.indexOf(" --", text.indexOf(` ${flag} <`) + 3),
    );
    assert.match(entry, new RegExp(`\\(default: ${shown.replaceAll(".", "\\.")}\\)$`), entry);
    // What --help shows parses to what is used when the flag is left out.
    const given = parseCommandLine([flag, shown]);
    const left = parseCommandLine([]);
    assert.ok(given.command === "run" && left.command === "run");
    assert.deepEqual(given.config, left.config, flag);
  }
});

Deno.test("parseCommandLine() prints help and version", () => {
  const help = parseCommandLine(["--help"]);
  assert.equal(help.command, "print");
  assert.match((help as { text: string }).text, /--upstream <url>/);
  assert.match(
    (parseCommandLine(["--version"]) as { text: string }).text,
    /^\d+\.\d+\.\d+/,
  );
});

Deno.test("without --upstream, the upstreams come from SHIFTER_UPSTREAM (off the command line)", () => {
  const before = Deno.env.get("SHIFTER_UPSTREAM");
  const upstreams = (args: string[]) => {
    const inv = parseCommandLine(args);
    assert.ok(inv.command === "run");
    return inv.config.upstreams.map((u) => `${u.label} ${u.authorization ?? "-"}`);
  };
  try {
    Deno.env.set("SHIFTER_UPSTREAM", " http://u:p@192.0.2.1:3128\n http://[2001:db8::1]:8080 ");
    assert.deepEqual(upstreams([]), [
      `192.0.2.1:3128 Basic ${btoa("u:p")}`,
      "[2001:db8::1]:8080 -",
    ]);
    // A flag wins over the environment.
    assert.deepEqual(upstreams(["--upstream", "http://192.0.2.9:3128"]), ["192.0.2.9:3128 -"]);
    Deno.env.set("SHIFTER_UPSTREAM", "proxy.example:3128");
    assert.throws(
      () => parseCommandLine([]),
      /^UsageError: SHIFTER_UPSTREAM "proxy\.example:3128"/,
    );
    Deno.env.set("SHIFTER_UPSTREAM", " ");
    assert.deepEqual(upstreams([]), ["127.0.0.1:3128 -"]);
  } finally {
    if (before === undefined) Deno.env.delete("SHIFTER_UPSTREAM");
    else Deno.env.set("SHIFTER_UPSTREAM", before);
  }
});

Deno.test("parseCommandLine() names a mistyped command, and the nearest one", () => {
  const cases: [string[], RegExp][] = [
    [["kernel-stat"], /^unknown command "kernel-stat" \(did you mean kernel-stats\?\); commands: /],
    [
      ["--listen", "127.0.0.1:1", "frobnicate"],
      /^unknown command "frobnicate"; commands: lookup, /,
    ],
    // A command's own extra operands are still said as such.
    [["kernel-stats", "extra"], /^too many arguments for 'kernel-stats'/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseCommandLine(args), (error) => {
      assert.ok(error instanceof UsageError, String(error));
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("parseCommandLine() takes one link-local address on two links (zones), not twice the same", () => {
  const c = run(["--listen", "[fe80::1%eth0]:3130", "--listen", "[fe80::1%eth1]:3130"]);
  assert.equal(c.listen.length, 2);
  assert.throws(
    () =>
      parseCommandLine(["--listen", "[fe80::1%eth0]:3130", "--listen", "[fe80::0:1%eth0]:3130"]),
    /is given twice/,
  );
});
