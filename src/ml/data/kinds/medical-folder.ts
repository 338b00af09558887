import { resolve } from "node:path";
import { InputError } from "../../../common/errors.js";
import type { Plan } from "../../plan.js";
import { grayPngUrl } from "../gray-png.js";
import {
  inspectMedicalFolder,
  listMedicalFolder,
  medicalFolderFingerprint,
  readSubjectVolume,
} from "../medical-folder.js";
import { loadMedicalSlices, type SlicePreparation, slicePlane } from "../medical-slices.js";
import { loadMedicalVolumes } from "../medical-volumes.js";
import type { DatasetKind } from "./kind.js";

/**
 * A folder of subject folders holding volumes per modality (NIfTI, DICOM series), with an optional
 * demographics CSV of one row per subject: trained on as 2-D slices.
 */
export const medicalFolder: DatasetKind<"medical-folder"> = {
  type: "medical-folder",
  async describe(request) {
    const path = resolve(request.path);
    const demographics = request.demographics === undefined ? undefined : resolve(request.demographics);
    const info = await inspectMedicalFolder(path, { demographics, indexCol: request.indexCol });
    const clash = info.columns.find((c) => info.modalities.some((m) => m.name === c.name));
    if (clash) {
      throw new InputError(
        `Cannot register dataset "${path}": demographics column "${clash.name}" has the name of a modality; rename the column`,
      );
    }
    // The largest extent on each axis over every volume: the researcher bounds slice counts by it.
    const extent = [0, 1, 2].map((axis) => Math.max(...info.modalities.flatMap((m) => m.shapes.map((s) => s[axis]))));
    return {
      type: "medical-folder",
      shape: [info.subjects, ...extent],
      columns: info.columns,
      sampleCount: info.subjects,
      missingTarget: info.withoutDemographics,
      modalities: info.modalities,
      demographicsPath: demographics ?? "",
      indexCol: request.indexCol ?? "",
      sha256: info.sha256,
    };
  },
  fingerprint: (entry) => medicalFolderFingerprint(entry.path, entry.demographicsPath || undefined),
  load(entry, plan) {
    const { inputs, target, slices, resample, crop, intensity, clip, classes } = plan.data;
    if (!inputs || !target || !slices) {
      throw new InputError(
        `Dataset "${entry.name}" is a medical folder: the plan needs plan.data.inputs, target and slices, e.g. {inputs: [T1], target: label, slices: axial}`,
      );
    }
    // Errors name the dataset and the subject, never the folder's path (they may reach the researcher).
    return loadMedical(
      entry.path,
      {
        inputs,
        target,
        slices,
        resample,
        crop,
        intensity,
        clip,
        classes,
        ...(entry.demographicsPath
          ? { demographics: { path: entry.demographicsPath, indexCol: entry.indexCol ?? "" } }
          : {}),
      },
      `Dataset "${entry.name}"`,
    );
  },
  // The GUI shows the middle slice of each modality, not value statistics (`fbm-researcher stats` has those).
  stats: false,
  async preview(entry) {
    return { images: await middleSlices(entry) };
  },
  async loadLocal(path, options) {
    const { inputs, slices, resample, crop, intensity, clip, classes } = options.medical ?? {};
    if (!inputs || !slices) {
      throw new InputError(`Cannot use medical folder "${path}": the model was not trained on medical image slices`);
    }
    const target = options.target;
    const data = await loadMedical(
      path,
      { inputs, slices, resample, crop, intensity, clip, classes, ...(target ? { target } : {}) },
      `Medical folder "${path}"`,
    );
    return { type: "medical-folder", data, sources: data.sources };
  },
  claims: (probe) => probe.isDirectory && Boolean(probe.medical?.slices),
};

type Preparation = Omit<SlicePreparation, "slices" | "resample"> & {
  slices: NonNullable<Plan["data"]["slices"]>;
  resample?: number[];
};

/**
 * Slices, or with `slices: none` whole volumes. The plan schema pairs `none` with 3 resample sizes and
 * slices with 2, so the tuples are what each loader takes.
 */
function loadMedical(root: string, prep: Preparation, context: string) {
  const { slices, resample, crop, ...rest } = prep;
  if (slices === "none")
    return loadMedicalVolumes(root, { ...rest, resample: resample as [number, number, number] | undefined }, context);
  return loadMedicalSlices(
    root,
    { ...rest, slices, crop, resample: resample as [number, number] | undefined },
    context,
  );
}

/**
 * The GUI's preview for the node's operator only: the middle axial slice of each modality (of the first
 * subject holding it), windowed to the slice's own range, as a PNG data: URL.
 */
async function middleSlices(entry: Parameters<DatasetKind["preview"]>[0]): Promise<{ label: string; src: string }[]> {
  const subjects = await listMedicalFolder(entry.path, "load");
  const images: { label: string; src: string }[] = [];
  for (const modality of (entry.modalities ?? []).map((m) => m.name)) {
    const subject = subjects.find((s) => s.files.has(modality));
    if (!subject) continue;
    const volume = await readSubjectVolume(subject, modality, `Dataset "${entry.name}"`);
    const plane = slicePlane(volume.dims, "axial");
    const middle = Math.floor(plane.count / 2);
    const slice = new Float32Array(plane.rows * plane.cols);
    plane.read(volume.data, middle, slice);
    images.push({
      label: `${modality} (${subject.id}, axial slice ${middle + 1} of ${plane.count})`,
      src: grayPngUrl(slice, plane.cols, plane.rows),
    });
  }
  return images;
}
