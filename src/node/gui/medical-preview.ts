import { PNG } from "pngjs";
import { InputError } from "../../common/errors.js";
import { listMedicalFolder, medicalFolderFingerprint, readSubjectVolume } from "../../ml/data/medical-folder.js";
import { slicePlane } from "../../ml/data/medical-slices.js";
import type { DatasetEntry } from "../catalogue/catalogue.js";

/**
 * The GUI's preview of a medical folder, for the node's operator only: the middle axial slice of each
 * modality (of the first subject holding it), windowed to the slice's own range, as a PNG data: URL.
 */
export async function medicalPreview(entry: DatasetEntry): Promise<{ label: string; src: string }[]> {
  if ((await medicalFolderFingerprint(entry.path, entry.demographicsPath || undefined)) !== entry.sha256) {
    throw new InputError(
      `Dataset "${entry.name}" (${entry.id}) changed since it was registered: ` +
        `run \`fbm-node dataset rm ${entry.id}\` and \`fbm-node dataset add\` again to register the new version`,
    );
  }
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
      src: `data:image/png;base64,${grayPng(slice, plane.cols, plane.rows).toString("base64")}`,
    });
  }
  return images;
}

/** An 8-bit grayscale PNG of `values` (row-major), its minimum black and its maximum white. */
export function grayPng(values: Float32Array, width: number, height: number): Buffer {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const png = new PNG({ width, height });
  for (let i = 0; i < values.length; i++) {
    const g = hi > lo ? Math.round((255 * (values[i] - lo)) / (hi - lo)) : 0;
    png.data.set([g, g, g, 255], i * 4);
  }
  return PNG.sync.write(png);
}
