import { packageVersion } from "../../common/version.js";
import type { TaskExecutor } from "../../node/serve/poll-loop.js";
import type { ReplyBody, TaskEnvelope } from "../../wire/index.js";
import { discover } from "../server/discover.js";
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
  /** How long a node behind the relay may take to answer a dataset search (default 30 s). */
  searchTimeoutMs?: number;
  log?: (line: string) => void;
}

/**
 * The upstream half of a relay: what it does with each task the researcher above sends it, as a
 * node's executor (the node's own poll loop runs it: src/node/serve/poll-loop.ts). A search is asked
 * of every node behind the relay and answered with one pooled dataset (relay-datasets.ts); a train
 * task runs on the nodes counted in it (relay-round.ts); what a relay cannot keep is refused with
 * `relay_unsupported` (relay-policy.ts).
 */
export function createRelayExecutor(options: RelayOptions): TaskExecutor {
  const { hub, log } = options;
  /** The pool announced for each dataset id, as of the last search upstream. */
  const pools = new Map<string, RelayDataset>();

  async function announce(tags: string[] | undefined, experiment: string): Promise<RelayDataset | undefined> {
    const federation = discover(hub, { tags, timeoutMs: options.searchTimeoutMs ?? 30_000, experiment, log });
    try {
      await federation.until(() => federation.pending() === 0, (options.searchTimeoutMs ?? 30_000) + 1000);
      await federation.settled();
    } finally {
      federation.close();
    }
    const pool = poolDatasets(federation.participants(), tags ?? [], options.name);
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
        const pool = await announce(body.kind === "search" ? body.tags : undefined, task.experiment);
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
        const members = pool.members.filter((m) => hub.node(m.node)?.online === true);
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
