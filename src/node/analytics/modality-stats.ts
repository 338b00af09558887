import { InputError } from "../../common/errors.js";
import { listMedicalFolder, medicalFolderFingerprint, readSubjectVolume } from "../../ml/data/medical-folder.js";
import type { HistogramGrid } from "../../ml/stats/histogram-grid.js";
import { addValue, emptyMoments } from "../../ml/stats/moments.js";
import type { ColumnHistogram, ColumnSummary } from "../../wire/index.js";
import type { DatasetEntry } from "../catalogue/catalogue.js";
import { type DisclosurePolicy, discloseByHolders, protectMinMax } from "./disclosure.js";
import { histogram } from "./histograms.js";
import { addToCell, emptyCells, gridCell, gridStep } from "./node-grid.js";
import { MAX_CLASSES } from "./summarize.js";
import { changed } from "./value-source.js";

/**
 * `fbm-researcher stats` on a medical folder: each modality is a column whose values are the voxels of
 * the subjects holding it. The node's gates are those of table columns, with `min_count` counting
 * subjects, not voxels (one subject holds thousands of voxels: a count of 10,000 voxels may be one
 * patient's lesion). A modality's count, moments and min/max go out when min_count subjects or more hold
 * it; a histogram cell, a quantile run or a class (label value) when min_count subjects or more have
 * voxels in it, with secondary suppression over subjects (discloseByHolders). Min and max are rounded
 * outward unless `stats_minmax`, as for table columns. A modality whose voxels are integers of at most
 * MAX_CLASSES distinct values (a label volume) also reports voxels per class.
 */

/** Calls `visit(k, voxels, subject)` for every subject holding the k-th of `modalities`, in name order. */
async function scanModalities(
  entry: DatasetEntry,
  modalities: string[],
  visit: (k: number, voxels: Float32Array, subject: number) => void,
): Promise<void> {
  if ((await medicalFolderFingerprint(entry.path, entry.demographicsPath || undefined)) !== entry.sha256) {
    throw changed(entry);
  }
  const subjects = await listMedicalFolder(entry.path, "load");
  const context = `Dataset "${entry.name}"`;
  for (const [s, subject] of subjects.entries()) {
    for (const [k, modality] of modalities.entries()) {
      if (!subject.files.has(modality)) continue;
      visit(k, (await readSubjectVolume(subject, modality, context, `#${s + 1}`)).data, s);
    }
  }
}

/** Voxels and subjects per label value; undefined once a value is not an integer or there are too many. */
type ClassCells = Map<number, { voxels: number; subjects: Set<number> }> | undefined;

/** The summary phase over modalities: voxel moments, protected min/max and class voxel counts per modality. */
export async function summarizeModalities(
  entry: DatasetEntry,
  modalities: string[],
  policy: DisclosurePolicy,
): Promise<ColumnSummary[]> {
  const moments = modalities.map(() => emptyMoments());
  const holders = modalities.map(() => new Set<number>());
  const nan = modalities.map(() => ({ voxels: 0, subjects: new Set<number>() }));
  const classes: ClassCells[] = modalities.map(() => new Map());
  await scanModalities(entry, modalities, (k, voxels, subject) => {
    holders[k].add(subject);
    let cells = classes[k];
    for (const v of voxels) {
      if (Number.isNaN(v)) {
        nan[k].voxels++;
        nan[k].subjects.add(subject);
        continue;
      }
      addValue(moments[k], v);
      if (cells === undefined) continue;
      const cell = cells.get(v);
      if (cell) {
        cell.voxels++;
        cell.subjects.add(subject);
      } else if (Number.isInteger(v) && cells.size < MAX_CLASSES) {
        cells.set(v, { voxels: 1, subjects: new Set([subject]) });
      } else {
        cells = undefined;
      }
    }
    classes[k] = cells;
  });
  return modalities.map((name, k) => {
    const m = moments[k];
    const exact = holders[k].size >= policy.minCount && m.count > 0;
    const minMax = exact ? protectMinMax(m.min, m.max, policy.minMax) : { min: 0, max: 0, grid: 0 };
    return {
      name,
      count: exact ? m.count : "below",
      missing: nan[k].subjects.size >= policy.minCount ? nan[k].voxels : "below",
      sum: exact ? m.sum : 0,
      mean: exact ? m.mean : 0,
      m2: exact ? m.m2 : 0,
      min: minMax.min,
      max: minMax.max,
      minMaxGrid: minMax.grid,
      rangeLo: minMax.min,
      rangeHi: minMax.max,
      classes: exact ? classCounts(classes[k], policy.minCount) : [],
      histogramGrid: exact ? gridStep(m.min, m.max) : 0,
    };
  });
}

/** Classes held by min_count subjects or more, by value, with their voxels as discloseByHolders lets them out. */
function classCounts(cells: ClassCells, minCount: number): ColumnSummary["classes"] {
  if (cells === undefined) return [];
  const values = [...cells.keys()].sort((a, b) => a - b);
  const published = discloseByHolders(
    values.map((v) => cells.get(v)!.voxels),
    values.map((v) => cells.get(v)!.subjects),
    minCount,
  );
  return values.flatMap((v, i) =>
    cells.get(v)!.subjects.size >= minCount ? [{ name: String(v), count: published[i] }] : [],
  );
}

/**
 * The histogram phase over modalities: voxels counted on the node's own grid (node-grid.ts), each cell
 * with the subjects holding voxels in it; the cell table passes discloseByHolders and the requested bins
 * are drawn from it alone (histogram()), as for table columns.
 */
export async function histogramModalities(
  entry: DatasetEntry,
  modalities: string[],
  grids: HistogramGrid[],
  minCount: number,
): Promise<ColumnHistogram[]> {
  const low = modalities.map(() => Infinity);
  const high = modalities.map(() => -Infinity);
  await scanModalities(entry, modalities, (k, voxels) => {
    for (const v of voxels) {
      if (v < low[k]) low[k] = v;
      if (v > high[k]) high[k] = v;
    }
  });
  const cells = modalities.map((_, k) => emptyCells(low[k] <= high[k] ? low[k] : 0, low[k] <= high[k] ? high[k] : 0));
  const holders = cells.map((c) => c.counts.map(() => new Set<number>()));
  await scanModalities(entry, modalities, (k, voxels, subject) => {
    const { lo, hi } = grids[k];
    const { step, first } = cells[k];
    for (const v of voxels) {
      if (Number.isNaN(v)) continue;
      const cell = gridCell(v, step);
      if (cell.lo > hi || cell.hi <= lo) {
        throw new InputError(
          `Cannot compute a histogram of modality "${modalities[k]}": the range [${lo}, ${hi}] does not hold all its voxels (the range comes from the summary phase)`,
        );
      }
      addToCell(cells[k], v);
      holders[k][Math.floor(v / step) - first].add(subject);
    }
  });
  return modalities.map((name, k) =>
    histogram(name, cells[k], grids[k], minCount, discloseByHolders(cells[k].counts, holders[k], minCount)),
  );
}
