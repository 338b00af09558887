import { readFile } from "node:fs/promises";
import { extname, relative } from "node:path";
import { InputError } from "../../../common/errors.js";
import { imageFolderFingerprint, inspectImageFolder, listImageFolder, loadImageFolder } from "../images.js";
import type { DatasetKind } from "./kind.js";

const MIME: Record<string, string> = { ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg" };

/** A folder of class sub-folders of PNG/JPEG images (`<dir>/<class>/*.png`): the class is the label. */
export const images: DatasetKind<"images"> = {
  type: "images",
  async describe(request) {
    const info = await inspectImageFolder(request.path);
    return {
      type: "images",
      shape: [info.count, info.height, info.width, info.channels],
      classes: info.classes,
      sampleCount: info.count,
      sha256: info.sha256,
    };
  },
  fingerprint: (entry) => imageFolderFingerprint(entry.path),
  load: (entry, plan) => loadImageFolder(entry.path, plan.data.input),
  stats: true,
  async preview(entry) {
    return { images: await sampleImages(entry.path), classCounts: entry.classes };
  },
  async loadLocal(path, options) {
    const [height, width, channels] = options.sampleShape;
    if (options.sampleShape.length !== 3 || (channels !== 1 && channels !== 3))
      throw new InputError(`Cannot use image folder "${path}": the model does not take images`);
    const data = await loadImageFolder(path, { height, width, channels });
    const { files } = await listImageFolder(path, "load");
    return { type: "images", data, ids: files.map((f) => relative(path, f.path).split("\\").join("/")) };
  },
  claims: (probe) => probe.isDirectory && !probe.medical?.slices,
};

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
