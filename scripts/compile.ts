/**
 * `deno task compile`: build `dist/shifter`, one executable file with the
 * same command line as `deno task start`, plus the netlink shim.
 *
 * `deno compile` needs Deno's `denort` runtime, which it downloads on first
 * use (or takes from `DENORT_BIN`). Where that download is impossible (an
 * offline build host), this falls back to a self-extracting executable: a
 * short shell header followed by a tar.gz of this Deno binary, the bundled
 * daemon (`deno bundle`) and `libshifter_nl.so`, unpacked once into a cache
 * directory keyed by its checksum. Both behave the same for the operator.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { startTaskFlags } from "./start_flags.ts";

const root = new URL("..", import.meta.url).pathname;
const dist = `${root}dist`;
const deno = Deno.execPath();
/** The flags of `deno task start`: the executable runs exactly as the task does. */
const PERMISSIONS: string[] = startTaskFlags();

async function sh(cmd: string, args: string[], cwd = root): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      cwd,
      stdout: "inherit",
      stderr: "inherit",
    })
      .output();
    return out.success;
  } catch (error) {
    // Not installed (make, tar...): the caller says what that means.
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

await Deno.mkdir(dist, { recursive: true });
const shim = `${root}libnl-shim/libshifter_nl.so`;
const haveShim = await sh("make", ["-s", "-C", "libnl-shim"]);
if (!haveShim) {
  console.error(
    "compile: could not build libnl-shim (libnl-3-dev, libnl-genl-3-dev); the netlink resolver will be unavailable",
  );
}

// deno compile will not overwrite a file it did not write (such as an
// earlier self-extracting build): it writes a new name, which replaces the
// old build only once it succeeded, so a failed build leaves that in place.
const fresh = `${dist}/shifter.new`;
await Deno.remove(fresh).catch((error) => {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
});
const compiled = await new Deno.Command(deno, {
  args: ["compile", ...PERMISSIONS, "-o", fresh, `${root}mod.ts`],
  cwd: root,
  env: { NO_COLOR: "1" },
  stdout: "piped",
  stderr: "piped",
}).output();
const compileLog = new TextDecoder().decode(compiled.stdout) +
  new TextDecoder().decode(compiled.stderr);
if (compiled.success) {
  await Deno.rename(fresh, `${dist}/shifter`);
  if (haveShim) await Deno.copyFile(shim, `${dist}/libshifter_nl.so`);
  console.log(
    `compile: dist/shifter (deno compile)${haveShim ? " and dist/libshifter_nl.so beside it" : ""}`,
  );
  Deno.exit(0);
}
// Only a runtime that cannot be had is worked around; anything else (a
// type error, a full disk) is the build's failure, shown as deno said it.
if (!/denort/.test(compileLog)) {
  console.error(compileLog.replace(/\nStack backtrace:[\s\S]*$/, "").trimEnd());
  console.error("compile: deno compile failed");
  Deno.exit(1);
}
const lines = compileLog.split("\n").map((l) => l.trim());
const why = lines.find((l) => /error sending request/.test(l)) ??
  lines.find((l) => /denort/.test(l));
console.error(
  `compile: deno compile could not get its runtime (${
    why?.replace(/^\d+: /, "") ?? "denort"
  }); building a self-extracting dist/shifter instead`,
);
const stage = await Deno.makeTempDir({ prefix: "shifter-compile-" });
try {
  if (
    !await sh(deno, [
      "bundle",
      "--platform",
      "deno",
      "-o",
      `${stage}/shifter.js`,
      `${root}mod.ts`,
    ])
  ) {
    throw new Error("deno bundle failed");
  }
  await Deno.copyFile(deno, `${stage}/deno`);
  await Deno.chmod(`${stage}/deno`, 0o755);
  const files = ["deno", "shifter.js"];
  if (haveShim) {
    await Deno.copyFile(shim, `${stage}/libshifter_nl.so`);
    files.push("libshifter_nl.so");
  }
  if (
    !await sh("tar", ["-czf", `${stage}/payload.tar.gz`, "-C", stage, ...files])
  ) {
    throw new Error("tar failed");
  }
  const payload = await Deno.readFile(`${stage}/payload.tar.gz`);
  const sum = createHash("sha256").update(payload).digest("hex").slice(0, 16);
  const template = `#!/bin/sh
# Shifter, self-extracting: a Deno runtime, the bundled daemon and the
# netlink shim, unpacked once into $SHIFTER_CACHE (default
# /var/cache/shifter as root, else ~/.cache/shifter), one copy per user:
# another user's (mode 700) is not ours to run. Built by
# \`deno task compile\`.
set -e
if [ -n "$SHIFTER_CACHE" ]; then base=$SHIFTER_CACHE
elif [ "$(id -u)" = 0 ]; then base=/var/cache/shifter
else base=\${XDG_CACHE_HOME:-$HOME/.cache}/shifter; fi
dir=$base/${sum}-$(id -u)
if [ ! -f "$dir/.complete" ]; then
  mkdir -p "$base"
  tmp=$(mktemp -d "$base/.unpack.XXXXXX")
  tail -c +@OFFSET@ "$0" | tar -xzf - -C "$tmp"
  touch "$tmp/.complete"
  mv "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
fi
export DENO_DIR="$dir/.deno" DENO_NO_UPDATE_CHECK=1
[ -f "$dir/libshifter_nl.so" ] && : "\${SHIFTER_NL_LIB:=$dir/libshifter_nl.so}" && export SHIFTER_NL_LIB
exec "$dir/deno" run ${
    PERMISSIONS.join(" ")
  } --no-config --no-lock --no-prompt "$dir/shifter.js" "$@"
exit 127
`;
  // The payload starts right after the header; the offset is padded to a
  // fixed width so that writing it does not move the payload.
  const width = template.length - "@OFFSET@".length + 10;
  const header = template.replace("@OFFSET@", String(width + 1).padStart(10, "0"));
  const out = await Deno.open(fresh, {
    write: true,
    create: true,
    truncate: true,
    mode: 0o755,
  });
  await out.write(new TextEncoder().encode(header));
  for (let off = 0; off < payload.length;) {
    off += await out.write(payload.subarray(off));
  }
  out.close();
  await Deno.chmod(fresh, 0o755);
  await Deno.rename(fresh, `${dist}/shifter`);
  console.log(
    `compile: dist/shifter (self-extracting, ${(payload.length / 1048576).toFixed(1)} MiB)`,
  );
} finally {
  await Deno.remove(stage, { recursive: true });
}
