import type { DatasetInfo } from "../../wire/index.js";
import type { Hub, NodeRecord } from "./hub.js";

/** A node that holds a dataset with all the tags asked for, and the dataset it works on (its oldest such). */
export interface Participant {
  node: string;
  name: string;
  dataset: DatasetInfo;
}

/** What one node answered: every dataset it holds with the tags (or all of them), maybe none. */
export interface NodeDatasets {
  node: string;
  name: string;
  datasets: DatasetInfo[];
}

export interface DiscoverOptions {
  /** Datasets must carry all of these tags (a `search` task); absent: every dataset (a `list` task). */
  tags?: string[];
  /** How long a node may take to answer. */
  timeoutMs: number;
  /** The experiment the searches are traced under. */
  experiment?: string;
  /** Which dataset a node holding several takes part with, and searches that failed. */
  log?: (line: string) => void;
}

/**
 * The nodes found so far: every node that connects (and every one online now) is asked for its datasets
 * once per connection. A run's roster, `stats`, `analyze` and `datasets` all find nodes through this.
 */
export interface Federation {
  /** Every node that answered, in answer order, even if it left since. */
  answers(): NodeDatasets[];
  /** Online nodes holding a dataset with the tags, in answer order; a node lost is out until it answers again. */
  participants(): Participant[];
  /** Searches sent and not answered yet. */
  pending(): number;
  /** Calls `listener` after every answer, failure or loss; returns its removal. */
  onChange(listener: () => void): () => void;
  /** Resolves when `enough()` holds after a change, after `waitMs`, or on abort, whichever comes first. */
  until(enough: () => boolean, waitMs: number, signal?: AbortSignal): Promise<void>;
  /** Resolves once every search sent has been answered or has failed. */
  settled(): Promise<void>;
  /** Stops asking nodes that connect from now on. */
  close(): void;
}

export function discover(hub: Hub, options: DiscoverOptions): Federation {
  const answers = new Map<string, NodeDatasets>();
  const found = new Map<string, Participant>();
  const searches = new Map<string, Promise<void>>();
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const listener of [...listeners]) listener();
  };
  const { tags, log } = options;

  async function search(node: NodeRecord): Promise<void> {
    try {
      const reply = await hub.send(node.nodeId, tags ? { kind: "search", tags } : { kind: "list" }, {
        timeoutMs: options.timeoutMs,
        experiment: options.experiment,
      });
      if (reply.kind === "datasets") {
        answers.set(node.nodeId, { node: node.nodeId, name: node.name, datasets: reply.datasets });
        if (reply.datasets.length > 0) {
          const dataset = [...reply.datasets].sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0];
          if (reply.datasets.length > 1 && tags) {
            log?.(
              `Node ${node.name} holds ${reply.datasets.length} datasets tagged [${tags.join(", ")}]; using "${dataset.name}" (${dataset.id})`,
            );
          }
          found.set(node.nodeId, { node: node.nodeId, name: node.name, dataset });
        }
      } else if (reply.kind === "error") {
        log?.(`Node ${node.name} could not search its datasets: ${reply.message}`);
      }
    } catch {
      // A node that left or timed out: asked again when it connects again.
    } finally {
      searches.delete(node.nodeId);
      changed();
    }
  }

  const ask = (node: NodeRecord) => {
    if (searches.has(node.nodeId) || found.has(node.nodeId)) return;
    searches.set(node.nodeId, search(node));
  };
  const onNode = ({ state, node }: { state: "connected" | "lost"; node: NodeRecord }) => {
    if (state === "connected") ask(node);
    else {
      found.delete(node.nodeId);
      changed();
    }
  };
  hub.on("node", onNode);
  for (const node of hub.nodes()) if (node.online) ask(node);

  const federation: Federation = {
    answers: () => [...answers.values()],
    // O(participants): one lookup per node, never a copy of the node list per participant.
    participants: () => [...found.values()].filter((p) => hub.isOnline(p.node)),
    pending: () => searches.size,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    until(enough, waitMs, signal) {
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          remove();
          signal?.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        const remove = federation.onChange(() => enough() && done());
        signal?.addEventListener("abort", done, { once: true });
        if (signal?.aborted || enough()) done();
      });
    },
    async settled() {
      while (searches.size > 0) await Promise.all(searches.values());
    },
    close() {
      hub.off("node", onNode);
    },
  };
  return federation;
}
