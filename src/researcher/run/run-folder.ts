import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, rmdir, stat, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { writeFileAtomic } from "../../common/atomic-write.js";
import { errorMessage, InputError } from "../../common/errors.js";

/**
 * `<out>/<name>/`: `history.jsonl` (one round event per line), `state.json` (the breakpoint after the
 * last complete round), `tensorboard/` (event files), `experiment.json`, `done.json` and `model/`
 * (the exported model). Every file is
 * replaced atomically.
 */
export interface RunFolder {
  dir: string;
  modelDir: string;
  /** The saved breakpoint, if any. */
  readState<T>(): Promise<T | undefined>;
  writeState(state: unknown): Promise<void>;
  writeHistory(lines: unknown[]): Promise<void>;
  /** Writes files at paths relative to the folder (e.g. TensorBoard logs), each atomically. */
  writeFiles(files: Map<string, Uint8Array>): Promise<void>;
  /** `experiment.json` (the experiment as run, defaults filled), `done.json` (the last event). */
  writeJson(name: string, value: unknown): Promise<void>;
  /** `node-keys.json`: node id → fingerprint of the key it signs with, bound at first sight. */
  readNodeKeys(): Promise<Record<string, string>>;
  /** Replaces node-keys.json (in the background: a failure is logged by the caller's next write). */
  writeNodeKeys(keys: Record<string, string>): void;
}

export interface RunFolderOptions {
  /** Continue the run the folder holds. */
  resume: boolean;
  /**
   * Replace the run the folder holds. It stays untouched until this run writes its first file; then the
   * old folder is renamed aside (atomic) and deleted, so a crash leaves the old run or the new one, never a mix.
   */
  overwrite?: boolean;
}

export async function openRunFolder(outDir: string, name: string, options: RunFolderOptions): Promise<RunFolder> {
  const dir = resolve(outDir, name);
  const statePath = join(dir, "state.json");
  if (options.resume && options.overwrite)
    throw new InputError("Cannot both --resume and --overwrite a run folder: choose one");
  const exists = await stat(statePath).then(
    () => true,
    () => false,
  );
  if (exists && !options.resume && !options.overwrite) {
    throw new InputError(
      `Run folder ${dir} already holds a run: pass --resume to continue it, --overwrite to replace it, or choose another --out or name`,
    );
  }
  await checkWritable(dir);
  const replacing = exists && options.overwrite === true;
  let keysWritten: Promise<void> = Promise.resolve();
  let ready: Promise<void> | undefined;
  // Created on the first write, so a run that fails before round 1 leaves nothing behind (and replaces nothing).
  const write = async (name: string, content: string | Uint8Array) => {
    ready ??= replacing ? moveAside(dir) : mkdir(dir, { recursive: true }).then(() => undefined);
    await ready;
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFileAtomic(join(dir, name), content);
  };
  return {
    dir,
    modelDir: join(dir, "model"),
    async readState<T>() {
      if (replacing) return undefined;
      const text = await readFile(statePath, "utf8").catch(() => undefined);
      if (text === undefined) return undefined;
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new InputError(`Cannot resume: ${statePath} is not valid JSON`);
      }
    },
    writeState: (state) => write("state.json", JSON.stringify(state)),
    writeHistory: (lines) => write("history.jsonl", lines.map((l) => `${JSON.stringify(l)}\n`).join("")),
    async writeFiles(files) {
      for (const [name, content] of files) await write(name, content);
    },
    writeJson: (name, value) => write(name, `${JSON.stringify(value, null, 2)}\n`),
    async readNodeKeys() {
      if (replacing) return {}; // a replaced run's bindings go with it
      const text = await readFile(join(dir, "node-keys.json"), "utf8").catch(() => undefined);
      if (text === undefined) return {};
      try {
        return JSON.parse(text) as Record<string, string>;
      } catch {
        throw new InputError(
          `Cannot read ${join(dir, "node-keys.json")}: it is not valid JSON; fix: restore it (it binds node ids to their keys)`,
        );
      }
    },
    writeNodeKeys(keys) {
      // Serialized, so an older map never lands after a newer one.
      keysWritten = keysWritten
        .then(() => write("node-keys.json", `${JSON.stringify(keys, null, 2)}\n`))
        .catch(() => undefined);
    },
  };
}

/** Renames the old run folder to a hidden sibling, creates `dir` empty, then deletes the old one. */
async function moveAside(dir: string): Promise<void> {
  const aside = join(dirname(dir), `.${basename(dir)}.replaced-${randomBytes(4).toString("hex")}`);
  await rename(dir, aside);
  await mkdir(dir, { recursive: true });
  await rm(aside, { recursive: true, force: true });
}

/**
 * Proves before any node is asked anything that the run folder can be created and written (an
 * unwritable or too long --out would otherwise fail after round 1 was trained), then removes the
 * folders the probe created.
 */
async function checkWritable(dir: string): Promise<void> {
  const probe = join(dir, ".fbm-write-test");
  let created: string | undefined;
  try {
    created = await mkdir(dir, { recursive: true });
    await writeFileAtomic(probe, "");
    await unlink(probe);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "EACCES" || code === "EPERM" || code === "EROFS"
        ? "permission denied"
        : code === "ENAMETOOLONG"
          ? "the path is too long"
          : code === "ENOTDIR" || code === "EEXIST"
            ? "a file stands in the way"
            : errorMessage(error);
    throw new InputError(`Cannot write the run folder ${dir}: ${why}; fix: choose another --out (or experiment name)`, {
      cause: error,
    });
  }
  if (created === undefined) return;
  for (let folder = dir; folder.length >= created.length; folder = dirname(folder)) {
    if (
      !(await rmdir(folder).then(
        () => true,
        () => false,
      ))
    )
      break;
  }
}
