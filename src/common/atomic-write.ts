import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { namingFile } from "./errors.js";

/**
 * Replaces `path` with `content` atomically: writes a temp file in the same folder, fsyncs it, renames
 * it over the target, then fsyncs the folder. Readers see the old file or the new one, never a mix;
 * a crash leaves at most a stray `.<name>.<hex>.tmp` file, never a truncated target. With `renameAfter`
 * the rename waits for that promise (and does not happen if it rejects). `content` may come in pieces
 * (an iterable, pulled one piece at a time), so a large text need never be one string.
 */
export async function writeFileAtomic(
  path: string,
  content: string | Uint8Array | Iterable<string | Uint8Array>,
  options: { renameAfter?: Promise<unknown> } = {},
): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  let renamed = false;
  try {
    const file = await open(temp, "wx", 0o600).catch(namingFile(path));
    try {
      // A file handle's writeFile writes from where the last one stopped: pieces follow each other.
      const pieces = typeof content === "string" || content instanceof Uint8Array ? [content] : content;
      for (const piece of pieces) await file.writeFile(piece).catch(namingFile(path));
      await file.sync().catch(namingFile(path));
    } finally {
      await file.close();
    }
    // Something that must be durable first (a journal the new file points into): written meanwhile,
    // awaited only here, so the two fsyncs overlap; if it fails, the old file stays.
    await options.renameAfter;
    await rename(temp, path);
    renamed = true;
    await syncFolder(dir);
  } finally {
    if (!renamed) await unlink(temp).catch(() => {});
  }
}

/** Makes the rename durable; some platforms (Windows) cannot open folders, which is fine there. */
async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, "r").catch(() => undefined);
  if (handle === undefined) return;
  try {
    await handle.sync().catch(() => {});
  } finally {
    await handle.close();
  }
}
