import { RuntimeFailure } from "../../common/errors.js";
import { discover, type Participant } from "../server/discover.js";
import type { Hub } from "../server/hub.js";

export type { Participant };

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
  const federation = discover(hub, {
    tags: options.tags,
    experiment: options.experiment,
    timeoutMs: 30_000,
    log: options.log,
  });
  let changed = () => {};
  const stopListening = federation.onChange(() => changed());

  return {
    participants: () => federation.participants(),

    async waitFor(min, { waitMs, signal, graceMs = 1500 }) {
      const deadline = Date.now() + waitMs;
      let metAt: number | undefined;
      for (;;) {
        if (signal?.aborted) throw signal.reason ?? new Error("Aborted");
        const count = this.participants().length;
        const pending = federation.pending();
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
      stopListening();
      federation.close();
    },
  };
}
