import { unwatchFile, watchFile } from "node:fs";
import { readFile } from "node:fs/promises";
import lockfile from "proper-lockfile";
import type { Content, Store } from "tinybase";
import type { z } from "zod";
import { writeFileAtomic } from "../../common/atomic-write.js";
import { errorMessage, InputError, RuntimeFailure } from "../../common/errors.js";
import { formatIssue } from "../../common/validation.js";

/** A TinyBase store kept in one JSON file (`[tables, values]`), with a mirror `<file>.bak` and a lock. */
export interface JsonFilePersister {
  /** Replaces the store's content with the file's after validating it; a missing file is empty. */
  load(): Promise<void>;
  /**
   * Read-modify-write under the file's exclusive lock: reloads, runs `change` on the store, then writes
   * the file and its backup (when `change` changed anything). If `change` or the write throws, the store is put back as the file has it.
   */
  update<T>(change: () => T | Promise<T>): Promise<T>;
  /** Reloads whenever the file changes on disk; a damaged file is reported to `onError`, the store kept. */
  startAutoLoad(onError: (message: string) => void): void;
  destroy(): Promise<void>;
  /** The backup file written beside the file on every save. */
  readonly backupPath: string;
}

export interface JsonFileOptions {
  /** Names the file in errors: "catalogue", "plan registry". */
  what: string;
  /** The one table the file holds, and the schema each of its rows must satisfy. */
  table: string;
  rowSchema: z.ZodType;
}

/**
 * Stale lock age: proper-lockfile refreshes a held lock's mtime every `stale / 2` ms, so a lock older
 * than this belongs to a crashed process and is taken over.
 */
const STALE_MS = 10_000;
/** Waiting for the lock: up to ~60 s of retries (20 concurrent `dataset add` on a busy machine fit). */
const RETRIES = { retries: 400, minTimeout: 20, maxTimeout: 150, factor: 1.3, randomize: true };

/**
 * The file is trusted only if it parses, has the `[tables, values]` shape and every row passes
 * `rowSchema` (TinyBase would silently reset a wrong cell to its default). An empty, damaged or missing
 * file while the backup holds rows — or a file with no rows while the backup has some — is an error
 * naming both files, never an empty store that the next save would make permanent.
 */
export function createJsonFilePersister(store: Store, path: string, options: JsonFileOptions): JsonFilePersister {
  const backupPath = `${path}.bak`;
  const { what } = options;
  let listener: (() => void) | undefined;

  const load = async () => {
    const main = await readChecked(path, options);
    const rows = (content: Content | undefined) => Object.keys(content?.[0]?.[options.table] ?? {}).length;
    if (main.ok && rows(main.content) > 0) return setContent(store, main.content);
    const backup = await readChecked(backupPath, options).catch(() => ({ ok: false as const, reason: "" }));
    const backupRows = backup.ok ? rows(backup.content) : 0;
    if (main.ok && backupRows === 0) return setContent(store, main.content);
    const problem = main.ok ? (main.content === undefined ? "is missing" : "has no entries") : main.reason;
    const fix =
      backupRows > 0
        ? `its backup "${backupPath}" has ${backupRows}; fix: check the backup, then \`cp ${backupPath} ${path}\``
        : `no usable backup at "${backupPath}"; fix: restore the file from your own backups, or remove it to start empty`;
    throw new InputError(`Cannot read ${what} "${path}": it ${problem}; ${fix}`);
  };

  // A writer replaces the backup then the file; a reader in between may see them disagree, so a
  // disagreement is judged again under the lock, when no write is half done.
  const loadConsistent = async () => {
    try {
      await load();
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      const release = await lock(path, what);
      try {
        await load();
      } finally {
        await release().catch(() => {});
      }
    }
  };

  const save = async () => {
    const text = `${JSON.stringify(store.getContent(), null, 2)}\n`;
    // Backup first: a reader between the two writes sees the old file beside a newer backup, which
    // `load` accepts, never an emptied file beside a backup that still has rows.
    await writeFileAtomic(backupPath, text);
    await writeFileAtomic(path, text);
  };

  return {
    backupPath,
    load: loadConsistent,
    async update(change) {
      const release = await lock(path, what);
      try {
        await load();
        const before = JSON.stringify(store.getContent());
        try {
          const result = await change();
          if (JSON.stringify(store.getContent()) !== before) await save();
          return result;
        } catch (error) {
          await load().catch(() => {});
          throw error;
        }
      } finally {
        await release().catch(() => {});
      }
    },
    startAutoLoad(onError) {
      if (listener) return;
      listener = () => {
        loadConsistent().catch((error: unknown) => onError(errorMessage(error)));
      };
      watchFile(path, { interval: 200, persistent: false }, listener);
    },
    async destroy() {
      if (listener) unwatchFile(path, listener);
      listener = undefined;
    },
  };
}

type Checked = { ok: true; content: Content | undefined } | { ok: false; reason: string };

/** Reads and validates one file; `content` undefined means the file does not exist. */
async function readChecked(path: string, options: JsonFileOptions): Promise<Checked> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { ok: true, content: undefined };
    throw new RuntimeFailure(
      `Cannot read ${options.what} "${path}": ${errorMessage(error)}; fix: check its permissions`,
    );
  }
  if (text.trim() === "") return { ok: false, reason: "is empty" };
  let content: unknown;
  try {
    content = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `is not valid JSON (${errorMessage(error)})` };
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === "object" && !Array.isArray(v);
  if (!Array.isArray(content) || content.length !== 2 || !isObject(content[0]) || !isObject(content[1])) {
    return { ok: false, reason: "is not a TinyBase [tables, values] file" };
  }
  const tables = content[0];
  for (const name of Object.keys(tables)) {
    if (name !== options.table) return { ok: false, reason: `has an unknown table "${name}"` };
  }
  const table = tables[options.table] ?? {};
  if (!isObject(table)) return { ok: false, reason: `has a "${options.table}" table that is not an object` };
  for (const [id, row] of Object.entries(table)) {
    const result = options.rowSchema.safeParse(row);
    if (!result.success)
      return { ok: false, reason: `has a damaged entry ${id} (${formatIssue(result.error.issues[0])})` };
  }
  return { ok: true, content: content as Content };
}

function setContent(store: Store, content: Content | undefined): void {
  store.transaction(() => {
    if (content === undefined) store.delTables().delValues();
    else store.setContent(content);
  });
}

/** Takes the exclusive lock `<path>.lock` (a folder, so it works on network file systems too). */
async function lock(path: string, what: string): Promise<() => Promise<void>> {
  try {
    return await lockfile.lock(path, {
      realpath: false,
      stale: STALE_MS,
      retries: RETRIES,
      // A lock we held was taken over (the process was frozen longer than STALE_MS): the write that
      // follows may race another, so say so rather than crash from a timer.
      onCompromised: (error) => process.emitWarning(`Lock on ${what} "${path}" was lost: ${error.message}`),
    });
  } catch (error) {
    throw new RuntimeFailure(
      `Cannot lock ${what} "${path}": ${errorMessage(error)}; fix: wait for the other fbm-node command to finish ` +
        `(a lock left by a crashed process expires after ${STALE_MS / 1000} s)`,
      { cause: error },
    );
  }
}
