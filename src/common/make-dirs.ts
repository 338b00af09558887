import { mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/**
 * `mkdir -p` that always ends: makes the missing folders of `dir` one at a time, from the deepest
 * existing ancestor down, and returns the first one made (undefined when `dir` existed). Node's own
 * `mkdir(…, { recursive: true })` spins forever at 100 % CPU where a folder exists but refuses children
 * with ENOENT (e.g. under /proc/1); here that is an error (code ENOENT) naming the folder.
 */
export async function makeDirs(dir: string, options: { mode?: number } = {}): Promise<string | undefined> {
  const missing: string[] = [];
  for (let folder = resolve(dir); ; folder = dirname(folder)) {
    const found = await stat(folder).then(
      (s) => s,
      (error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return undefined;
        throw error;
      },
    );
    if (found) {
      if (!found.isDirectory())
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${folder}'`), {
          code: "ENOTDIR",
          path: folder,
        });
      break;
    }
    missing.push(folder);
    if (dirname(folder) === folder) break;
  }
  for (const folder of missing.reverse()) {
    await mkdir(folder, { mode: options.mode }).catch(async (error: NodeJS.ErrnoException) => {
      // Made meanwhile by someone else: fine if it is a folder.
      if (
        error.code === "EEXIST" &&
        (await stat(folder).then(
          (s) => s.isDirectory(),
          () => false,
        ))
      )
        return;
      throw error;
    });
  }
  return missing[0];
}
