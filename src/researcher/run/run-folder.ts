import { randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { writeFileAtomic } from "../../common/atomic-write.js";
import { errorMessage, InputError, namingFile } from "../../common/errors.js";
import { makeDirs } from "../../common/make-dirs.js";

/**
 * `<out>/<name>/`: `history.jsonl` (one round event per line), `state.json` (the breakpoint after the
 * last complete round), `tensorboard/` (event files), `experiment.json`, `done.json` and `model/`
 * (the exported model). Files are replaced atomically, except the two that grow by a round at a time:
 * history.jsonl is a journal (appended and fsync'd before the breakpoint that counts its lines; see
 * breakpoint.ts) and the TensorBoard files are appended (a view of the history, rebuilt on resume).
 */
export interface RunFolder {
  dir: string;
  modelDir: string;
  /** The saved breakpoint, if any. */
  readState<T>(): Promise<T | undefined>;
  /**
   * Replaces state.json atomically; with `after`, only once that has succeeded (see writeFileAtomic).
   * `state` is a value, or its JSON text in pieces (`jsonPieces`).
   */
  writeState(state: unknown, options?: { after?: Promise<unknown> }): Promise<void>;
  /** Replaces history.jsonl with these lines (atomically). */
  writeHistory(lines: unknown[]): Promise<void>;
  /**
   * Appends the lines of `history` that history.jsonl does not hold yet (those after the lines this
   * folder wrote) and fsyncs it; returns how many. A crash may leave a torn last line (readHistory skips it).
   */
  appendHistory(history: unknown[]): Promise<number>;
  /** The lines of history.jsonl up to the first that is not complete JSON ([] without the file). */
  readHistory(): Promise<unknown[]>;
  /**
   * Writes the TensorBoard files (paths relative to the folder), each atomically. A side output: a
   * failure is one warning (`warn`) and the TensorBoard files stop there; this never throws.
   */
  writeFiles(files: Map<string, Uint8Array>): Promise<void>;
  /**
   * Appends to the TensorBoard files, a file that is new or empty getting `header` first. Not fsync'd;
   * never throws (see writeFiles). The files stay open for the next round's appends (see `close`).
   */
  appendFiles(files: Map<string, { header: Uint8Array; bytes: Uint8Array }>): Promise<void>;
  /** Closes the TensorBoard files kept open between rounds (the run's end, or its abort); a later append reopens them. */
  close(): Promise<void>;
  /** `experiment.json` (the experiment as run, defaults filled), `done.json` (the last event); unchanged content is not rewritten. */
  writeJson(name: string, value: unknown): Promise<void>;
  /** `node-keys.json`: node id → fingerprint of the key it signs with, bound at first sight. */
  readNodeKeys(): Promise<Record<string, string>>;
  /**
   * Replaces node-keys.json in the background (a failure is logged by the caller's next write). The
   * promise settles, never rejecting, once this map is on disk; the run need not wait for it.
   */
  writeNodeKeys(keys: Record<string, string>): Promise<void>;
}

export interface RunFolderOptions {
  /** Continue the run the folder holds. */
  resume: boolean;
  /**
   * Replace the run the folder holds. It stays untouched until this run has written its first breakpoint:
   * until then the new run writes into a hidden sibling folder, which then takes the old one's place
   * (two renames), so a run that fails before round 1 loses nothing and a crash leaves a run, never a mix.
   */
  overwrite?: boolean;
  /** Where a side output (the TensorBoard files) says it stopped after a write error. */
  warn?: (line: string) => void;
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
  await checkSideFolder(join(dir, TENSORBOARD), "the TensorBoard files");
  const replacing = exists && options.overwrite === true;
  if (replacing) await removeStaged(dir);
  let keysWritten: Promise<void> = Promise.resolve();
  const jsonWritten = new Map<string, string>();
  let historyLines = 0;
  // Replacing: everything goes to `staged` until the first breakpoint, then `staged` becomes `dir`.
  let base = replacing ? join(dirname(dir), `.${basename(dir)}${STAGED}${randomBytes(4).toString("hex")}`) : dir;
  let ready: Promise<void> | undefined;
  let swapped: Promise<void> | undefined;
  let writing = 0;
  let idle: (() => void) | undefined;
  // Created on the first write, so a run that fails before round 1 leaves nothing behind (and replaces nothing).
  const folders = new Map<string, Promise<unknown>>();
  const prepare = async (name: string) => {
    ready ??= mkdir(base, { recursive: true, mode: 0o700 }).then(() => undefined);
    await ready;
    const path = join(base, name);
    // Each folder is made once (a thousand nodes' TensorBoard folders are appended to every round).
    const folder = dirname(path);
    let made = folders.get(folder);
    if (!made) {
      made = mkdir(folder, { recursive: true, mode: 0o700 });
      folders.set(folder, made);
    }
    await made;
    return path;
  };
  /** Runs one write; while the staged folder takes the old one's place, writes wait. */
  const tracked = async (work: () => Promise<void>) => {
    await swapped;
    writing++;
    try {
      await work();
    } finally {
      writing--;
      if (writing === 0) idle?.();
    }
  };
  const takePlace = async () => {
    if (writing > 0) await new Promise<void>((resolve) => (idle = resolve));
    idle = undefined;
    const aside = join(dirname(dir), `.${basename(dir)}.replaced-${randomBytes(4).toString("hex")}`);
    await rename(dir, aside);
    await rename(base, dir);
    base = dir;
    folders.clear();
    await rm(aside, { recursive: true, force: true });
  };
  const started = new Set<string>(); // appended-to files known to hold their header
  let sideFailed = false;
  /** A side output's write: the first failure is one warning, and later side writes are skipped. */
  const side = async (work: () => Promise<void>) => {
    if (sideFailed) return;
    try {
      await work();
    } catch (error) {
      if (sideFailed) return;
      sideFailed = true;
      options.warn?.(
        `Warning: stopped writing the TensorBoard files in ${join(dir, TENSORBOARD)}: ${errorMessage(error)}; ` +
          "the run goes on (history.jsonl holds every round)",
      );
    }
  };
  /**
   * TensorBoard files kept open from one round's append to the next: at a thousand nodes, opening,
   * appending to and closing every node's file each round was ~5% of the researcher's CPU (a profile
   * of `npm run bench -- scale`). About KEPT_OPEN_MAX of them (file descriptors beside each node's
   * socket; the cap is checked per batch of APPENDS_AT_ONCE); the others are opened for each append.
   */
  const kept = new Map<string, Promise<FileHandle>>();
  const keep = (name: string, header: Uint8Array) => {
    const opened = (async () => {
      const path = await prepare(name);
      const file = await open(path, "a", 0o600);
      try {
        if ((await file.stat()).size === 0) await writeAll(file, header).catch(namingFile(path));
        started.add(name);
        return file;
      } catch (error) {
        await file.close();
        throw error;
      }
    })();
    kept.set(name, opened);
    // A file that could not be opened is not kept (the failure reaches the append, see `side`).
    opened.catch(() => kept.delete(name));
    return opened;
  };
  const appendKept = (name: string, bytes: Uint8Array, header: Uint8Array) =>
    tracked(async () => {
      const file = await (kept.get(name) ?? keep(name, header));
      await writeAll(file, bytes).catch(namingFile(join(base, name)));
    });
  /** Closes the kept-open file `name` (before it is replaced whole), or all of them. */
  const closeKept = async (name?: string) => {
    const names = name === undefined ? [...kept.keys()] : [name];
    await Promise.all(
      names.map(async (n) => {
        const file = kept.get(n);
        kept.delete(n);
        await file?.then((f) => f.close()).catch(() => undefined);
      }),
    );
  };
  const write = (name: string, content: string | Uint8Array | Iterable<string>, after?: Promise<unknown>) =>
    tracked(async () => writeFileAtomic(await prepare(name), content, { renameAfter: after }));
  const append = (name: string, bytes: string | Uint8Array, options: { header?: Uint8Array; sync: boolean }) =>
    tracked(() => appendNow(name, bytes, options));
  const appendNow = async (
    name: string,
    bytes: string | Uint8Array,
    options: { header?: Uint8Array; sync: boolean },
  ) => {
    const path = await prepare(name);
    const file = await open(path, "a", 0o600);
    try {
      if (options.header && !started.has(name)) {
        if ((await file.stat()).size === 0) await file.appendFile(options.header).catch(namingFile(path));
        started.add(name);
      }
      await file.appendFile(bytes).catch(namingFile(path));
      if (options.sync) await file.datasync().catch(namingFile(path));
    } finally {
      await file.close();
    }
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
    async writeState(state, options) {
      await write("state.json", isJsonPieces(state) ? state[PIECES] : JSON.stringify(state), options?.after);
      if (replacing) swapped ??= takePlace();
      await swapped;
    },
    async writeHistory(lines) {
      await write("history.jsonl", jsonLines(lines));
      historyLines = lines.length;
    },
    async appendHistory(history) {
      const added = history.slice(historyLines);
      if (added.length > 0) await append("history.jsonl", jsonLines(added), { sync: true });
      historyLines = history.length;
      return added.length;
    },
    async readHistory() {
      if (replacing) return [];
      const text = await readFile(join(dir, "history.jsonl"), "utf8").catch(() => "");
      const lines: unknown[] = [];
      for (const line of text.split("\n").slice(0, -1)) {
        try {
          lines.push(JSON.parse(line));
        } catch {
          break; // a line torn by a crash, and anything after it
        }
      }
      return lines;
    },
    writeFiles: (files) =>
      side(async () => {
        for (const [name, content] of files) {
          await closeKept(name);
          await write(name, content);
        }
      }),
    appendFiles: (files) =>
      side(async () => {
        // A few at a time: one file per node at thousands of nodes would otherwise open them all at once.
        const entries = [...files];
        for (let i = 0; i < entries.length; i += APPENDS_AT_ONCE) {
          await Promise.all(
            entries
              .slice(i, i + APPENDS_AT_ONCE)
              .map(([name, { header, bytes }]) =>
                kept.has(name) || kept.size < KEPT_OPEN_MAX
                  ? appendKept(name, bytes, header)
                  : append(name, bytes, { header, sync: false }),
              ),
          );
        }
      }),
    close: () => closeKept(),
    async writeJson(name, value) {
      const text = `${JSON.stringify(value, null, 2)}\n`;
      if (jsonWritten.get(name) === text) return;
      await write(name, text);
      jsonWritten.set(name, text);
    },
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
      return keysWritten;
    },
  };
}

/** The TensorBoard folder inside a run folder (tensorboard.ts names the files in it). */
const TENSORBOARD = "tensorboard";

/** A side output's folder, checked before anyone is served: what stands at `path` must be a folder, if anything. */
async function checkSideFolder(path: string, what: string): Promise<void> {
  const found = await stat(path).catch(() => undefined);
  if (found && !found.isDirectory())
    throw new InputError(
      `Cannot write ${what} in ${path}: a file stands in the way; fix: move it, or choose another --out (or experiment name)`,
    );
}

/** Files appended to at once by `appendFiles`. */
const APPENDS_AT_ONCE = 64;

/** TensorBoard files kept open between rounds, at most (see `kept` in openRunFolder). */
const KEPT_OPEN_MAX = 2048;

/** Writes all of `bytes` at the file's end (it is opened for appending). */
async function writeAll(file: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.byteLength; ) at += (await file.write(bytes, at)).bytesWritten;
}

function jsonLines(lines: unknown[]): string {
  return lines.map((line) => `${JSON.stringify(line)}\n`).join("");
}

/** The infix of a replacing run's folder until its first breakpoint (`.<name>.staged-<hex>`). */
const STAGED = ".staged-";

/** Removes what replacing runs of this folder left staged when they failed before their first breakpoint. */
async function removeStaged(dir: string): Promise<void> {
  const prefix = `.${basename(dir)}${STAGED}`;
  const names = await readdir(dirname(dir)).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.startsWith(prefix)))
    await rm(join(dirname(dir), name), { recursive: true, force: true });
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
    created = await makeDirs(dir);
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
            : code === "ENOENT"
              ? "folders cannot be made there"
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

const PIECES = Symbol("JSON text in pieces");

/** A value's JSON text given in pieces (params-json.ts's jsonWithParams), for writeState. */
export interface JsonPieces {
  readonly [PIECES]: Iterable<string>;
}

/** Marks `pieces` as JSON text for writeState (a state value of its own is serialized whole). */
export function jsonPieces(pieces: Iterable<string>): JsonPieces {
  return { [PIECES]: pieces };
}

function isJsonPieces(value: unknown): value is JsonPieces {
  return typeof value === "object" && value !== null && PIECES in value;
}
