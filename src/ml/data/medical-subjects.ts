import { InputError } from "../../common/errors.js";
import { scanCsvRecords } from "./csv-scan.js";
import { listMedicalFolder, type MedicalSubject, readSubjectVolume } from "./medical-folder.js";
import type { SlicePreparation, SliceSource } from "./medical-slices.js";
import type { Volume } from "./nifti.js";

/**
 * Which subjects of a medical folder a plan loads, and their volumes read and checked: the part the
 * slice loader (medical-slices.ts) and the whole-volume loader (medical-volumes.ts) share, so both select,
 * skip, name and refuse subjects alike. Errors may reach the researcher: they name a subject by its
 * position in name order (`subject #3`), never by its folder name (which may be a patient identifier).
 */

/** What selecting and scaling subjects reads of a plan's preparation (slices or whole volumes). */
export type SubjectPreparation = Pick<
  SlicePreparation,
  "inputs" | "target" | "classes" | "demographics" | "clip" | "intensity"
>;

export interface SubjectSelection {
  /** The subjects holding every wanted modality (and a demographics value when the target is a column). */
  usable: MedicalSubject[];
  /** Subjects of the folder left out for a missing modality or value. */
  skipped: number;
  /** The modalities read per subject: the inputs, then the label modality (absent for a column or predict). */
  wanted: string[];
  /** The demographics column's value by subject id, when the target is such a column (classification). */
  perSubject?: Map<string, number>;
  /** `#k` for each usable subject: its position among all the folder's subjects, as errors name it. */
  names: string[];
}

/**
 * Lists the folder and keeps the subjects the plan can load. A target that is no subject's modality is a
 * demographics column: one label per subject, and `classes` (a label map's) is refused with it.
 */
export async function usableSubjects(
  root: string,
  prep: SubjectPreparation,
  context: string,
): Promise<SubjectSelection> {
  const subjects = await listMedicalFolder(root, "load");
  const target = prep.target;
  const perSubject =
    target !== undefined && prep.demographics && !subjects.some((s) => s.files.has(target))
      ? await subjectValues(prep.demographics, target, context)
      : undefined;
  if (perSubject && prep.classes !== undefined) {
    throw new InputError(
      `${context}: plan.data.classes applies to a label modality target, not the demographics column "${target}"`,
    );
  }
  const wanted = perSubject || target === undefined ? [...prep.inputs] : [...prep.inputs, target];
  const usable = subjects.filter((s) => wanted.every((m) => s.files.has(m)) && (!perSubject || perSubject.has(s.id)));
  if (usable.length === 0) {
    throw new InputError(
      `${context}: no subject holds every modality the plan names (${wanted.join(", ")})${perSubject ? ` and a "${target}" value` : ""}; check plan.data.inputs and plan.data.target`,
    );
  }
  return {
    usable,
    skipped: subjects.length - usable.length,
    wanted,
    ...(perSubject ? { perSubject } : {}),
    names: usable.map((s) => `#${subjects.indexOf(s) + 1}`),
  };
}

/** One usable subject's volumes (in `wanted` order), all of one shape, and where they came from. */
export interface SubjectVolumes {
  subject: MedicalSubject;
  /** `#k`, as errors name the subject. */
  name: string;
  volumes: Volume[];
  /** [X, Y, Z], shared by every volume of the subject. */
  dims: [number, number, number];
  source: SliceSource;
}

/** Reads each usable subject's wanted volumes in turn; a subject whose modalities differ in shape is refused. */
export async function* readUsableSubjects(
  selection: SubjectSelection,
  context: string,
): AsyncGenerator<SubjectVolumes, void, undefined> {
  const { wanted } = selection;
  for (const [k, subject] of selection.usable.entries()) {
    const name = selection.names[k];
    const volumes: Volume[] = [];
    for (const m of wanted) volumes.push(await readSubjectVolume(subject, m, context, name));
    const dims = volumes[0].dims;
    const odd = volumes.findIndex((v) => v.dims.join() !== dims.join());
    if (odd >= 0) {
      throw new InputError(
        `${context}: subject ${name} ${wanted[odd]} volume is ${volumes[odd].dims.join("×")} but its ${wanted[0]} volume is ${dims.join("×")}: the modalities of a subject must have one shape`,
      );
    }
    const { affine, spacing } = volumes[0];
    const source = { id: subject.id, dims, path: subject.files.get(wanted[0])!, affine, spacing };
    yield { subject, name, volumes, dims, source };
  }
}

/** An input volume clipped to the plan's percentiles, then z-scored, as the plan asks (per volume). */
export function scaleIntensity(data: Float32Array, prep: Pick<SubjectPreparation, "clip" | "intensity">): Float32Array {
  const clipped = prep.clip ? clipPercentiles(data, prep.clip) : data;
  return prep.intensity === "zscore" ? zscore(clipped) : clipped;
}

/** Throws InputError unless every voxel of a label map is a class index below `classes`. */
export function checkLabelMap(label: Float32Array, classes: number, context: string): void {
  const bad = label.findIndex((v) => !Number.isInteger(v) || v < 0 || v >= classes);
  if (bad >= 0) {
    throw new InputError(
      `${context} label volume holds the value ${label[bad]}, not a class 0..${classes - 1} (plan.data.classes ${classes})`,
    );
  }
}

/** (v − mean) / sd over the whole volume; a constant volume becomes 0. */
export function zscore(data: Float32Array): Float32Array {
  let sum = 0;
  for (const v of data) sum += v;
  const mean = sum / data.length;
  let sq = 0;
  for (const v of data) sq += (v - mean) ** 2;
  const sd = Math.sqrt(sq / data.length);
  return data.map((v) => (sd > 0 ? (v - mean) / sd : 0));
}

/** Each voxel clamped to the volume's `[low, high]` percentiles (linear between order statistics, as numpy). */
export function clipPercentiles(data: Float32Array, [low, high]: [number, number]): Float32Array {
  const sorted = Float64Array.from(data).sort();
  const at = (p: number) => {
    const pos = (p / 100) * (sorted.length - 1);
    const i = Math.floor(pos);
    return i + 1 < sorted.length ? sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
  };
  const lo = at(low);
  const hi = at(high);
  return data.map((v) => Math.min(hi, Math.max(lo, v)));
}

/** The numeric `column` of the demographics table by subject id; rows with a missing or text value are left out. */
export async function subjectValues(
  table: { path: string; indexCol: string },
  column: string,
  context: string,
): Promise<Map<string, number>> {
  const values = new Map<string, number>();
  let index = -1;
  let at = -1;
  await scanCsvRecords(table.path, "load", {
    header: (names) => {
      index = names.indexOf(table.indexCol);
      at = names.indexOf(column);
      if (at < 0) {
        throw new InputError(
          `${context}: plan.data.target "${column}" is neither a modality nor a demographics column (columns: ${names.join(", ")})`,
        );
      }
    },
    record: (cells) => {
      const value = cells[at] === "" ? Number.NaN : Number(cells[at]);
      if (Number.isFinite(value)) values.set(cells[index], value);
    },
  });
  return values;
}
