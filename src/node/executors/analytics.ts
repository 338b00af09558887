import { InputError } from "../../common/errors.js";
import type { AnalyticsTaskBody, ReplyBody } from "../../wire/index.js";
import { summarizeCategories } from "../analytics/category-stats.js";
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
  /** Checked between phases (each reads the dataset in one pass): a cancelled task stops before its next one. */
  signal?: AbortSignal,
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
  // A csv's text columns: category counts from the catalogue (category-stats.ts), never histograms.
  const text =
    entry.type === "csv" && !medical ? entry.columns.filter((c) => c.dtype === "string").map((c) => c.name) : [];
  const columns = medical ?? source!.columns;
  const wanted =
    task.phase === "histogram"
      ? task.histograms.map((h) => h.column)
      : task.columns.length
        ? task.columns
        : [...columns, ...text];
  const textWanted = task.phase === "summary" ? wanted.filter((name) => text.includes(name)) : [];
  const selected = wanted.flatMap((name) => {
    if (textWanted.includes(name)) return [];
    const index = columns.indexOf(name);
    if (index < 0) {
      throw new InputError(
        `Cannot compute statistics: column "${name}" is not in dataset "${entry.name}"; columns: ${[...columns, ...text].join(", ")}`,
      );
    }
    return [index];
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
    signal?.throwIfAborted();
    const categorical = summarizeCategories(entry, textWanted, policy);
    // In the order asked for.
    summaries.push(...categorical);
    summaries.sort((a, b) => wanted.indexOf(a.name) - wanted.indexOf(b.name));
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
  signal?.throwIfAborted();
  runtime.log(`${what}: ${histograms.length} histogram(s), in ${seconds(started)}`);
  return { ...answer, histograms };
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
