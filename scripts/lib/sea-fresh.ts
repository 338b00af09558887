import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Whether `dist/` still holds executables built from the current sources: the build records a hash of
 * every file that went into each one (esbuild's inputs, the builder, the wasm assets, the lock file) and
 * the node version; the end-to-end test rebuilds only when one of them changed.
 */

interface InputsRecord {
  node: string;
  files: Record<string, string>;
}

function recordFile(outDir: string, name: string): string {
  return join(outDir, ".build", `${name}.inputs.json`);
}

/** Writes the hashes of `files` (paths relative to `root`) that executable `name` was built from. */
export function recordInputs(outDir: string, name: string, files: string[], root: string): void {
  const record: InputsRecord = {
    node: process.version,
    files: Object.fromEntries(files.map((f) => [f, hashFile(join(root, f))])),
  };
  const file = recordFile(outDir, name);
  mkdirSync(join(outDir, ".build"), { recursive: true });
  writeFileSync(`${file}.${process.pid}`, `${JSON.stringify(record, null, 1)}\n`);
  renameSync(`${file}.${process.pid}`, file);
}

/** True when each executable exists and none of its recorded inputs changed (same node version too). */
export function executablesAreFresh(outDir: string, root: string, names: readonly string[], suffix = ""): boolean {
  return names.every((name) => {
    const record = recordFile(outDir, name);
    if (!existsSync(join(outDir, `${name}${suffix}`)) || !existsSync(record)) return false;
    const { node, files } = JSON.parse(readFileSync(record, "utf8")) as InputsRecord;
    return node === process.version && Object.entries(files).every(([f, hash]) => hashFile(join(root, f)) === hash);
  });
}

function hashFile(path: string): string {
  return existsSync(path) ? createHash("sha256").update(readFileSync(path)).digest("hex") : "missing";
}
