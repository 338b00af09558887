import { errorMessage, errorStack, FbmError } from "../../common/errors.js";
import { discloseDatasetInfo } from "../analytics/disclosure.js";
import { type DatasetEntry, toDatasetInfo } from "../catalogue/catalogue.js";
import { TaskRefusal } from "../plans/task-refusal.js";
import type { TaskExecutor } from "../serve/poll-loop.js";
import { cancelledReply } from "../serve/task-cancel.js";
import { executeAnalytics } from "./analytics.js";
import { createClinicalExecutor } from "./clinical.js";
import type { NodeRuntime } from "./runtime.js";
import { executeSecagg } from "./secagg.js";
import { executeStats } from "./stats.js";
import { executeTrain } from "./train.js";

export type { NodeRuntime } from "./runtime.js";

/** Dispatches each task kind; errors become error replies with a machine-readable code. */
export function createExecutor(runtime: NodeRuntime): TaskExecutor {
  const executeClinical = createClinicalExecutor();
  // Dataset descriptions pass the disclosure gate: sizes and class counts rounded to min_count.
  const describe = (entries: DatasetEntry[]) =>
    entries.map((e) => discloseDatasetInfo(toDatasetInfo(e), runtime.analytics.minCount));
  return async (task, context) => {
    const body = task.body;
    try {
      switch (body.kind) {
        case "ping":
          return { kind: "ping", version: runtime.version, backend: runtime.backend };
        case "list":
          return { kind: "datasets", datasets: describe(runtime.catalogue.listDatasets()) };
        case "search":
          return { kind: "datasets", datasets: describe(runtime.catalogue.findByTags(body.tags)) };
        case "stats":
          return await executeStats(runtime, body, task.experiment, context.signal);
        case "train":
          return await executeTrain(runtime, body, context, task.experiment);
        case "analytics":
          return await executeAnalytics(runtime, body, task.experiment, context.signal);
        case "secagg": {
          const repeat = body.phase === "unmask" && (await runtime.contributions?.reveal(body.session, body.survivors));
          if (repeat) return { kind: "error", code: "secagg_repeat", message: repeat };
          return executeSecagg(runtime.secagg, runtime.nodeId, body, runtime.secaggPolicy);
        }
        case "clinical":
          return await executeClinical(runtime, body, task.experiment);
      }
    } catch (error) {
      if (context.signal.aborted)
        return (
          cancelledReply(context.signal) ?? {
            kind: "error",
            code: "node_stopping",
            message: "The node is shutting down",
          }
        );
      const message = errorMessage(error);
      if (error instanceof TaskRefusal) return { kind: "error", code: error.code, message };
      const code = error instanceof FbmError ? (error.exitCode === 2 ? "invalid_input" : "failed") : "internal";
      if (code === "internal") runtime.log(`Unexpected error in a ${body.kind} task: ${errorStack(error)}`);
      return { kind: "error", code, message };
    }
  };
}
