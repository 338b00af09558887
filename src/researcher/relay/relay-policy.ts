import type { TaskBody } from "../../wire/index.js";

/**
 * What a relay (`fbm-researcher relay`) can answer for its nodes without changing what the task
 * promises, and why it refuses the rest. A relay answers a train task with ONE update, the weighted
 * mean of its nodes' updates with their total sample count; that is exact only when the researcher
 * above combines updates as a sample-weighted mean (FedAvg, FedProx, FedAvgM, FedAdam/Yogi/Adagrad:
 * the task says `aggregation: weighted_mean`). Everything else is refused with `relay_unsupported`:
 *
 * * **Secure aggregation.** The researcher would unmask a sum in which the relay's nodes count as one
 *   party: either the relay sees each of its nodes' updates in the clear (it folds them), which is
 *   exactly what secure aggregation promises the hospitals nobody sees, or it runs a protocol of its own
 *   below and learns their partial sum, a figure of a few hospitals the flat protocol never reveals to
 *   anyone. Both weaken the guarantee the hospitals' operators approved (`require_secagg`), so neither
 *   is done: the relay refuses, and such a run connects its nodes to the researcher directly.
 * * **Aggregators that need each update** (fedmedian, trimmed_mean, krum, multikrum, q-FedAvg, bounded
 *   updates, central DP's per-update clipping): a mean hides the updates they rank, clip or drop.
 * * **SCAFFOLD** keeps a control variate per node at the researcher; a relay would have to keep them
 *   and answer for a client count it hides.
 * * **Differential privacy**: local DP is accounted per node and dataset (each node's ledger); one
 *   pooled update cannot carry its nodes' separate ε, and central DP clips each update.
 * * **Statistics and analyses** (`stats`, `analytics`, `clinical`, secure aggregation's own tasks):
 *   their disclosure checks are per node; not implemented through a relay.
 *
 * A task that trains nothing (0 epochs and 0 updates: the plan approval check, the final evaluation)
 * combines no update, so it is answered whatever the aggregation: nodes give back the model they got and
 * their validation counts, which pool exactly.
 */
export function relayRefusal(body: TaskBody): string | undefined {
  switch (body.kind) {
    case "ping":
    case "list":
    case "search":
      return undefined;
    case "train": {
      if (body.secagg)
        return "a relay does not take part in secure aggregation (it would see its nodes' updates or their partial sum); connect those nodes to the researcher directly";
      if (body.algorithmExtension === "scaffold")
        return "a relay cannot keep SCAFFOLD's per-node control variates; use fedavg/fedprox/fedavgm/fedadam, or connect the nodes directly";
      if (body.args.dp)
        return `a relay cannot keep ${body.args.dp.mode} differential privacy (accounted per node, clipped per update); connect the nodes directly`;
      const trainsNothing = body.args.epochs === 0 && body.args.updates === 0;
      if (!trainsNothing && body.aggregation !== "weighted_mean")
        return "the researcher's aggregator needs each node's update (median, trimmed mean, Krum, q-FedAvg, bounded updates, central DP), which a relay's one averaged update hides; use a weighted-mean aggregator (fedavg, fedprox, fedavgm, fedadam, fedyogi, fedadagrad) or connect the nodes directly";
      return undefined;
    }
    default:
      return `a relay does not forward ${body.kind} tasks (their disclosure checks are per node); connect the nodes to the researcher directly`;
  }
}
