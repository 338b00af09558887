import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { createInterface } from "node:readline";
import { parse } from "csv-parse/sync";
import { listImageFolder } from "../../ml/data/images.js";
import { summarizeColumns } from "../analytics/summarize.js";
import { valueSource } from "../analytics/value-source.js";
import type { DatasetEntry } from "../catalogue/catalogue.js";
import { createDatasetLoader } from "../catalogue/dataset-loader.js";
import { medicalPreview } from "./medical-preview.js";

/** What the GUI shows of a dataset's content: first rows (csv) or a sample image per class, and column statistics. */
export interface DatasetPreview {
  columns: string[];
  rows: string[][];
  images: { label: string; src: string }[];
  stats: { name: string; count: number; missing: number; mean: number; std: number; min: number; max: number }[];
}

const PREVIEW_ROWS = 10;
const MIME: Record<string, string> = { ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg" };

/**
 * Reads the dataset's files on the node's own machine for its operator: exact statistics (the
 * disclosure limits protect what leaves the node, not what its operator sees). A changed file is refused
 * as training would refuse it.
 */
export async function previewDataset(entry: DatasetEntry): Promise<DatasetPreview> {
  // Medical folders: the middle slice of each modality; no per-modality statistics yet.
  if (entry.type === "medical-folder") return { columns: [], rows: [], images: await medicalPreview(entry), stats: [] };
  const source = valueSource(entry, createDatasetLoader({ capacity: 1 }));
  const summaries = await summarizeColumns(
    source,
    source.columns.map((_, i) => i),
    { minCount: 1, minMax: true },
  );
  const stats = summaries.map((s) => {
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
  if (entry.type === "csv") return { ...(await firstRows(entry.path)), images: [], stats };
  if (entry.type === "images") return { columns: [], rows: [], images: await sampleImages(entry.path), stats };
  return { columns: [], rows: [], images: [], stats };
}

async function firstRows(path: string): Promise<{ columns: string[]; rows: string[][] }> {
  const lines: string[] = [];
  const reader = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of reader) {
    if (line.trim() !== "") lines.push(line);
    if (lines.length > PREVIEW_ROWS) break;
  }
  reader.close();
  const [columns = [], ...rows] = parse(lines.join("\n"), { relax_column_count: true }) as string[][];
  return { columns, rows };
}

/** The first image of each class, as data: URLs (the page loads nothing else from the node's disk). */
async function sampleImages(dir: string): Promise<{ label: string; src: string }[]> {
  const { classes, files } = await listImageFolder(dir, "load");
  const images = [];
  for (const [label, name] of classes.entries()) {
    const file = files.find((f) => f.label === label);
    if (!file) continue;
    const bytes = await readFile(file.path);
    images.push({
      label: name,
      src: `data:${MIME[extname(file.path).toLowerCase()]};base64,${bytes.toString("base64")}`,
    });
  }
  return images;
}
