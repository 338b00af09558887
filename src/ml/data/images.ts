import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { errorMessage, InputError } from "../../common/errors.js";
import type { Dataset } from "../types.js";
import { fingerprintFiles } from "./fingerprint.js";
import { decodeImage, type ImageSize, type RgbaImage, resizeInto } from "./image-pixels.js";
import { checkFolder, type ReadAction, readerContext } from "./reader-errors.js";

export type { ImageSize } from "./image-pixels.js";

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg"]);

/** What registering an image folder learns; every image is decoded once to prove it is readable. */
export interface ImageFolderInfo {
  count: number;
  /** Class sub-folder names in code-point order (label = index) with their image counts. */
  classes: { name: string; count: number }[];
  /** Size of the first image (others may differ: images are resized at load time). */
  height: number;
  width: number;
  /** 3 when any image has colour, else 1. */
  channels: 1 | 3;
  /** sha256 over every image file and its relative name (fingerprintFiles). */
  sha256: string;
}

interface FolderListing {
  classes: string[];
  files: { path: string; label: number }[];
}

/** Lists `dir/<class>/*.{png,jpg,jpeg}`, classes and files sorted by code point so every node agrees. */
export async function listImageFolder(dir: string, action: ReadAction = "register"): Promise<FolderListing> {
  await checkFolder(dir, action);
  const context = readerContext(action, dir);
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const entries = await readdir(dir, { withFileTypes: true });
  const classes = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort(byName);
  if (classes.length === 0) {
    throw new InputError(
      `${context}: it has no class sub-folders; put each class's images in its own sub-folder, e.g. ${join(dir, "<class>", "1.png")}`,
    );
  }
  const files: FolderListing["files"] = [];
  for (const [label, name] of classes.entries()) {
    const inside = await readdir(join(dir, name), { withFileTypes: true });
    const images = inside
      .filter((e) => e.isFile() && !e.name.startsWith(".") && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase()))
      .map((e) => e.name)
      .sort(byName);
    if (images.length === 0) throw new InputError(`${context}: class folder "${name}" has no PNG or JPEG images`);
    for (const image of images) files.push({ path: join(dir, name, image), label });
  }
  return { classes, files };
}

/** Checks an image folder: class sub-folders, every image decodable; counts and fingerprints it. */
export async function inspectImageFolder(dir: string): Promise<ImageFolderInfo> {
  const { classes, files } = await listImageFolder(dir, "register");
  const counts = classes.map(() => 0);
  let first: RgbaImage | undefined;
  let color = false;
  for (const file of files) {
    const image = await readImage(file.path, dir, "register");
    first ??= image;
    color ||= image.color;
    counts[file.label]++;
  }
  return {
    count: files.length,
    classes: classes.map((name, i) => ({ name, count: counts[i] })),
    height: first!.height,
    width: first!.width,
    channels: color ? 3 : 1,
    sha256: await imageFolderFingerprint(dir, files),
  };
}

/** The fingerprint of an image folder: every image's sha256 and its name relative to the folder. */
export async function imageFolderFingerprint(dir: string, files?: { path: string }[]): Promise<string> {
  const listed = files ?? (await listImageFolder(dir, "load")).files;
  return fingerprintFiles(
    listed.map((f) => f.path),
    { root: dir },
  );
}

/**
 * Reads an image folder into a Dataset: every image resized to `size` (default: the first image's size,
 * 3 channels if it has colour, else 1), pixels in [0, 1]; `y` the class index; `classes` the folder names.
 */
export async function loadImageFolder(dir: string, size?: ImageSize): Promise<Dataset> {
  const { classes, files } = await listImageFolder(dir, "load");
  let target = size;
  let x = new Float32Array(0);
  const y = new Float32Array(files.length);
  for (const [i, file] of files.entries()) {
    const image = await readImage(file.path, dir, "load");
    if (target === undefined) target = { height: image.height, width: image.width, channels: image.color ? 3 : 1 };
    const sampleSize = target.height * target.width * target.channels;
    if (x.length === 0) x = new Float32Array(files.length * sampleSize);
    resizeInto(image, target, x, i * sampleSize);
    y[i] = file.label;
  }
  const shape = [target!.height, target!.width, target!.channels];
  return { x, sampleShape: shape, y, rows: files.length, classes };
}

async function readImage(path: string, dir: string, action: ReadAction): Promise<RgbaImage> {
  try {
    return decodeImage(await readFile(path));
  } catch (error) {
    const reason = errorMessage(error).replace(/\s+/g, " ");
    throw new InputError(`${readerContext(action, dir)}: image "${path}" cannot be decoded (${reason})`);
  }
}
