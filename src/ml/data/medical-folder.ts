import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage, InputError } from "../../common/errors.js";
import { inspectTable, type TableColumn } from "./csv-columns.js";
import { scanCsvRecords } from "./csv-scan.js";
import { isDicomName, readDicomVolume } from "./dicom.js";
import { fingerprintFiles } from "./fingerprint.js";
import { isNiftiName, niftiStem, readNifti, type Volume } from "./nifti.js";
import { checkFolder, type ReadAction, readerContext } from "./reader-errors.js";

/**
 * Medical folders (Fed-BioMed's MedicalFolderDataset layout): one sub-folder per subject, each holding its
 * modalities as NIfTI or DICOM files named after them (`sub-001/T1.nii.gz`, `sub-001/CT.dcm`) or as
 * sub-folders holding one NIfTI file or a DICOM series (`sub-001/T1/scan.nii.gz`, `sub-001/CT/*.dcm`). Subjects and modalities are sorted by code point so every node agrees.
 */

/** Where one subject's volumes are, by modality name: a NIfTI or DICOM file, or a DICOM series folder. */
export interface MedicalSubject {
  id: string;
  files: Map<string, string>;
}

/** The files of one volume: the file itself, or a series folder's .dcm files by name. */
async function volumeFiles(path: string): Promise<string[]> {
  if (isNiftiName(path) || isDicomName(path)) return [path];
  return (await readdir(path))
    .filter(isDicomName)
    .sort(byName)
    .map((name) => join(path, name));
}

/** What the catalogue keeps of one modality; shapes and spacing stay on the node with the paths. */
export interface ModalitySummary {
  name: string;
  /** Subjects holding this modality. */
  subjects: number;
  /** Subjects of the folder without it. */
  missing: number;
  /** Distinct [X, Y, Z] shapes, most frequent first. */
  shapes: number[][];
  /** The voxel size of the first subject holding it. */
  spacing: number[];
  /** NIfTI datatypes seen, e.g. ["int16"]. */
  datatypes: string[];
}

export interface MedicalFolderInfo {
  subjects: number;
  modalities: ModalitySummary[];
  /** Demographics columns (the index column left out) with their types, when a table was given. */
  columns: TableColumn[];
  /** Subjects without a demographics row. */
  withoutDemographics: number;
  /** sha256 over every volume and the demographics file (fingerprintFiles). */
  sha256: string;
}

export interface DemographicsOptions {
  /** A CSV with one row per subject. */
  demographics?: string;
  /** Its column holding the subject folder names. */
  indexCol?: string;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Lists subjects and their modality files; throws InputError on an empty folder or an ambiguous modality. */
export async function listMedicalFolder(root: string, action: ReadAction = "register"): Promise<MedicalSubject[]> {
  await checkFolder(root, action);
  const context = readerContext(action, root);
  const entries = await readdir(root, { withFileTypes: true });
  const ids = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort(byName);
  const subjects: MedicalSubject[] = [];
  for (const id of ids) {
    const files = new Map<string, string>();
    const inside = await readdir(join(root, id), { withFileTypes: true });
    for (const e of inside.filter((e) => !e.name.startsWith(".")).sort((a, b) => byName(a.name, b.name))) {
      let name: string | undefined;
      let path: string | undefined;
      if (e.isFile() && (isNiftiName(e.name) || isDicomName(e.name))) {
        name = niftiStem(e.name).replace(/\.dcm$/i, "");
        path = join(root, id, e.name);
      } else if (e.isDirectory()) {
        const inside = await readdir(join(root, id, e.name));
        const volumes = inside.filter(isNiftiName).sort(byName);
        const series = inside.filter(isDicomName);
        if (volumes.length > 1 || (volumes.length === 1 && series.length > 0)) {
          throw new InputError(
            `${context}: subject "${id}" modality folder "${e.name}" holds ${volumes.length} NIfTI and ${series.length} DICOM files; keep one NIfTI file or one DICOM series per modality`,
          );
        }
        if (volumes.length === 1) {
          name = e.name;
          path = join(root, id, e.name, volumes[0]);
        } else if (series.length > 0) {
          name = e.name;
          path = join(root, id, e.name);
        }
      }
      if (name === undefined || path === undefined) continue;
      if (files.has(name)) {
        throw new InputError(`${context}: subject "${id}" has modality "${name}" twice (a file and a folder)`);
      }
      files.set(name, path);
    }
    if (files.size > 0) subjects.push({ id, files });
  }
  if (subjects.length === 0) {
    throw new InputError(
      `${context}: it has no subject folders with NIfTI or DICOM volumes; use one folder per subject, e.g. ${join(root, "sub-001", "T1.nii.gz")}`,
    );
  }
  return subjects;
}

/**
 * Reads one subject's volume; an unreadable one is an InputError naming the subject (`name`: its quoted
 * id, or what the caller may disclose) and modality, never the path.
 */
export async function readSubjectVolume(
  subject: MedicalSubject,
  modality: string,
  context: string,
  name = `"${subject.id}"`,
): Promise<Volume> {
  const path = subject.files.get(modality);
  if (path === undefined) throw new InputError(`${context}: subject ${name} has no "${modality}" volume`);
  try {
    return isNiftiName(path) ? readNifti(await readFile(path)) : await readDicomVolume(path);
  } catch (error) {
    throw new InputError(
      `${context}: subject ${name} ${modality} volume cannot be read: ${errorMessage(error).replace(/\s+/g, " ")}`,
    );
  }
}

/**
 * Checks a medical folder: every volume read once, modalities of one subject of one shape; counts
 * subjects per modality, shapes, spacing, and the demographics table's columns; fingerprints it all.
 */
export async function inspectMedicalFolder(
  root: string,
  options: DemographicsOptions = {},
): Promise<MedicalFolderInfo> {
  const context = readerContext("register", root);
  const subjects = await listMedicalFolder(root, "register");
  const names = [...new Set(subjects.flatMap((s) => [...s.files.keys()]))].sort(byName);
  const summaries = new Map<string, ModalitySummary & { counts: Map<string, number> }>();
  for (const name of names) {
    summaries.set(name, { name, subjects: 0, missing: 0, shapes: [], spacing: [], datatypes: [], counts: new Map() });
  }
  for (const subject of subjects) {
    let first: { modality: string; dims: number[] } | undefined;
    for (const name of names) {
      const summary = summaries.get(name)!;
      if (!subject.files.has(name)) {
        summary.missing++;
        continue;
      }
      const volume = await readSubjectVolume(subject, name, context);
      first ??= { modality: name, dims: volume.dims };
      if (volume.dims.join() !== first.dims.join()) {
        throw new InputError(
          `${context}: subject "${subject.id}" ${name} volume is ${volume.dims.join("×")} but its ${first.modality} volume is ` +
            `${first.dims.join("×")}: the modalities of a subject must have one shape`,
        );
      }
      summary.subjects++;
      const key = volume.dims.join("×");
      summary.counts.set(key, (summary.counts.get(key) ?? 0) + 1);
      if (summary.spacing.length === 0) summary.spacing = [...volume.spacing];
      if (!summary.datatypes.includes(volume.datatype)) summary.datatypes.push(volume.datatype);
    }
  }
  const modalities = [...summaries.values()].map(({ counts, ...summary }) => ({
    ...summary,
    shapes: [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([key]) => key.split("×").map(Number)),
  }));
  const demographics = options.demographics
    ? await inspectDemographics(options.demographics, options.indexCol, subjects)
    : undefined;
  if (options.indexCol !== undefined && options.demographics === undefined) {
    throw new InputError("--index-col applies with --demographics only");
  }
  const files = await subjectFiles(subjects);
  if (options.demographics) files.push(options.demographics);
  return {
    subjects: subjects.length,
    modalities,
    columns: demographics?.columns ?? [],
    withoutDemographics: demographics?.withoutRow ?? 0,
    sha256: await fingerprintFiles(files, { root }),
  };
}

/** The demographics table's columns (index left out) and how many subjects have no row in it. */
async function inspectDemographics(path: string, indexCol: string | undefined, subjects: MedicalSubject[]) {
  const context = readerContext("register", path);
  if (indexCol === undefined) {
    throw new InputError("--index-col is required with --demographics (the column holding subject folder names)");
  }
  const table = await inspectTable(path);
  const index = table.columns.findIndex((c) => c.name === indexCol);
  if (index < 0) {
    throw new InputError(
      `${context}: it has no column "${indexCol}" (columns: ${table.columns.map((c) => c.name).join(", ")})`,
    );
  }
  const ids = new Set<string>();
  await scanCsvRecords(path, "register", { record: (cells) => ids.add(cells[index]) });
  return {
    columns: table.columns.filter((_, i) => i !== index),
    withoutRow: subjects.filter((s) => !ids.has(s.id)).length,
  };
}

/** The fingerprint registration computed: every volume and the demographics file. */
export async function medicalFolderFingerprint(root: string, demographics?: string): Promise<string> {
  const files = await subjectFiles(await listMedicalFolder(root, "load"));
  if (demographics) files.push(demographics);
  return fingerprintFiles(files, { root });
}

/** Every file of every volume, in subject and modality order. */
async function subjectFiles(subjects: MedicalSubject[]): Promise<string[]> {
  const files: string[] = [];
  for (const subject of subjects) for (const path of subject.files.values()) files.push(...(await volumeFiles(path)));
  return files;
}
