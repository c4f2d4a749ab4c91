/**
 * The command line: flags, their defaults, and their validation. Operators'
 * scripts rely on these names; keep them stable.
 *
 * @module
 */

import { Command, CommanderError, Option } from "@commander-js/extra-typings";
import { isLogLevel, type LogLevel } from "@logtape/logtape";
import denoJson from "../deno.json" with { type: "json" };
import {
  canonicalAddress,
  formatHostPort,
  type HostPort,
  parseHostPort,
  withoutZone,
} from "../resolvers/address.ts";
import { AUTO, BUILTIN_RESOLVERS, checkResolverSpec } from "../resolvers/registry.ts";
import { parseUpstream, type Upstream } from "../relay/upstream.ts";
import { CONNECT_BY, type ConnectBy } from "../relay/server.ts";
import { type DurationLimits, parseDuration } from "./duration.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat } from "./log.ts";

/** Shifter's version. */
export const VERSION: string = denoJson.version;

/** The daemon's validated settings. */
export interface DaemonConfig {
  /** @default {[0.0.0.0:3130]} */
  listen: HostPort[];
  /** @default {$SHIFTER_UPSTREAM's URLs, else [http://127.0.0.1:3128]} */
  upstreams: Upstream[];
  /** `auto`, a built-in name, or a plugin path. @default {"auto"} */
  resolver: string;
  /** @default {5000} */
  connectTimeoutMs: number;
  /** @default {15000} */
  replyTimeoutMs: number;
  /** 0 disables. @default {600000} */
  idleTimeoutMs: number;
  /** @default {30000} */
  drainTimeoutMs: number;
  /** @default {30000} */
  holdDownMs: number;
  /** @default {4096} */
  maxConnections: number;
  /** @default {[443]} */
  tlsPorts: Set<number>;
  /** @default {[80]} */
  httpPorts: Set<number>;
  /** @default {"name"} */
  connectBy: ConnectBy;
  /** @default {3000} */
  sniffTimeoutMs: number;
  /** Hand memory back to the kernel after bursts of load. @default {true} */
  memoryReclaim: boolean;
  /** @default {"text"} */
  logFormat: LogFormat;
  /** @default {"info"} */
  logLevel: LogLevel;
  /** Validate, print the settings and exit. */
  check: boolean;
}

/** What the command line asks for. */
export type Invocation =
  | { command: "run"; config: DaemonConfig }
  | { command: "lookup"; target: HostPort; config: DaemonConfig }
  | { command: "kernel-stats"; config: DaemonConfig }
  | { command: "kernel-dump"; config: DaemonConfig }
  | { command: "print"; text: string };

/** A bad command line: print `message` (one line) and exit 2. */
export class UsageError extends Error {
  /** @param message The one-line reason. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const DEFAULT_LISTEN = "0.0.0.0:3130";
const DEFAULT_UPSTREAM = "http://127.0.0.1:3128";
/** Where upstream URLs come from when no `--upstream` is given. */
export const UPSTREAM_ENV = "SHIFTER_UPSTREAM";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInt(what: string) {
  return (text: string): number => {
    if (!/^[0-9]+$/.test(text) || +text < 1 || +text > 1_000_000) {
      throw new TypeError(
        `${what} "${text}" is not a whole number from 1 to 1000000`,
      );
    }
    return +text;
  };
}

function portList(what: string) {
  return (text: string): Set<number> => {
    const ports = new Set<number>();
    for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
      if (!/^[0-9]{1,5}$/.test(part) || +part < 1 || +part > 65535) {
        throw new TypeError(`${what} "${text}" is not a comma-separated list of ports`);
      }
      ports.add(+part);
    }
    return ports;
  };
}

function duration(what: string, limits?: DurationLimits) {
  return (text: string): number => parseDuration(text, what, limits);
}

function buildProgram() {
  const program = new Command()
    .name("shifter")
    .description(
      "Transparent redirector: sends connections that a REDIRECT rule sends here through an HTTP CONNECT proxy.",
    )
    .version(VERSION, "-V, --version")
    .addOption(
      new Option(
        "--listen <host:port>",
        "address to accept redirected connections on, repeatable (IPv6 as [::]:3130)",
      ).argParser(collect).default([] as string[], DEFAULT_LISTEN),
    )
    .addOption(
      new Option(
        "--upstream <url>",
        `CONNECT proxy, repeatable, tried in order with failover (credentials as http://user:pass@host:port); without it, the URLs in $${UPSTREAM_ENV}, separated by spaces`,
      ).argParser(collect).default([] as string[], DEFAULT_UPSTREAM),
    )
    .option(
      "--resolver <name|path>",
      `how original destinations are found: ${AUTO} (netlink if the kernel module answers, with sockopt for connections it has no entry for or when a lookup fails; else sockopt), ${
        BUILTIN_RESOLVERS.map((r) => r.name).join(", ")
      }, or a path to a plugin module`,
      AUTO,
    )
    .addOption(
      new Option("--connect-timeout <duration>", "upstream TCP connect timeout")
        .argParser(duration("--connect-timeout", { allowZero: false })).default(5000, "5s"),
    )
    .addOption(
      new Option("--reply-timeout <duration>", "time for the upstream's CONNECT reply")
        .argParser(duration("--reply-timeout", { allowZero: false })).default(15_000, "15s"),
    )
    .addOption(
      new Option("--idle-timeout <duration>", "close tunnels idle this long (0 = never)")
        .argParser(duration("--idle-timeout")).default(600_000, "10m"),
    )
    .addOption(
      new Option(
        "--drain-timeout <duration>",
        "on SIGTERM/SIGINT, time for connections to finish (the signal again, 1 s or more later: close them now)",
      )
        .argParser(duration("--drain-timeout")).default(30_000, "30s"),
    )
    .addOption(
      new Option("--hold-down <duration>", "a failed upstream is tried last for this long")
        .argParser(duration("--hold-down")).default(30_000, "30s"),
    )
    .option(
      "--max-connections <n>",
      "connections in flight at most",
      positiveInt("--max-connections"),
      4096,
    )
    .addOption(
      new Option(
        "--tls-ports <list>",
        "destination ports whose TLS ClientHello (SNI) names the CONNECT target; empty for none",
      ).argParser(portList("--tls-ports")).default(new Set([443]), "443"),
    )
    .addOption(
      new Option(
        "--http-ports <list>",
        "destination ports whose HTTP Host header names the CONNECT target; empty for none",
      ).argParser(portList("--http-ports")).default(new Set([80]), "80"),
    )
    .addOption(
      new Option(
        "--connect-by <how>",
        "CONNECT by the sniffed name (else the address), always by ip, or by name only when it resolves to the original address",
      ).choices(CONNECT_BY).default("name" as ConnectBy),
    )
    .addOption(
      new Option("--sniff-timeout <duration>", "time to wait for the ClientHello or request head")
        .argParser(duration("--sniff-timeout")).default(3000, "3s"),
    )
    .option(
      "--no-memory-reclaim",
      "keep the memory a burst of load grew into (no compacting GC and malloc trim after it)",
    )
    .addOption(
      new Option("--log-format <format>", "log line format").choices(
        LOG_FORMATS,
      ).default("text" as LogFormat),
    )
    .option(
      "--log-level <level>",
      `one of ${LOG_LEVELS.join(", ")} (warn for warning)`,
      "info",
    )
    .option("--check", "validate the settings, print them, and exit")
    .addHelpText(
      "after",
      `
Durations: 500ms, 5s, 10m, 2h, or plain seconds.
Example:
  iptables -t nat -A PREROUTING -i lan0 -p tcp -m multiport --dports 80,443 -j REDIRECT --to-ports 3130
  shifter --upstream http://proxy.example:3128`,
    );
  program.command("lookup <addr:port>")
    .description(
      "ask the Shifter kernel module where the client ADDR:PORT was going (netlink)",
    );
  program.command("kernel-stats")
    .description("print the Shifter kernel module's counters (netlink)");
  program.command("kernel-dump")
    .description("print the Shifter kernel module's table of recorded connections (netlink)");
  return program;
}

function toConfig(
  opts: ReturnType<ReturnType<typeof buildProgram>["opts"]>,
): DaemonConfig {
  const level = opts.logLevel === "warn" ? "warning" : opts.logLevel;
  if (!isLogLevel(level)) {
    throw new TypeError(
      `--log-level "${opts.logLevel}" is not one of ${LOG_LEVELS.join(", ")}`,
    );
  }
  checkResolverSpec(opts.resolver);
  const listen = (opts.listen.length ? opts.listen : [DEFAULT_LISTEN])
    .map((l) => parseHostPort(l, "--listen"));
  const seen = new Set<string>();
  for (const l of listen) {
    // One address written two ways ([::0] and [::]) is still one address;
    // one link-local address on two links (a zone each) is two.
    const zone = l.hostname.slice(withoutZone(l.hostname).length);
    const key = `${canonicalAddress(l.hostname) ?? l.hostname.toLowerCase()}${zone}|${l.port}`;
    if (seen.has(key)) {
      throw new TypeError(`--listen ${formatHostPort(l.hostname, l.port)} is given twice`);
    }
    seen.add(key);
  }
  for (const port of opts.tlsPorts) {
    if (opts.httpPorts.has(port)) {
      throw new TypeError(
        `Port ${port} is in both --tls-ports and --http-ports: a port is read as one or the other`,
      );
    }
  }
  return {
    listen,
    upstreams: opts.upstream.length ? opts.upstream.map(parseUpstream) : upstreamsFromEnv(),
    resolver: opts.resolver,
    connectTimeoutMs: opts.connectTimeout,
    replyTimeoutMs: opts.replyTimeout,
    idleTimeoutMs: opts.idleTimeout,
    drainTimeoutMs: opts.drainTimeout,
    holdDownMs: opts.holdDown,
    maxConnections: opts.maxConnections,
    tlsPorts: opts.tlsPorts,
    httpPorts: opts.httpPorts,
    connectBy: opts.connectBy,
    sniffTimeoutMs: opts.sniffTimeout,
    memoryReclaim: opts.memoryReclaim,
    logFormat: opts.logFormat,
    logLevel: level,
    check: opts.check === true,
  };
}

/**
 * The upstreams in `SHIFTER_UPSTREAM` (URLs separated by spaces), else the
 * default: credentials there stay out of `ps` and the unit file.
 */
function upstreamsFromEnv(): Upstream[] {
  let value: string | undefined;
  try {
    value = Deno.env.get(UPSTREAM_ENV);
  } catch {
    // No --allow-env: as if unset.
  }
  const urls = value?.split(/\s+/).filter((u) => u !== "") ?? [];
  if (urls.length === 0) return [parseUpstream(DEFAULT_UPSTREAM)];
  return urls.map((url) => {
    try {
      return parseUpstream(url);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      throw new TypeError(error.message.replace(/^--upstream/, UPSTREAM_ENV));
    }
  });
}

/** `unknown command "X"`, with the nearest command when one is close. */
function unknownCommand(word: string, names: string[]): string {
  let near: string | undefined;
  let best = 3; // no further than 2 edits
  for (const n of names) {
    const d = editDistance(word, n);
    if (d < best) [near, best] = [n, d];
  }
  return `unknown command "${word}"${
    near === undefined ? "" : ` (did you mean ${near}?)`
  }; commands: ${names.join(", ")}`;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        row[j]! + 1,
        next[j - 1]! + 1,
        row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    row = next;
  }
  return row[b.length]!;
}

/**
 * Parse the command line.
 *
 * @param args The arguments after the program name.
 * @returns What to do.
 * @throws {UsageError} With a one-line reason for any bad flag or value.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./options.ts";
 * const inv = parseCommandLine(["--listen", "[::]:3130"]);
 * inv.command; // "run"
 * ```
 */
export function parseCommandLine(args: readonly string[]): Invocation {
  const program = buildProgram();
  let out = "";
  let sub: { name: string; args: string[] } | undefined;
  program.exitOverride().configureOutput({
    writeOut: (s) => out += s,
    writeErr: (s) => out += s,
    outputError: () => {},
  });
  for (const cmd of program.commands) {
    cmd.exitOverride().configureOutput({
      writeOut: (s) => out += s,
      writeErr: (s) => out += s,
      outputError: () => {},
    });
    cmd.action((...a) => {
      sub = {
        name: cmd.name(),
        args: a.filter((x) => typeof x === "string") as string[],
      };
    });
  }
  program.action(() => {});
  try {
    program.parse(args as string[], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === "commander.helpDisplayed" ||
        error.code === "commander.version" || error.code === "commander.help"
      ) {
        return { command: "print", text: out };
      }
      // The daemon itself takes no operands: the first is a mistyped
      // command. (A command's own excess operands are said "for 'NAME'".)
      const word = program.args[0];
      if (
        error.code === "commander.excessArguments" && word !== undefined &&
        !error.message.includes(" for '")
      ) {
        throw new UsageError(unknownCommand(word, program.commands.map((c) => c.name())));
      }
      throw new UsageError(
        error.message.replace(/^error: /, "").split("\n")[0]!,
      );
    }
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
  try {
    const config = toConfig(program.opts());
    if (sub?.name === "lookup") {
      return {
        command: "lookup",
        target: parseHostPort(sub.args[0]!, "lookup"),
        config,
      };
    }
    if (sub?.name === "kernel-stats" || sub?.name === "kernel-dump") {
      return { command: sub.name, config };
    }
    return { command: "run", config };
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
}
