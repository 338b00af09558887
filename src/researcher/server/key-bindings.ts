import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Which key each node id belongs to, for the life of a run: bound at first sight of a signed request
 * (or given up front, e.g. from the run folder on --resume), never rebound, whether the node is online,
 * lost or gone. With an allow-list, only the fingerprints on it may bind at all (checked by the caller).
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
  const logged = new Set<string>();
  return {
    claim(nodeId, fingerprint) {
      const bound = owner.get(nodeId);
      if (bound === fingerprint) return;
      if (bound !== undefined) {
        const key = `${nodeId}/${fingerprint}`;
        if (!logged.has(key) && logged.size < 10_000) {
          logged.add(key);
          options.log?.(
            `Refused a caller claiming node id ${nodeId} with key ${fingerprint}: that node id belongs to key ${bound} for this run`,
          );
        }
        throw new ConnectError(
          `Node id ${nodeId} belongs to another key for this run; a node proves its id with its own home's key`,
          Code.PermissionDenied,
        );
      }
      owner.set(nodeId, fingerprint);
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
