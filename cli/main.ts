/**
 * The `shifter` program: parse the command line, then run the daemon or an
 * operator command. Exit codes: 0 success, 1 runtime failure, 2 bad usage.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { formatHostPort } from "../resolvers/address.ts";
import { openResolver } from "../resolvers/registry.ts";
import type { Resolver } from "../resolvers/resolver.ts";
import { createLoopGuard } from "../relay/loop_guard.ts";
import { startServer } from "../relay/server.ts";
import { assertFdAccess } from "../sys/fd.ts";
import { checkDirectIo } from "../sys/io.ts";
import { closeLogging, setupLogging } from "./log.ts";
import { type DaemonConfig, parseCommandLine, UsageError, VERSION } from "./options.ts";
import { kernelDump, kernelStats, lookup } from "./kernel.ts";

const log = getLogger(["shifter"]);

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describe(config: DaemonConfig): string {
  return [
    `listen: ${config.listen.map((l) => formatHostPort(l.hostname, l.port)).join(", ")}`,
    `upstream: ${
      config.upstreams.map((u) => u.label + (u.authorization ? " (with credentials)" : "")).join(
        ", ",
      )
    }`,
    `resolver: ${config.resolver}`,
    `connect-timeout: ${config.connectTimeoutMs} ms`,
    `reply-timeout: ${config.replyTimeoutMs} ms`,
    `idle-timeout: ${config.idleTimeoutMs} ms`,
    `drain-timeout: ${config.drainTimeoutMs} ms`,
    `hold-down: ${config.holdDownMs} ms`,
    `max-connections: ${config.maxConnections}`,
    `tls-ports: ${[...config.tlsPorts].join(",") || "none"}`,
    `http-ports: ${[...config.httpPorts].join(",") || "none"}`,
    `connect-by: ${config.connectBy}`,
    `sniff-timeout: ${config.sniffTimeoutMs} ms`,
    `memory-reclaim: ${config.memoryReclaim ? "on" : "off"}`,
    `log: ${config.logFormat}, ${config.logLevel}`,
  ].join("\n");
}

/** Time a resolver's `close()` is given at exit, in ms. */
const RESOLVER_CLOSE_TIMEOUT_MS = 5000;

async function runDaemon(config: DaemonConfig): Promise<number> {
  try {
    await assertFdAccess();
  } catch (error) {
    log.fatal("Cannot start: {error}", { error: errorText(error) });
    return 1;
  }
  const noDirectIo = await checkDirectIo();
  if (noDirectIo !== undefined) {
    log.warning(
      "Relaying through Deno's public read/write methods (slower): {reason} (Deno {deno})",
      { reason: noDirectIo, deno: Deno.version.deno },
    );
  }
  let resolver: Resolver;
  try {
    resolver = await openResolver(config.resolver);
  } catch (error) {
    log.fatal("Cannot start: {error}", { error: errorText(error) });
    return 1;
  }
  const stop = Promise.withResolvers<string>();
  let handlers: [Deno.Signal, () => void][] = [];
  try {
    const loopGuard = await createLoopGuard(
      config.listen,
      config.upstreams.map((u) => ({ hostname: u.hostname, port: u.port })),
    );
    // Before the "listening" line, which a supervisor may act on: a signal
    // must find its handler, not the default action (death, undrained). Not
    // before the loop guard's lookups, though: a signal while they hang
    // must still end the process at once.
    // SIGHUP would end the process at once, undrained, and systemd counts
    // that as a clean exit (no Restart=on-failure): there is nothing to
    // reload, so say so and go on.
    const ignoreHangup = () =>
      log.warning(
        "SIGHUP ignored: Shifter has no configuration to reload; restart it to change flags",
      );
    handlers = [
      ["SIGTERM", () => stop.resolve("SIGTERM")],
      ["SIGINT", () => stop.resolve("SIGINT")],
      ["SIGHUP", ignoreHangup],
    ];
    for (const [s, h] of handlers) Deno.addSignalListener(s, h);
    const server = startServer({
      listen: config.listen,
      upstreams: config.upstreams,
      resolver,
      loopGuard,
      connectTimeoutMs: config.connectTimeoutMs,
      replyTimeoutMs: config.replyTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      maxConnections: config.maxConnections,
      holdDownMs: config.holdDownMs,
      tlsPorts: config.tlsPorts,
      httpPorts: config.httpPorts,
      connectBy: config.connectBy,
      sniffTimeoutMs: config.sniffTimeoutMs,
      memoryReclaim: config.memoryReclaim,
    });
    log.info(
      "Shifter {version} listening on {listen}, upstream {upstream}, resolver {resolver}",
      {
        version: VERSION,
        listen: server.addrs.map((a) => formatHostPort(a.hostname, a.port))
          .join(", "),
        upstream: config.upstreams.map((u) => u.label).join(", "),
        resolver: resolver.name,
      },
    );
    const signal = await stop.promise;
    // A second SIGTERM or SIGINT (Ctrl-C again) ends the drain: the
    // connections still open are closed, and logged as such. Not one within
    // a second of the first: that is the same stop delivered twice (systemd
    // or `timeout` signal the whole process group, and `deno task` forwards
    // what it got to this process too). A third ends the process at once.
    const stoppedAt = performance.now();
    let hurried = false;
    const again = (s: Deno.Signal) => () => {
      if (performance.now() - stoppedAt < 1000) return;
      if (hurried) Deno.exit(s === "SIGINT" ? 130 : 143);
      hurried = true;
      log.warning("{signal} again: closing the connections still open", { signal: s });
      server.abortAll("shutdown");
    };
    // The new listeners before the old go: never a moment without one.
    const hurry: [Deno.Signal, () => void][] = [
      ["SIGTERM", again("SIGTERM")],
      ["SIGINT", again("SIGINT")],
    ];
    for (const [s, h] of hurry) Deno.addSignalListener(s, h);
    for (const [s, h] of handlers) if (s !== "SIGHUP") Deno.removeSignalListener(s, h);
    handlers = [...hurry, ["SIGHUP", ignoreHangup]];
    log.info("{signal}: no longer accepting; draining", { signal });
    await server.shutdown(config.drainTimeoutMs);
    log.info("Stopped");
    return 0;
  } catch (error) {
    log.fatal("Cannot start: {error}", { error: errorText(error) });
    return 1;
  } finally {
    // Bounded: a plugin's close() that never settles must not hold the exit.
    // The signal listeners stay meanwhile: a signal must not kill the
    // process before it returns (a third one still exits at once).
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        resolver.close?.(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no end within ${RESOLVER_CLOSE_TIMEOUT_MS} ms`)),
            RESOLVER_CLOSE_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (error) {
      log.error("Resolver {resolver} did not close cleanly: {error}", {
        resolver: resolver.name,
        error: errorText(error),
      });
    } finally {
      clearTimeout(timer);
      for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
    }
  }
}

/**
 * Run the `shifter` program.
 *
 * @param args The arguments after the program name.
 * @returns The exit code.
 */
export async function main(args: readonly string[]): Promise<number> {
  let invocation;
  try {
    invocation = parseCommandLine(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`shifter: ${error.message} (see --help)`);
    return 2;
  }
  if (invocation.command === "print") {
    console.log(invocation.text.trimEnd());
    return 0;
  }
  const { config } = invocation;
  if (config.check) {
    console.log(describe(config));
    return 0;
  }
  await setupLogging(config.logFormat, config.logLevel);
  try {
    switch (invocation.command) {
      case "run":
        return await runDaemon(config);
      case "lookup":
        return await lookup(invocation.target);
      case "kernel-stats":
        return await kernelStats();
      case "kernel-dump":
        return await kernelDump();
    }
  } finally {
    await closeLogging();
  }
}
