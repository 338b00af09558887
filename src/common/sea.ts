import type * as Sea from "node:sea";

/**
 * Access to a Node.js single executable application (what `npm run build` makes): whether this process
 * is one, and the assets embedded in it. Outside one (tsx, tests) every function answers "no".
 */

/** `node:sea` when the runtime has it (Node >= 20.16 exposes getBuiltinModule), else undefined. */
function seaModule(): typeof Sea | undefined {
  try {
    return process.getBuiltinModule?.("node:sea") as typeof Sea | undefined;
  } catch {
    return undefined;
  }
}

/** Whether this process runs as a single executable (fbm-node / fbm-researcher built by `npm run build`). */
export function isSingleExecutable(): boolean {
  return seaModule()?.isSea() === true;
}

/** Whether the executable embeds asset `key`, without copying its bytes. */
export function hasSeaAsset(key: string): boolean {
  const sea = seaModule();
  if (!sea?.isSea()) return false;
  try {
    sea.getRawAsset(key);
    return true;
  } catch {
    return false;
  }
}

/** The bytes of one asset embedded at build time (sea-config `assets`), or undefined when absent. */
export function seaAsset(key: string): ArrayBuffer | undefined {
  const sea = seaModule();
  if (!sea?.isSea()) return undefined;
  try {
    return sea.getAsset(key);
  } catch {
    return undefined;
  }
}
