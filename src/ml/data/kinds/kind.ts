import type { Plan } from "../../plan.js";
import type { TablePreparation } from "../../table-prep.js";
import type { Dataset } from "../../types.js";
import type { TableColumn } from "../csv-columns.js";
import type { ModalitySummary } from "../medical-folder.js";
import type { SliceSource } from "../medical-slices.js";

/**
 * One kind of dataset (csv, idx, images, medical-folder): how `dataset add` describes its files, how a
 * node checks and loads them for a plan, how the operator's GUI previews them, and how the researcher
 * reads a local file of that kind for `evaluate`/`predict`. Lives under ml/ so the node and the
 * researcher share it (they never import each other). Adding a kind: one file here, one registry line.
 */
export interface DatasetKind<T extends string = string> {
  type: T;
  /** `dataset add`: reads and checks every file, returns what the catalogue records of this kind. */
  describe(request: KindRequest): Promise<KindDraft>;
  /** The fingerprint as `describe` computed it, to refuse files changed since registration. */
  fingerprint(entry: StoredDataset): Promise<string>;
  /** A node's training read, shaped by the plan's data section (a csv through its table preparation). */
  load(entry: StoredDataset, plan: Pick<Plan, "data">, preparation?: TablePreparation): Promise<Dataset>;
  /**
   * The GUI's preview for the node's operator (files already checked unchanged). `stats`: whether the
   * GUI also summarizes the values training reads (one column per csv column, pixels for images).
   */
  preview(entry: StoredDataset): Promise<KindPreview>;
  stats: boolean;
  /** The researcher's local file for an exported model (`evaluate`, `predict`). */
  loadLocal(path: string, options: LocalDataOptions): Promise<LocalData>;
  /** Whether a local path is of this kind when `--type` is not given; no kind claiming it: csv. */
  claims?(probe: LocalProbe): boolean;
}

/** What `dataset add` was given for the kind's own files (paths as the operator typed them). */
export interface KindRequest {
  path: string;
  /** csv: the target column (checked against the header). */
  target?: string;
  /** idx: the labels file. */
  labels?: string;
  /** medical-folder: a CSV of one row per subject, and its column of subject folder names. */
  demographics?: string;
  indexCol?: string;
}

/** The kind's part of a catalogue draft (the catalogue adds name, tags, description and path). */
export interface KindDraft {
  type: string;
  shape: number[];
  sampleCount: number;
  sha256: string;
  columns?: TableColumn[];
  target?: string;
  classes?: { name: string; count: number }[];
  labelsPath?: string;
  missingTarget?: number;
  modalities?: ModalitySummary[];
  demographicsPath?: string;
  indexCol?: string;
}

/** The fields of a catalogue entry the kinds read (structurally the node's DatasetEntry). */
export interface StoredDataset {
  id: string;
  name: string;
  type: string;
  path: string;
  sha256: string;
  shape: number[];
  columns: (Pick<TableColumn, "name" | "dtype"> & Partial<TableColumn>)[];
  classes: { name: string; count: number }[];
  /** idx: the labels file ("" for other kinds). */
  labelsPath: string;
  modalities?: ModalitySummary[];
  demographicsPath?: string;
  indexCol?: string;
}

/** What the GUI shows of a dataset's content besides its statistics. */
export interface KindPreview {
  /** csv: the header and first rows. */
  columns?: string[];
  rows?: string[][];
  /** Sample images: one per class (images, idx) or per modality (medical-folder), as data: URLs. */
  images?: { label: string; src: string }[];
  /** csv: each categorical column's categories and their row counts, most frequent first. */
  categories?: { column: string; categories: { name: string; count: number }[] }[];
  /** images, idx: samples per class. */
  classCounts?: { name: string; count: number }[];
}

export interface LocalDataOptions {
  /**
   * Default: a folder is a medical folder for a model trained on slices (`medical`), else images; a file
   * with `labels` or an IDX name or header is idx, else csv.
   */
  type?: string;
  /** IDX labels file; without it an IDX file gives images only (predictions). */
  labels?: string;
  /** CSV target column (evaluate). */
  target?: string;
  /** CSV feature columns, in training order. */
  features?: string[];
  /** CSV: the model's table preparation (categories, imputation), applied as in training. */
  preparation?: TablePreparation;
  /** The model's plan.data: a medical folder is prepared by it (inputs, slices, resample, crop, intensity). */
  medical?: Plan["data"];
  /** The model's per-sample input shape: images are resized to it, anything else must match it. */
  sampleShape: number[];
}

export interface LocalData {
  data: Dataset;
  type: string;
  /** Row ids; absent: the 0-based row index. */
  ids?: string[];
  /** medical-folder: each subject's grid and first input file, its slices in row order. */
  sources?: SliceSource[];
}

/** What guessing a local path's kind looks at. */
export interface LocalProbe {
  path: string;
  isDirectory: boolean;
  labels?: string;
  medical?: Plan["data"];
}
