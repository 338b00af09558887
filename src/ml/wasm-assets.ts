import { hasSeaAsset, seaAsset } from "../common/sea.js";

/**
 * The tfjs-backend-wasm binaries a single executable carries as SEA assets. Node never runs the threaded
 * build (tfjs reports no multithread support under Node), so only the plain and SIMD binaries are embedded.
 */
export const embeddedWasmFiles = ["tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm"] as const;

/** Whether the running executable embeds the wasm binaries (false outside a single executable). */
export function hasEmbeddedWasm(): boolean {
  return embeddedWasmFiles.every(hasSeaAsset);
}

/**
 * A `setWasmPaths(map, true)` file map serving the embedded binaries as `data:` URLs, which tfjs then
 * loads with the platform fetch: no file is read. Undefined when the binaries are not embedded.
 */
export function embeddedWasmPaths(): Record<string, string> | undefined {
  const [plain, simd] = embeddedWasmFiles.map((name) => seaAsset(name));
  if (!plain || !simd) return undefined;
  const url = (bytes: ArrayBuffer) => `data:application/wasm;base64,${Buffer.from(bytes).toString("base64")}`;
  const simdUrl = url(simd);
  // setWasmPaths wants all three names; the threaded one is never asked for under Node.
  return {
    "tfjs-backend-wasm.wasm": url(plain),
    "tfjs-backend-wasm-simd.wasm": simdUrl,
    "tfjs-backend-wasm-threaded-simd.wasm": simdUrl,
  };
}
