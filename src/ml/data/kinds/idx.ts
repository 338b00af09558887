import { resolve } from "node:path";
import { InputError } from "../../../common/errors.js";
import type { Dataset } from "../../types.js";
import { grayPngUrl } from "../gray-png.js";
import { idxFingerprint, inspectIdx, loadIdxImages } from "../idx.js";
import { openIdx } from "../idx-stream.js";
import type { DatasetKind } from "./kind.js";

const IDX_NAME = /(idx\d-ubyte|\.idx\d?)(\.gz)?$/i;

/** An IDX pair as MNIST ships it: a file of grayscale images and a file of their labels (plain or gzip). */
export const idx: DatasetKind<"idx"> = {
  type: "idx",
  async describe(request) {
    if (request.labels === undefined) {
      throw new InputError("--labels is required for idx datasets (the labels file, e.g. train-labels-idx1-ubyte.gz)");
    }
    const info = await inspectIdx(request.path, request.labels);
    return {
      type: "idx",
      shape: [info.count, info.height, info.width, 1],
      classes: info.classes,
      sampleCount: info.count,
      sha256: info.sha256,
      labelsPath: resolve(request.labels),
    };
  },
  fingerprint: (entry) => idxFingerprint(entry.path, entry.labelsPath),
  async load(entry, plan) {
    const data = await openIdx(entry.path, entry.labelsPath);
    const input = plan.data.input;
    if (
      input &&
      (input.height !== data.sampleShape[0] || input.width !== data.sampleShape[1] || input.channels !== 1)
    ) {
      data.close?.();
      throw new InputError(
        `Dataset "${entry.name}" holds ${data.sampleShape[0]}×${data.sampleShape[1]} grayscale images but the plan's input is ` +
          `${input.height}×${input.width}×${input.channels}: set plan.data.input to {height: ${data.sampleShape[0]}, width: ${data.sampleShape[1]}, channels: 1}`,
      );
    }
    return data;
  },
  stats: true,
  async preview(entry) {
    const data = await openIdx(entry.path, entry.labelsPath);
    try {
      return { images: firstOfEachClass(data), classCounts: entry.classes };
    } finally {
      data.close?.();
    }
  },
  async loadLocal(path, options) {
    return { type: "idx", data: options.labels ? await openIdx(path, options.labels) : await loadIdxImages(path) };
  },
  claims: (probe) => !probe.isDirectory && (probe.labels !== undefined || IDX_NAME.test(probe.path)),
};

/** The first image of each label, as grayscale PNG data: URLs labelled by class. */
function firstOfEachClass(data: Dataset): { label: string; src: string }[] {
  const [height, width] = data.sampleShape;
  const size = height * width;
  const images: { label: string; src: string }[] = [];
  const seen = new Set<number>();
  for (let row = 0; row < data.rows; row++) {
    const label = data.y[row];
    if (seen.has(label)) continue;
    seen.add(label);
    const pixels = new Float32Array(size);
    if (data.readRow) data.readRow(row, pixels, 0);
    else for (let i = 0; i < size; i++) pixels[i] = data.x[row * size + i] * (data.xScale ?? 1);
    images.push({ label: data.classes?.[label] ?? String(label), src: grayPngUrl(pixels, width, height) });
  }
  return images.sort((a, b) => Number(a.label) - Number(b.label));
}
