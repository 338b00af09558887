import { parseDecimal, scanCsvRecords } from "../../ml/data/csv-scan.js";
import { listMedicalFolder, medicalFolderFingerprint } from "../../ml/data/medical-folder.js";
import type { HistogramGrid } from "../../ml/stats/histogram-grid.js";
import type { ColumnHistogram, ColumnSummary } from "../../wire/index.js";
import type { DatasetEntry } from "../catalogue/catalogue.js";
import type { DisclosurePolicy } from "./disclosure.js";
import { histogramColumns } from "./histograms.js";
import { histogramModalities, summarizeModalities } from "./modality-stats.js";
import { summarizeColumns } from "./summarize.js";
import { changed, type ValueSource } from "./value-source.js";

/**
 * `fbm-researcher stats` on a medical folder: its columns are its modalities (voxel statistics,
 * modality-stats.ts) and the numeric columns of its demographics table (one value per subject). A
 * demographics row counts when its subject's folder is in the dataset, so for both kinds min_count counts
 * subjects; rows of subjects without a folder are left out, as training leaves them out.
 */

/** The columns statistics can be asked for: modalities, then numeric demographics columns, in catalogue order. */
export function medicalColumns(entry: DatasetEntry): string[] {
  return [
    ...(entry.modalities ?? []).map((m) => m.name),
    ...entry.columns.filter((c) => c.dtype !== "string").map((c) => c.name),
  ];
}

/** The numeric demographics columns as a value source, one row per subject of the folder. */
export function demographicsSource(entry: DatasetEntry): ValueSource {
  const numeric = entry.columns.filter((c) => c.dtype !== "string").map((c) => c.name);
  return {
    columns: numeric,
    async scan(selected, visit) {
      if ((await medicalFolderFingerprint(entry.path, entry.demographicsPath || undefined)) !== entry.sha256) {
        throw changed(entry);
      }
      const subjects = new Set((await listMedicalFolder(entry.path, "load")).map((s) => s.id));
      let index = -1;
      let at: number[] = [];
      await scanCsvRecords(entry.demographicsPath ?? "", "load", {
        header: (names) => {
          index = names.indexOf(entry.indexCol ?? "");
          at = selected.map((k) => names.indexOf(numeric[k]));
          if (index < 0 || at.some((i) => i < 0)) throw changed(entry);
        },
        record: (cells) => {
          if (!subjects.has(cells[index])) return;
          for (const [k, i] of at.entries()) visit(k, parseDecimal(cells[i]) ?? Number.NaN);
        },
      });
    },
  };
}

/** Splits requested names into modalities and demographics columns, and puts their answers back in order. */
async function byKind<T>(
  entry: DatasetEntry,
  names: string[],
  modalities: (names: string[], positions: number[]) => Promise<T[]>,
  demographics: (source: ValueSource, selected: number[], positions: number[]) => Promise<T[]>,
): Promise<T[]> {
  const volumeNames = new Set((entry.modalities ?? []).map((m) => m.name));
  const source = demographicsSource(entry);
  const volumes = names.flatMap((n, i) => (volumeNames.has(n) ? [i] : []));
  const table = names.flatMap((n, i) => (volumeNames.has(n) ? [] : [i]));
  const out = new Array<T>(names.length);
  const a = volumes.length
    ? await modalities(
        volumes.map((i) => names[i]),
        volumes,
      )
    : [];
  const b = table.length
    ? await demographics(
        source,
        table.map((i) => source.columns.indexOf(names[i])),
        table,
      )
    : [];
  volumes.forEach((i, k) => {
    out[i] = a[k];
  });
  table.forEach((i, k) => {
    out[i] = b[k];
  });
  return out;
}

/** The summary phase over `names` (each a modality or a numeric demographics column). */
export function summarizeMedical(
  entry: DatasetEntry,
  names: string[],
  policy: DisclosurePolicy,
): Promise<ColumnSummary[]> {
  return byKind(
    entry,
    names,
    (volumes) => summarizeModalities(entry, volumes, policy),
    (source, selected) => summarizeColumns(source, selected, policy),
  );
}

/** The histogram phase over `names`, `grids[i]` the grid of `names[i]`. */
export function histogramMedical(
  entry: DatasetEntry,
  names: string[],
  grids: HistogramGrid[],
  minCount: number,
): Promise<ColumnHistogram[]> {
  return byKind(
    entry,
    names,
    (volumes, positions) =>
      histogramModalities(
        entry,
        volumes,
        positions.map((i) => grids[i]),
        minCount,
      ),
    (source, selected, positions) =>
      histogramColumns(
        source,
        selected,
        positions.map((i) => grids[i]),
        minCount,
      ),
  );
}
