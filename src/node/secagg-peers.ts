import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../common/atomic-write.js";
import { parseFingerprint } from "../common/certificates.js";
import { errorMessage, InputError } from "../common/errors.js";

/**
 * Which identity (certificate fingerprint) each peer node id has shown this node in secure aggregation
 * with `verify`, in `secagg-peers.json` of the home: trust on first use, like SSH's known_hosts. A peer
 * seen before must sign with the same identity, and one identity cannot act as two node ids, so a
 * researcher that replaces a peer's identity (to sign keys of its own) is caught from the second round
 * on. The operator can write the file beforehand with the fingerprints the other hospitals sent them
 * (`fbm-node identity` prints each), which closes the first round too.
 */
export interface SecaggPeers {
  /** Undefined when `nodeId` may sign with `fingerprint` (remembering it if new), else why not. */
  check(nodeId: string, fingerprint: string): string | undefined;
}

export const SECAGG_PEERS_FILE = "secagg-peers.json";

export function createSecaggPeers(homeDir: string, log: (line: string) => void): SecaggPeers {
  const path = join(homeDir, SECAGG_PEERS_FILE);
  const known = new Map<string, string>(Object.entries(readPins(path)));
  let writing = Promise.resolve();
  return {
    check(nodeId, fingerprint) {
      const pinned = known.get(nodeId);
      if (pinned === fingerprint) return undefined;
      if (pinned !== undefined) {
        return `node "${nodeId}" signs with identity ${fingerprint}, but it showed ${pinned} before (${path}); if its operator confirms the new one, remove its line from that file`;
      }
      const other = [...known].find(([, fp]) => fp === fingerprint);
      if (other) return `identity ${fingerprint} is node "${other[0]}"'s (${path}), it cannot act as "${nodeId}"`;
      known.set(nodeId, fingerprint);
      log(`Secure aggregation: trusting node ${nodeId}'s identity ${fingerprint} from now on (${path})`);
      const content = `${JSON.stringify(Object.fromEntries(known), null, 2)}\n`;
      writing = writing
        .then(() => writeFileAtomic(path, content))
        .catch((error) => log(`Could not save ${path}: ${errorMessage(error)}`));
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
