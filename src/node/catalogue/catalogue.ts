import { randomBytes } from "node:crypto";
import { isAbsolute } from "node:path";
import { createStore, type Row, type Store } from "tinybase";
import { z } from "zod";
import { InputError } from "../../common/errors.js";
import type { TableColumn } from "../../ml/data/csv-columns.js";
import { type DatasetType, datasetTypes } from "../../ml/data/kinds/registry.js";
import type { ModalitySummary } from "../../ml/data/medical-folder.js";
import type { DatasetInfo } from "../../wire/messages.js";
import { createJsonFilePersister } from "./json-file-persister.js";

export type { DatasetType };

/** One registered dataset. Everything but `path`/`labelsPath` may leave the node (see toDatasetInfo). */
export interface DatasetEntry extends DatasetInfo {
  type: DatasetType;
  /** sha256 of the file (csv), of both files (idx) or of every image (images), see fingerprint.ts. */
  sha256: string;
  /** Absolute path of the CSV, the IDX images file or the image folder. */
  path: string;
  /** Absolute path of the IDX labels file ("" for other types). */
  labelsPath: string;
  /** This dataset's privacy budget (ε), over the node's `max_epsilon`; absent: the node's applies. */
  maxEpsilon?: number;
  /** csv: each column's type, missing count and category counts (entries made before typing: name and dtype). */
  columns: (Pick<TableColumn, "name" | "dtype"> & Partial<TableColumn>)[];
  /** csv with a target: rows whose target is missing, left out of sampleCount and of training. */
  missingTarget: number;
  /** medical-folder: per modality, subjects holding it and missing it, shapes, spacing (stays on the node). */
  modalities?: ModalitySummary[];
  /** medical-folder: the demographics CSV ("" without one) and its subject column. */
  demographicsPath?: string;
  indexCol?: string;
}

/**
 * What a caller gives to register a dataset; the catalogue adds id and createdAt. Without a name, the
 * dataset is named `<type>-<6 hex digits of its id>`: never after its file, whose name may say too much.
 */
export type DatasetDraft = Pick<DatasetEntry, "type" | "tags" | "shape" | "sampleCount" | "sha256" | "path"> &
  Partial<
    Pick<
      DatasetEntry,
      | "name"
      | "description"
      | "target"
      | "columns"
      | "classes"
      | "labelsPath"
      | "missingTarget"
      | "modalities"
      | "demographicsPath"
      | "indexCol"
    >
  >;

/** The node's dataset catalogue: a TinyBase `datasets` table saved atomically to one JSON file. */
export interface Catalogue {
  /** Registers a dataset and saves; refuses tags that conflict with a registered dataset's. */
  addDataset(draft: DatasetDraft): Promise<DatasetEntry>;
  listDatasets(): DatasetEntry[];
  getDataset(id: string): DatasetEntry | undefined;
  /** Sets (a number) or clears (undefined) a dataset's own privacy budget and saves; undefined if no such dataset. */
  setMaxEpsilon(id: string, value: number | undefined): Promise<DatasetEntry | undefined>;
  /** Removes and saves; returns the removed entry, or undefined when there was none. */
  removeDataset(id: string): Promise<DatasetEntry | undefined>;
  /** Datasets carrying every one of `tags` (all datasets for an empty list). */
  findByTags(tags: string[]): DatasetEntry[];
  /** Datasets whose tag set contains, or is contained in, `tags` (Fed-BioMed's conflict rule). */
  findConflicts(tags: string[]): DatasetEntry[];
  /** Re-reads the file (another process may have changed it). */
  reload(): Promise<void>;
  /**
   * Keeps the store in step with the file from now on (for long-running `serve`); a change that makes
   * the file unreadable is passed to `onError` and the last good content kept.
   */
  watch(onError: (message: string) => void): void;
  close(): Promise<void>;
  readonly store: Store;
}

const TABLE = "datasets";
const schema = {
  [TABLE]: {
    name: { type: "string" },
    type: { type: "string" },
    tags: { type: "array", default: [] },
    description: { type: "string", default: "" },
    shape: { type: "array", default: [] },
    columns: { type: "array", default: [] },
    target: { type: "string", default: "" },
    sampleCount: { type: "number", default: 0 },
    classes: { type: "array", default: [] },
    sha256: { type: "string", default: "" },
    createdAt: { type: "string", default: "" },
    path: { type: "string", default: "" },
    labelsPath: { type: "string", default: "" },
    maxEpsilon: { type: "number" },
    missingTarget: { type: "number", default: 0 },
    // medical-folder only: no defaults, so other types' entries do not gain them.
    modalities: { type: "array" },
    demographicsPath: { type: "string" },
    indexCol: { type: "string" },
  },
} as const;

/** What a stored row must hold: TinyBase would silently reset a cell of the wrong type to its default. */
const rowSchema = z.object({
  name: z.string().min(1),
  type: z.enum(datasetTypes),
  tags: z.array(z.string()).min(1),
  description: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  columns: z.array(
    z.object({
      name: z.string(),
      dtype: z.string(),
      kind: z.enum(["numeric", "binary", "categorical", "text"]).optional(),
      missing: z.number().int().nonnegative().optional(),
      categories: z.array(z.object({ name: z.string(), count: z.number().int().nonnegative() })).optional(),
    }),
  ),
  target: z.string(),
  sampleCount: z.number().int().nonnegative(),
  classes: z.array(z.object({ name: z.string(), count: z.number() })),
  sha256: z.string(),
  createdAt: z.string(),
  path: z.string().min(1),
  labelsPath: z.string(),
  maxEpsilon: z.number().nonnegative().optional(),
  missingTarget: z.number().int().nonnegative().optional(),
  modalities: z
    .array(
      z.object({
        name: z.string(),
        subjects: z.number().int().nonnegative(),
        missing: z.number().int().nonnegative(),
        shapes: z.array(z.array(z.number().int().positive())),
        spacing: z.array(z.number()),
        datatypes: z.array(z.string()),
      }),
    )
    .optional(),
  demographicsPath: z.string().optional(),
  indexCol: z.string().optional(),
});

/** Opens the catalogue at `path` (created on first save; a missing file is an empty catalogue). */
export async function createCatalogue(options: { path: string }): Promise<Catalogue> {
  const store = createStore().setTablesSchema(schema);
  const file = createJsonFilePersister(store, options.path, { what: "catalogue", table: TABLE, rowSchema });
  await file.load();

  const get = (id: string) => (store.hasRow(TABLE, id) ? rowToEntry(id, store.getRow(TABLE, id)) : undefined);
  const list = () => store.getRowIds(TABLE).map((id) => rowToEntry(id, store.getRow(TABLE, id)));
  const findConflicts = (tags: string[]) =>
    list().filter((entry) => isSubset(tags, entry.tags) || isSubset(entry.tags, tags));

  return {
    store,
    listDatasets: list,
    getDataset: get,
    findByTags: (tags) => list().filter((entry) => isSubset(tags, entry.tags)),
    findConflicts,
    // Under the file's lock and from the file as it is now: concurrent `dataset add`s all land.
    addDataset: (draft) =>
      file.update(() => {
        const entry = newEntry(draft, (id) => store.hasRow(TABLE, id));
        const conflict = findConflicts(entry.tags)[0];
        if (conflict !== undefined) {
          throw new InputError(
            `Cannot register dataset "${entry.name}": its tags (${entry.tags.join(", ")}) conflict with dataset ` +
              `"${conflict.name}" (${conflict.id}, tags ${conflict.tags.join(", ")}): one tag set contains the other, ` +
              "so a search could not tell them apart; use tags that differ",
          );
        }
        const { id, ...cells } = entry;
        store.transaction(() => store.setRow(TABLE, id, cells as unknown as Row));
        return entry;
      }),
    setMaxEpsilon: (id, value) =>
      file.update(() => {
        if (!store.hasRow(TABLE, id)) return undefined;
        store.transaction(() =>
          value === undefined ? store.delCell(TABLE, id, "maxEpsilon") : store.setCell(TABLE, id, "maxEpsilon", value),
        );
        return get(id);
      }),
    removeDataset: (id) =>
      file.update(() => {
        const entry = get(id);
        if (entry !== undefined) store.transaction(() => store.delRow(TABLE, id));
        return entry;
      }),
    reload: () => file.load(),
    watch: (onError) => file.startAutoLoad(onError),
    close: () => file.destroy(),
  };
}

/**
 * What may leave the node: every field but the paths and the fingerprint; of the columns only names
 * and dtypes (category names and counts stay: the researcher learns categories only under min_count).
 */
export function toDatasetInfo(entry: DatasetEntry): DatasetInfo {
  const { id, name, type, tags, description, shape, sampleCount, classes, target, createdAt } = entry;
  const columns = [
    ...(entry.modalities ?? []).map(modalityColumn),
    ...entry.columns.map((c) => ({ name: c.name, dtype: c.dtype })),
  ];
  return { id, name, type, tags, description, shape, columns, sampleCount, classes, target, createdAt };
}

/**
 * medical-folder: researchers see each modality as a column whose type is its volume shape,
 * `{name: "T1", dtype: "volume 64×64×32"}` (`(+n other shapes)` when subjects differ); never subject ids.
 */
function modalityColumn(m: ModalitySummary): { name: string; dtype: string } {
  const others = m.shapes.length - 1;
  const more = others > 0 ? ` (+${others} other shape${others > 1 ? "s" : ""})` : "";
  return { name: m.name, dtype: `volume ${m.shapes[0]?.join("×") ?? "?"}${more}` };
}

/** A new random id, `ds_` + 12 hex digits. */
export function newDatasetId(): string {
  return `ds_${randomBytes(6).toString("hex")}`;
}

function newEntry(draft: DatasetDraft, taken: (id: string) => boolean): DatasetEntry {
  let id = newDatasetId();
  while (taken(id)) id = newDatasetId();
  const name = draft.name === undefined ? `${draft.type}-${id.slice(3, 9)}` : draft.name.trim();
  const tags = [...new Set(draft.tags.map((tag) => tag.trim()).filter((tag) => tag !== ""))];
  if (tags.length === 0) throw new InputError(`Cannot register dataset "${name}": it needs at least one tag`);
  if (name === "") throw new InputError("Cannot register dataset: its name is empty");
  if (!isAbsolute(draft.path))
    throw new InputError(`Cannot register dataset "${name}": path "${draft.path}" is not absolute`);
  return {
    id,
    name,
    type: draft.type,
    tags,
    description: draft.description ?? "",
    shape: draft.shape,
    columns: draft.columns ?? [],
    target: draft.target ?? "",
    sampleCount: draft.sampleCount,
    classes: draft.classes ?? [],
    sha256: draft.sha256,
    createdAt: new Date().toISOString(),
    path: draft.path,
    labelsPath: draft.labelsPath ?? "",
    missingTarget: draft.missingTarget ?? 0,
    ...(draft.type === "medical-folder"
      ? {
          modalities: draft.modalities ?? [],
          demographicsPath: draft.demographicsPath ?? "",
          indexCol: draft.indexCol ?? "",
        }
      : {}),
  };
}

function rowToEntry(id: string, row: Row): DatasetEntry {
  return { id, ...(row as unknown as Omit<DatasetEntry, "id">) };
}

function isSubset(small: string[], big: string[]): boolean {
  return small.every((tag) => big.includes(tag));
}
