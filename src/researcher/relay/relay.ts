import { packageVersion } from "../../common/version.js";
import type { TaskExecutor } from "../../node/serve/poll-loop.js";
import type { ReplyBody, TaskEnvelope } from "../../wire/index.js";
import { discover, type Federation } from "../server/discover.js";
import type { Hub } from "../server/hub.js";
import { poolDatasets, type RelayDataset, relayDatasetId } from "./relay-datasets.js";
import { relayRefusal } from "./relay-policy.js";
import { relayTrainRound } from "./relay-round.js";

export interface RelayOptions {
  /** The hub the relay's own nodes poll (served by startServer, like a researcher's). */
  hub: Hub;
  /** The relay's name upstream (in its pooled dataset's name and its error messages). */
  name: string;
  /** How long the relay's nodes get for one round (the researcher above has its own round_timeout). */
  roundTimeoutMs: number;
  /**
   * The relay's nodes and all their datasets (`discover` without tags: a `list` per node as it
   * connects); default: started here. Searches from upstream are answered from it at once.
   */
  federation?: Federation;
  /** How long a search from upstream waits for nodes still answering their list (default 10 s). */
  searchWaitMs?: number;
  log?: (line: string) => void;
}

/** Every node behind the relay asked for all its datasets as it connects (runRelay waits on it first). */
export function relayFederation(hub: Hub, log?: (line: string) => void): Federation {
  return discover(hub, { timeoutMs: 60_000, log });
}

/**
 * The upstream half of a relay: what it does with each task the researcher above sends it, as a
 * node's executor (the node's own poll loop runs it: src/node/serve/poll-loop.ts). A search is answered
 * at once from what the relay's nodes listed when they connected (a researcher gives a search 30 s,
 * too little to ask a thousand busy nodes in turn), as one pooled dataset (relay-datasets.ts); a train
 * task runs on the nodes counted in it (relay-round.ts); what a relay cannot keep is refused with
 * `relay_unsupported` (relay-policy.ts).
 */
export function createRelayExecutor(options: RelayOptions): TaskExecutor {
  const { hub, log } = options;
  const federation = options.federation ?? relayFederation(hub, log);
  /** The pool announced for each dataset id, as of the last search upstream. */
  const pools = new Map<string, RelayDataset>();

  async function announce(tags: string[] | undefined): Promise<RelayDataset | undefined> {
    await federation.until(() => federation.pending() === 0, options.searchWaitMs ?? 10_000);
    const found = federation.answers().flatMap((answer) => {
      if (!hub.isOnline(answer.node)) return [];
      const matching = answer.datasets.filter((d) => (tags ?? []).every((t) => d.tags.includes(t)));
      // A node takes part with its oldest matching dataset, as with a researcher (discover.ts).
      const dataset = matching.sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0];
      return dataset ? [{ node: answer.node, name: answer.name, dataset }] : [];
    });
    const pool = poolDatasets(found, tags ?? [], options.name);
    if (!pool) return undefined;
    for (const e of pool.excluded) log?.(`Node ${e.name} (${e.node}) is left out of the relay's dataset: ${e.reason}`);
    pools.set(pool.info.id, pool);
    log?.(
      `Announced upstream: ${pool.members.length} node(s), ${pool.info.sampleCount} samples tagged [${(tags ?? []).join(", ")}]`,
    );
    return pool;
  }

  return async (task: TaskEnvelope, context): Promise<ReplyBody> => {
    const body = task.body;
    const refused = relayRefusal(body);
    if (refused) return { kind: "error", code: "relay_unsupported", message: `relay ${options.name}: ${refused}` };
    switch (body.kind) {
      case "ping":
        return { kind: "ping", version: packageVersion(), backend: "relay" };
      case "list":
      case "search": {
        const pool = await announce(body.kind === "search" ? body.tags : undefined);
        return { kind: "datasets", datasets: pool ? [pool.info] : [] };
      }
      case "train": {
        const pool = pools.get(body.datasetId);
        if (!pool)
          return {
            kind: "error",
            code: "invalid_input",
            message: `relay ${options.name} has announced no dataset ${body.datasetId} (expected ${relayDatasetId([])}…): search first`,
          };
        const members = pool.members.filter((m) => hub.isOnline(m.node));
        return relayTrainRound({
          hub,
          task: body,
          experiment: task.experiment,
          members,
          timeoutMs: options.roundTimeoutMs,
          signal: context.signal,
          log,
        });
      }
      default:
        // relayRefusal refuses every other kind; kept for the compiler.
        return { kind: "error", code: "relay_unsupported", message: `relay ${options.name}: ${body.kind} tasks` };
    }
  };
}
