import type { KindPreview } from "../../ml/data/kinds/kind.js";
import { datasetKind } from "../../ml/data/kinds/registry.js";
import { summarizeColumns } from "../analytics/summarize.js";
import { valueSource } from "../analytics/value-source.js";
import type { DatasetEntry } from "../catalogue/catalogue.js";
import { checkUnchanged, createDatasetLoader } from "../catalogue/dataset-loader.js";

/**
 * What the GUI shows of a dataset's content: first rows and categories (csv), a sample image per class
 * and class counts (images, idx) or per modality (medical-folder), and column statistics.
 */
export interface DatasetPreview extends Required<Pick<KindPreview, "columns" | "rows" | "images">> {
  categories: NonNullable<KindPreview["categories"]>;
  classCounts: NonNullable<KindPreview["classCounts"]>;
  stats: { name: string; count: number; missing: number; mean: number; std: number; min: number; max: number }[];
}

/**
 * Reads the dataset's files on the node's own machine for its operator: exact statistics (the
 * disclosure limits protect what leaves the node, not what its operator sees). A changed file is refused
 * as training would refuse it. What is shown besides statistics is the kind's (src/ml/data/kinds/).
 */
export async function previewDataset(entry: DatasetEntry): Promise<DatasetPreview> {
  const kind = datasetKind(entry.type);
  // Statistics read through the dataset loader, which refuses changed files; else check them here.
  if (!kind.stats) await checkUnchanged(entry);
  const stats = kind.stats ? await statistics(entry) : [];
  const shown = await kind.preview(entry);
  return {
    columns: shown.columns ?? [],
    rows: shown.rows ?? [],
    images: shown.images ?? [],
    categories: shown.categories ?? [],
    classCounts: shown.classCounts ?? [],
    stats,
  };
}

async function statistics(entry: DatasetEntry): Promise<DatasetPreview["stats"]> {
  const source = valueSource(entry, createDatasetLoader({ capacity: 1 }));
  const summaries = await summarizeColumns(
    source,
    source.columns.map((_, i) => i),
    { minCount: 1, minMax: true },
  );
  return summaries.map((s) => {
    const count = typeof s.count === "number" ? s.count : 0;
    return {
      name: s.name,
      count,
      missing: typeof s.missing === "number" ? s.missing : 0,
      mean: s.mean,
      std: count > 1 ? Math.sqrt(s.m2 / (count - 1)) : 0,
      min: s.min,
      max: s.max,
    };
  });
}
