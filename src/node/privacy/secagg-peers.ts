import { randomBytes } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseFingerprint } from "../../common/certificates.js";
import { errorMessage, InputError } from "../../common/errors.js";

/**
 * Which identity (certificate fingerprint) each peer node id may sign secure aggregation keys with
 * (`verify`), in `secagg-peers.json` of the home: `{"node_…": "sha256:…"}`. A peer listed there must sign
 * with that identity, and one identity cannot act as two node ids, so a researcher that replaces a known
 * peer's identity (to sign keys of its own) is refused. A peer not listed: with config `secagg_peers
 * tofu` (the default) its identity is trusted on first use and written down, like SSH's known_hosts;
 * with `pinned` it is refused, so only the hospitals whose fingerprints the operator wrote in (each
 * prints its own with `fbm-node identity`) can be this node's peers: a researcher cannot bring in
 * identities of its own. The file is read at every check, so edits apply from the next round.
 */
export interface SecaggPeers {
  /** Undefined when `nodeId` may sign with `fingerprint` (remembering it if new and trusted on first use), else why not. */
  check(nodeId: string, fingerprint: string): string | undefined;
}

export const SECAGG_PEERS_FILE = "secagg-peers.json";

export function createSecaggPeers(
  homeDir: string,
  options: { log: (line: string) => void; mode?: () => "tofu" | "pinned" },
): SecaggPeers {
  const path = join(homeDir, SECAGG_PEERS_FILE);
  return {
    check(nodeId, fingerprint) {
      const known = readPins(path);
      const pinned = known[nodeId];
      if (pinned === fingerprint) return undefined;
      if (pinned !== undefined) {
        return `node "${nodeId}" signs with identity ${fingerprint}, but ${path} has ${pinned} for it; if its operator confirms the new one, replace it there`;
      }
      const other = Object.entries(known).find(([, fp]) => fp === fingerprint);
      if (other) return `identity ${fingerprint} is node "${other[0]}"'s in ${path}, it cannot act as "${nodeId}"`;
      if (options.mode?.() === "pinned") {
        return `node "${nodeId}" (identity ${fingerprint}) is not in ${path} and config secagg_peers is pinned: if its operator confirms that fingerprint, add it there`;
      }
      writePins(path, { ...known, [nodeId]: fingerprint });
      options.log(`Secure aggregation: trusting node ${nodeId}'s identity ${fingerprint} from now on (${path})`);
      return undefined;
    },
  };
}

function readPins(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return {};
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not an object");
    return Object.fromEntries(
      Object.entries(value).map(([id, fp]) => {
        if (typeof fp !== "string") throw new Error(`the fingerprint of "${id}" is not text`);
        return [id, parseFingerprint(fp)];
      }),
    );
  } catch (error) {
    throw new InputError(
      `Cannot read ${path}: ${errorMessage(error)} (it maps node ids to "sha256:…" identity fingerprints)`,
    );
  }
}

/** Written whole to a temp file, then renamed over: a reader sees the old list or the new one. */
function writePins(path: string, pins: Record<string, string>): void {
  const temp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  writeFileSync(temp, `${JSON.stringify(pins, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, path);
}
