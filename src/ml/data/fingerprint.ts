import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { relative } from "node:path";

/** Lower-case hex sha256 of one file's bytes, read as a stream (any size). */
export async function fingerprintFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * One sha256 for a list of files, in the order given: the hash of lines `<sha256>  <name>\n`
 * (the `sha256sum` format), names relative to `root` when given, so renaming a file changes it too.
 */
export async function fingerprintFiles(paths: string[], options: { root?: string } = {}): Promise<string> {
  const hash = createHash("sha256");
  for (const path of paths) {
    const name = options.root === undefined ? path : relative(options.root, path).split("\\").join("/");
    hash.update(`${await fingerprintFile(path)}  ${name}\n`);
  }
  return hash.digest("hex");
}
