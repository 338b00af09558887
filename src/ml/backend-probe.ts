import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { isSingleExecutable } from "../common/sea.js";
import { packageVersion } from "../common/version.js";
import { hasEmbeddedWasm } from "./wasm-assets.js";

/**
 * Names the tfjs backend `selectBackend` (backend.ts) will pick, following the same order, without
 * loading TensorFlow.js: `--version` reports it and stays instant. Commands that train log the actual choice.
 */
export function probeBackend(env: Record<string, string | undefined> = process.env): string {
  const forced = env.FBM_BACKEND?.trim();
  if (forced === "tensorflow" && isSingleExecutable())
    return "tensorflow (FBM_BACKEND), which a single executable cannot load";
  if (forced) return `${forced} (FBM_BACKEND)`;
  if (nativeAddonInstalled()) return "tensorflow (native)";
  const wasm = wasmDetail(env.FBM_WASM_PATH);
  return wasm === undefined ? "cpu" : `wasm (${wasm})`;
}

/** The two-line `--version` text of both CLIs: the package version, then the backend, e.g. "tfjs backend: wasm (SIMD)". */
export function versionText(): string {
  return `${packageVersion()}\ntfjs backend: ${probeBackend()}`;
}

/** tfjs's own SIMD probe (flags_wasm.ts): a tiny module using one SIMD instruction. */
const simdModule = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 9, 1, 7, 0, 65, 0, 253, 15, 26, 11,
]);

function wasmDetail(wasmPath: string | undefined): string | undefined {
  if (typeof WebAssembly === "undefined") return undefined;
  const simd = WebAssembly.validate(simdModule);
  const file = simd ? "tfjs-backend-wasm-simd.wasm" : "tfjs-backend-wasm.wasm";
  const kind = simd ? "SIMD" : "no SIMD";
  if (wasmPath === undefined && hasEmbeddedWasm()) return `${kind}, embedded`;
  const dir = wasmPath ?? packageDir("@tensorflow/tfjs-backend-wasm", "dist");
  return dir !== undefined && existsSync(path.join(dir, file)) ? kind : undefined;
}

/** Whether @tensorflow/tfjs-node and its native addon are installed; a single executable cannot load it. */
function nativeAddonInstalled(): boolean {
  if (isSingleExecutable()) return false;
  const lib = packageDir("@tensorflow/tfjs-node", "lib");
  if (lib === undefined || !existsSync(lib)) return false;
  return readdirSync(lib).some(
    (dir) => dir.startsWith("napi-v") && existsSync(path.join(lib, dir, "tfjs_binding.node")),
  );
}

/** `<package root>/<sub>` of an installed package, or undefined when it is not installed. */
function packageDir(name: string, sub: string): string | undefined {
  try {
    return path.join(path.dirname(createRequire(import.meta.url).resolve(`${name}/package.json`)), sub);
  } catch {
    return undefined;
  }
}
