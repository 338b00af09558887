import { InputError } from "../../common/errors.js";
import type { AnalyticsTaskBody, ReplyBody } from "../../wire/index.js";
import { checkHistogramRequest, histogramColumns } from "../analytics/histograms.js";
import { histogramMedical, medicalColumns, summarizeMedical } from "../analytics/medical-stats.js";
import { summarizeColumns } from "../analytics/summarize.js";
import { valueSource } from "../analytics/value-source.js";
import type { NodeRuntime } from "./runtime.js";

/**
 * A federated statistics task (`fbm-researcher stats`). The node's limits apply before any file is
 * read: a dataset with fewer than `min_count` rows answers only that it is that small.
 */
export async function executeAnalytics(
  runtime: NodeRuntime,
  task: AnalyticsTaskBody,
  experiment?: string,
): Promise<ReplyBody> {
  const policy = runtime.analytics;
  const entry = runtime.catalogue.getDataset(task.datasetId);
  if (!entry) throw new InputError(`No dataset ${task.datasetId} on this node (was it removed?)`);
  const what = `Statistics (${task.phase}) for "${experiment || "?"}" on "${entry.name}"`;
  const answer = {
    kind: "analytics" as const,
    minCount: policy.minCount,
    tooSmall: false,
    summaries: [],
    histograms: [],
  };
  if (entry.sampleCount < policy.minCount) {
    runtime.log(`${what}: fewer rows than min_count ${policy.minCount}, answered with that alone`);
    return { ...answer, tooSmall: true };
  }
  // A medical folder's columns are its modalities and demographics, and min_count counts subjects (medical-stats.ts).
  const medical = entry.type === "medical-folder" ? medicalColumns(entry) : undefined;
  const source = medical ? undefined : valueSource(entry, runtime.loader);
  const columns = medical ?? source!.columns;
  const wanted =
    task.phase === "histogram" ? task.histograms.map((h) => h.column) : task.columns.length ? task.columns : columns;
  const selected = wanted.map((name) => {
    const index = columns.indexOf(name);
    if (index < 0) {
      throw new InputError(
        `Cannot compute statistics: column "${name}" is not in dataset "${entry.name}"; columns: ${columns.join(", ")}`,
      );
    }
    return index;
  });
  const started = Date.now();
  if (task.phase === "summary") {
    const summaries = medical
      ? await summarizeMedical(
          entry,
          selected.map((i) => medical[i]),
          policy,
        )
      : await summarizeColumns(source!, selected, policy);
    runtime.log(`${what}: ${summaries.length} column(s), ${entry.sampleCount} rows, in ${seconds(started)}`);
    return { ...answer, summaries };
  }
  const grids = task.histograms.map(checkHistogramRequest);
  const histograms = medical
    ? await histogramMedical(
        entry,
        selected.map((i) => medical[i]),
        grids,
        policy.minCount,
      )
    : await histogramColumns(source!, selected, grids, policy.minCount);
  runtime.log(`${what}: ${histograms.length} histogram(s), in ${seconds(started)}`);
  return { ...answer, histograms };
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
