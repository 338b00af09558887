import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { j2kWasmAsset } from "../../src/ml/data/dicom-j2k.js";
import { embeddedWasmFiles } from "../../src/ml/wasm-assets.js";
import { bundleCli } from "./sea-bundle.js";
import { recordInputs } from "./sea-fresh.js";

/**
 * `npm run build`: each CLI bundled by esbuild (sea-bundle.ts) and turned into a Node.js single
 * executable application (a sea-config blob injected with postject into a copy of this node binary),
 * with tfjs-backend-wasm's and OpenJPEG's `.wasm` binaries as SEA assets. Output: `<outDir>/fbm-node`, `fbm-researcher`.
 */

export const repo = resolve(import.meta.dirname, "../..");
export const exeSuffix = process.platform === "win32" ? ".exe" : "";
export const targets = [
  { name: "fbm-node", entry: "scripts/sea/entry-node.ts" },
  { name: "fbm-researcher", entry: "scripts/sea/entry-researcher.ts" },
] as const;
const fuse = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const wasmDir = "node_modules/@tensorflow/tfjs-backend-wasm/dist";
/** OpenJPEG's decoder (DICOM JPEG 2000, src/ml/data/dicom-j2k.ts): its .wasm beside its script in the package. */
const j2kWasm = `node_modules/@cornerstonejs/codec-openjpeg/dist/${j2kWasmAsset}`;

export interface BuildOptions {
  /** Output folder (default `<repo>/dist`); intermediate files go to a temporary folder, removed after. */
  outDir?: string;
  /** Strip symbols from the copied node binary (Linux, when `strip` exists and the copy still runs; default true). */
  strip?: boolean;
  log?: (line: string) => void;
}

export interface BuiltExecutable {
  name: string;
  path: string;
  bytes: number;
}

/** Builds both executables; each must start (`--version`) before it replaces the previous one. */
export async function buildExecutables(options: BuildOptions = {}): Promise<BuiltExecutable[]> {
  const outDir = options.outDir ?? join(repo, "dist");
  const log = options.log ?? (() => {});
  const work = mkdtempSync(join(tmpdir(), "fbm-build-"));
  mkdirSync(outDir, { recursive: true });
  try {
    const base = prepareBaseBinary(work, options.strip ?? true, log);
    const built: BuiltExecutable[] = [];
    for (const target of targets) {
      const bundle = join(work, `${target.name}.cjs`);
      const inputs = await bundleCli({ repo, entry: target.entry, outfile: bundle });
      const config = join(work, `${target.name}.sea.json`);
      const blob = join(work, `${target.name}.blob`);
      writeFileSync(
        config,
        JSON.stringify({
          main: bundle,
          output: blob,
          disableExperimentalSEAWarning: true,
          useCodeCache: true, // about twice as fast a start; built for this platform only
          assets: {
            ...Object.fromEntries(embeddedWasmFiles.map((name) => [name, join(repo, wasmDir, name)])),
            [j2kWasmAsset]: join(repo, j2kWasm),
          },
        }),
      );
      run(process.execPath, ["--experimental-sea-config", config]);
      const path = join(outDir, `${target.name}${exeSuffix}`);
      const partial = join(work, `${target.name}${exeSuffix}`);
      copyFileSync(base, partial);
      chmodSync(partial, 0o755);
      if (process.platform === "darwin") run("codesign", ["--remove-signature", partial]);
      postjectInject(partial, blob);
      if (process.platform === "darwin") run("codesign", ["--sign", "-", partial]);
      run(partial, ["--version"]);
      // Copy then rename: a concurrent reader (another test run) sees the old or the new file, whole.
      copyFileSync(partial, `${path}.${process.pid}.partial`);
      renameSync(`${path}.${process.pid}.partial`, path);
      recordInputs(outDir, target.name, [...inputs, ...buildFiles()], repo);
      const bytes = statSync(path).size;
      built.push({ name: target.name, path, bytes });
      log(
        `${path}  ${(bytes / 2 ** 20).toFixed(1)} MiB  (JavaScript bundle ${(statSync(bundle).size / 2 ** 20).toFixed(1)} MiB)`,
      );
    }
    return built;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Files that shape the executables besides the bundle's inputs: the builder and the wasm assets. */
function buildFiles(): string[] {
  const builder = ["sea-build.ts", "sea-bundle.ts", "sea-fresh.ts"].map((f) => `scripts/lib/${f}`);
  return [...builder, "package-lock.json", ...embeddedWasmFiles.map((name) => `${wasmDir}/${name}`), j2kWasm];
}

/** A copy of this node binary, stripped of symbols where that is safe: only if the stripped copy runs. */
function prepareBaseBinary(work: string, strip: boolean, log: (line: string) => void): string {
  const base = join(work, `node${exeSuffix}`);
  copyFileSync(process.execPath, base);
  chmodSync(base, 0o755);
  if (!strip || process.platform !== "linux") return base;
  const stripped = spawnSync("strip", ["--strip-all", base], { encoding: "utf8" });
  if (stripped.status === 0 && spawnSync(base, ["-e", "process.exit(7)"]).status === 7) return base;
  log(
    `Not stripping the node binary (${stripped.error?.message ?? (stripped.stderr.trim() || "the stripped copy does not run")})`,
  );
  copyFileSync(process.execPath, base);
  return base;
}

/** `npx postject` without npx: writes the blob as NODE_SEA_BLOB and flips the fuse. Its LIEF warnings about
 * `.note.100` sections are known and harmless (nodejs/postject#83), so its output shows only on failure. */
function postjectInject(executable: string, blob: string): void {
  const cli = join(dirname(createRequire(import.meta.url).resolve("postject")), "cli.js");
  const macho = process.platform === "darwin" ? ["--macho-segment-name", "NODE_SEA"] : [];
  run(process.execPath, [cli, executable, "NODE_SEA_BLOB", blob, "--sentinel-fuse", fuse, ...macho]);
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: "utf8" });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim();
    throw new Error(
      `${command} ${args.join(" ")} failed (${result.error?.message ?? `exit ${result.status}`}): ${output}`,
    );
  }
}
