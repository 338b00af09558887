import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Which key each node id belongs to, for the life of a run: bound at first sight of a signed request
 * (or given up front, e.g. from the run folder on --resume), never rebound, whether the node is online,
 * lost or gone. With an allow-list, only the fingerprints on it may bind at all (checked by the caller).
 * One key holds one node id: a node's home has one key and serves one id, so a key claiming a second id
 * is a Sybil (one party voting as several nodes against fedmedian or Krum) and is refused.
 */
export interface KeyBindings {
  /** Binds `nodeId` to `fingerprint` if unbound; PermissionDenied when it is bound to another key. */
  claim(nodeId: string, fingerprint: string): void;
  entries(): Record<string, string>;
}

export function createKeyBindings(
  options: {
    initial?: Record<string, string>;
    /** Called once per new binding (the run folder records it). */
    onBind?: (nodeId: string, fingerprint: string, all: Record<string, string>) => void;
    log?: (line: string) => void;
    /**
     * Trust on first use (no allow-list): each new binding is logged with its key and how to undo it,
     * since whoever signs first for a node id holds it for the run. `runDir` names the run folder.
     */
    firstUse?: { runDir: string };
  } = {},
): KeyBindings {
  const owner = new Map(Object.entries(options.initial ?? {}));
  // Which id each key holds; a run folder from before this rule may hold two ids for one key: both stay.
  const held = new Map([...owner].map(([id, fingerprint]) => [fingerprint, id]));
  const logged = new Set<string>();
  const refuse = (key: string, line: string, message: string): never => {
    if (!logged.has(key) && logged.size < 10_000) {
      logged.add(key);
      options.log?.(line);
    }
    throw new ConnectError(message, Code.PermissionDenied);
  };
  return {
    claim(nodeId, fingerprint) {
      const bound = owner.get(nodeId);
      if (bound === fingerprint) return;
      if (bound !== undefined) {
        refuse(
          `${nodeId}/${fingerprint}`,
          `Refused a caller claiming node id ${nodeId} with key ${fingerprint}: that node id belongs to key ${bound} for this run`,
          `Node id ${nodeId} belongs to another key for this run; a node proves its id with its own home's key`,
        );
      }
      const other = held.get(fingerprint);
      if (other !== undefined) {
        refuse(
          `${nodeId}/${fingerprint}`,
          `Refused a caller claiming node id ${nodeId} with key ${fingerprint}: that key already holds node id ${other} for this run (one key, one node id)`,
          `Key ${fingerprint} already holds node id ${other} for this run: each node needs its own home (fbm-node init) and key`,
        );
      }
      owner.set(nodeId, fingerprint);
      held.set(fingerprint, nodeId);
      if (options.firstUse)
        options.log?.(
          `Bound node id ${nodeId} to key ${fingerprint} on first use (no allow-list): it holds this id for the run; ` +
            `if that is not the hospital's key (fbm-node identity), stop the run, run \`fbm-researcher node unbind ${nodeId} --run ${options.firstUse.runDir}\`, and resume`,
        );
      options.onBind?.(nodeId, fingerprint, Object.fromEntries(owner));
    },
    entries: () => Object.fromEntries(owner),
  };
}
