import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../common/atomic-write.js";
import { InputError } from "../../common/errors.js";

/**
 * `fbm-researcher node unbind ID --run DIR`: removes a node id's key binding from the run folder's
 * node-keys.json (atomically), for an id squatted by the wrong key under trust on first use. Returns the
 * fingerprint it was bound to. The running researcher keeps its bindings in memory: stop it first.
 */
export async function unbindNode(runDir: string, nodeId: string): Promise<string> {
  const path = join(runDir, "node-keys.json");
  const text = await readFile(path, "utf8").catch(() => undefined);
  if (text === undefined)
    throw new InputError(`Cannot unbind node ${nodeId}: ${path} does not exist; fix: give the run folder with --run`);
  let keys: Record<string, string>;
  try {
    keys = JSON.parse(text) as Record<string, string>;
  } catch {
    throw new InputError(`Cannot unbind node ${nodeId}: ${path} is not valid JSON`);
  }
  const fingerprint = keys[nodeId];
  if (fingerprint === undefined) {
    const bound = Object.keys(keys);
    throw new InputError(
      `Cannot unbind node ${nodeId}: it is not bound in ${path} (bound: ${bound.length ? bound.join(", ") : "none"})`,
    );
  }
  delete keys[nodeId];
  await writeFileAtomic(path, `${JSON.stringify(keys, null, 2)}\n`);
  return fingerprint;
}
