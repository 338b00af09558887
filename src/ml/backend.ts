import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { errorMessage, InputError, RuntimeFailure } from "../common/errors.js";
import { embeddedWasmPaths } from "./wasm-assets.js";

/**
 * Picks the TensorFlow.js backend once per process: native TensorFlow (`@tensorflow/tfjs-node`, an
 * optional dependency) when it loads, else WebAssembly (SIMD when available), else pure-JS cpu.
 * `FBM_BACKEND` (tensorflow | wasm | cpu) overrides, then `prefer`.
 */

export const backendNames = ["tensorflow", "wasm", "cpu"] as const;
export type BackendName = (typeof backendNames)[number];

export interface BackendOptions {
  /** Backend to use unless `FBM_BACKEND` says otherwise. */
  prefer?: string;
  /** Receives the one line naming the choice, e.g. "tfjs backend: wasm (SIMD)". */
  log?: (line: string) => void;
  /**
   * Directory holding the tfjs-backend-wasm `.wasm` files. Default: `$FBM_WASM_PATH`, else the installed
   * package's `dist/`. A single executable uses the copies embedded in it (wasm-assets.ts) unless this is set.
   */
  wasmPath?: string;
  /** Environment to read `FBM_BACKEND`/`FBM_WASM_PATH` from (default `process.env`). */
  env?: Record<string, string | undefined>;
}

let chosen: Promise<string> | undefined;
let active: string | undefined;

/** Selects the backend on first call and returns its name; later calls return the same choice. */
export function selectBackend(options: BackendOptions = {}): Promise<string> {
  chosen ??= chooseBackend(options).catch((error: unknown) => {
    chosen = undefined;
    throw error;
  });
  return chosen;
}

/** The backend the last successful selection activated, or undefined before one finished. */
export function currentBackend(): string | undefined {
  return active;
}

/** Does the work of `selectBackend` without memoizing; tests call it to exercise each path. */
export async function chooseBackend(options: BackendOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const forced = env.FBM_BACKEND?.trim() || undefined;
  const wanted = forced ?? options.prefer;
  const source = forced ? "FBM_BACKEND" : "prefer";
  if (wanted !== undefined && !(backendNames as readonly string[]).includes(wanted)) {
    throw new InputError(`Unknown tfjs backend "${wanted}" (${source}): use one of ${backendNames.join(", ")}`);
  }
  // Debug checks and tfjs's "install tfjs-node" hint have no place in a CLI's output.
  tf.enableProdMode();
  const candidates: BackendName[] = wanted ? [wanted as BackendName] : [...backendNames];
  const failures: string[] = [];
  for (const name of candidates) {
    try {
      const detail = await activate(name, options.wasmPath ?? env.FBM_WASM_PATH);
      options.log?.(`tfjs backend: ${name}${detail ? ` (${detail})` : ""}`);
      active = name;
      return name;
    } catch (error) {
      failures.push(firstLine(error));
    }
  }
  if (!wanted) throw new RuntimeFailure(`No tfjs backend could start: ${failures.join("; ")}`);
  const others = backendNames.filter((n) => n !== wanted).join(" or ");
  const fix = source === "FBM_BACKEND" ? `set FBM_BACKEND to ${others} or unset it` : `use ${others}`;
  throw new InputError(`Cannot use tfjs backend "${wanted}" (${source}): ${failures.join("; ")}; ${fix}`);
}

/** Loads and activates one backend; returns a detail for the log line. Throws when it is unavailable. */
async function activate(name: BackendName, wasmPath: string | undefined): Promise<string> {
  if (name === "tensorflow") {
    // The import registers the backend; it throws when the native binary is missing.
    await import("@tensorflow/tfjs-node" as string);
    await setOrThrow("tensorflow");
    return "native";
  }
  if (name === "wasm") {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
    // A single executable carries the binaries inside itself (wasm-assets.ts); an explicit path still wins.
    const embedded = wasmPath === undefined ? embeddedWasmPaths() : undefined;
    if (embedded) wasm.setWasmPaths(embedded, true);
    else {
      const dir = wasmPath ?? installedWasmDir();
      // Node gives the wasm backend no workers, so it loads the SIMD binary or the plain one.
      const file = simd ? "tfjs-backend-wasm-simd.wasm" : "tfjs-backend-wasm.wasm";
      if (!existsSync(path.join(dir, file))) throw new Error(`${file} not found in "${dir}"`);
      wasm.setWasmPaths(withSeparator(dir));
    }
    // tfjs-backend-wasm 4.22 lacks (or gets wrong) kernels that training CNNs needs.
    const { registerWasmTrainingKernels } = await import("./wasm-kernels/index.js");
    registerWasmTrainingKernels();
    await setOrThrow("wasm");
    return `${simd ? "SIMD" : "no SIMD"}${embedded ? ", embedded" : ""}`;
  }
  const { registerCpuKernelFixes } = await import("./cpu-kernels.js");
  registerCpuKernelFixes();
  await setOrThrow("cpu");
  return "";
}

async function setOrThrow(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend("${name}") failed`);
  await tf.ready();
}

/** The `dist/` folder of the installed wasm package, where its `.wasm` files live. */
function installedWasmDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
}

function withSeparator(dir: string): string {
  return dir.endsWith("/") || dir.endsWith(path.sep) ? dir : dir + path.sep;
}

function firstLine(error: unknown): string {
  return errorMessage(error).split("\n")[0].trim().replace(/\.$/, "");
}
