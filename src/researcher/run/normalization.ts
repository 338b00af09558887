import { RuntimeFailure } from "../../common/errors.js";
import { allInOrder } from "../../common/in-order.js";
import { combineStats } from "../../ml/normalize.js";
import type { TablePreparation } from "../../ml/table-prep.js";
import type { ColumnStats, Normalization } from "../../ml/types.js";
import { statsProblem } from "../server/reply-check.js";
import type { Participant } from "./roster.js";
import type { RunContext } from "./run-context.js";

/** Federated count/sum/sum of squares/min/max per column, combined into one global scaling. */
export async function gatherNormalization(
  run: RunContext,
  nodes: Participant[],
  preparation?: TablePreparation,
): Promise<Normalization | undefined> {
  const { config } = run;
  const method = config.plan.data.normalize;
  if (method === "none") return undefined;
  const perNode: ColumnStats[][] = await allInOrder(
    nodes.map(async (p) => {
      const task = { kind: "stats" as const, datasetId: p.dataset.id, planJson: run.plan.json, preparation };
      const reply = await run.hub.send(p.node, task, {
        timeoutMs: config.nodes.roundTimeoutMs,
        experiment: config.name,
      });
      if (reply.kind === "error")
        throw new RuntimeFailure(`Node ${p.name} could not compute statistics: ${reply.message}`);
      if (reply.kind !== "stats")
        throw new RuntimeFailure(`Node ${p.name} answered a stats task with a ${reply.kind} reply`);
      const problem = statsProblem(reply.columns, p.dataset.sampleCount);
      if (problem) throw new RuntimeFailure(`Node ${p.name} sent impossible statistics: ${problem}`);
      return reply.columns;
    }),
  );
  const normalization = combineStats(perNode, method);
  run.emit({ event: "normalization", method: normalization.method, columns: normalization.columns });
  return normalization;
}
