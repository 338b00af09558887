import { RuntimeFailure } from "../../common/errors.js";
import type { DatasetInfo } from "../../wire/index.js";
import type { Hub, NodeRecord } from "../server/hub.js";

/** A node that holds a dataset with all the experiment's tags, and the dataset it trains on. */
export interface Participant {
  node: string;
  name: string;
  dataset: DatasetInfo;
}

/**
 * Keeps track of which connected nodes can take part: every node that connects is asked (a `search`
 * task) for datasets with the experiment's tags; nodes that join late take part from the next round.
 */
export interface Roster {
  participants(): Participant[];
  /** Resolves once `min` nodes take part (after a short grace for others starting with them). */
  waitFor(min: number, options: { waitMs: number; signal?: AbortSignal; graceMs?: number }): Promise<Participant[]>;
  close(): void;
}

export function createRoster(
  hub: Hub,
  options: { tags: string[]; experiment: string; log?: (line: string) => void },
): Roster {
  const found = new Map<string, Participant>();
  const searched = new Map<string, "pending" | "none" | "error">();
  let changed = () => {};

  async function search(node: NodeRecord): Promise<void> {
    searched.set(node.nodeId, "pending");
    try {
      const reply = await hub.send(
        node.nodeId,
        { kind: "search", tags: options.tags },
        { timeoutMs: 30_000, experiment: options.experiment },
      );
      if (reply.kind === "datasets" && reply.datasets.length > 0) {
        const dataset = [...reply.datasets].sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0];
        if (reply.datasets.length > 1) {
          options.log?.(
            `Node ${node.name} holds ${reply.datasets.length} datasets tagged [${options.tags}]; using "${dataset.name}" (${dataset.id})`,
          );
        }
        found.set(node.nodeId, { node: node.nodeId, name: node.name, dataset });
        searched.set(node.nodeId, "none");
      } else {
        searched.set(node.nodeId, reply.kind === "error" ? "error" : "none");
        if (reply.kind === "error") options.log?.(`Node ${node.name} could not search its datasets: ${reply.message}`);
      }
    } catch {
      searched.delete(node.nodeId);
    }
    changed();
  }

  const onNode = ({ state, node }: { state: "connected" | "lost"; node: NodeRecord }) => {
    if (state === "connected") void search(node);
    else {
      found.delete(node.nodeId);
      searched.delete(node.nodeId);
      changed();
    }
  };
  hub.on("node", onNode);
  for (const node of hub.nodes()) if (node.online) void search(node);

  return {
    // O(participants): one lookup per node, never a copy of the node list per participant.
    participants: () => [...found.values()].filter((p) => hub.node(p.node)?.online === true),

    async waitFor(min, { waitMs, signal, graceMs = 1500 }) {
      const deadline = Date.now() + waitMs;
      let metAt: number | undefined;
      for (;;) {
        if (signal?.aborted) throw signal.reason ?? new Error("Aborted");
        const count = this.participants().length;
        let pending = 0;
        for (const s of searched.values()) if (s === "pending") pending++;
        if (count >= min) {
          metAt ??= Date.now();
          if (pending === 0 && Date.now() - metAt >= graceMs) return this.participants();
        } else {
          metAt = undefined;
        }
        if (Date.now() >= deadline) {
          if (count >= min) return this.participants();
          const online = hub.nodes().filter((n) => n.online).length;
          throw new RuntimeFailure(
            `Only ${count} of the ${min} nodes needed hold a dataset tagged [${options.tags.join(", ")}] ` +
              `(${online} connected) after ${Math.round(waitMs / 1000)} s: start more nodes, add datasets with those tags, or lower nodes.min`,
          );
        }
        const checked = Date.now();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 100);
          changed = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        // Thousands of nodes answering at once would otherwise recount the roster once per answer (O(N²)).
        const since = Date.now() - checked;
        if (since < 20) await new Promise((resolve) => setTimeout(resolve, 20 - since));
      }
    },

    close() {
      hub.off("node", onNode);
    },
  };
}
