import { mkdir, readFile, rmdir, stat, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
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

export async function openRunFolder(outDir: string, name: string, options: { resume: boolean }): Promise<RunFolder> {
  const dir = resolve(outDir, name);
  const statePath = join(dir, "state.json");
  const exists = await stat(statePath).then(
    () => true,
    () => false,
  );
  if (exists && !options.resume) {
    throw new InputError(
      `Run folder ${dir} already holds a run: pass --resume to continue it, or choose another --out or name`,
    );
  }
  await checkWritable(dir);
  let keysWritten: Promise<void> = Promise.resolve();
  // Created on the first write, so a run that fails before round 1 leaves nothing behind.
  const write = async (name: string, content: string | Uint8Array) => {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFileAtomic(join(dir, name), content);
  };
  return {
    dir,
    modelDir: join(dir, "model"),
    async readState<T>() {
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
