import { unwatchFile, watchFile } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Content, Store } from "tinybase";
import { createCustomPersister, type Persister } from "tinybase/persisters";
import { writeFileAtomic } from "../common/atomic-write.js";
import { errorMessage, InputError, RuntimeFailure } from "../common/errors.js";

/** A TinyBase store saved to one JSON file, where load and save throw instead of failing silently. */
export interface JsonFilePersister {
  /** Replaces the store's content with the file's; a missing or empty file leaves the store empty. */
  load(): Promise<void>;
  /** Writes the whole store atomically (temp file, fsync, rename). */
  save(): Promise<void>;
  /** Reloads whenever the file changes on disk (another process saved); does not keep the process alive. */
  startAutoLoad(): Promise<void>;
  destroy(): Promise<void>;
  readonly persister: Persister;
}

/**
 * TinyBase's own file persister renames a temp file but never fsyncs, and both it and the generic
 * persister swallow errors; this one is durable and reports failures. `what` names the file in errors.
 */
export function createJsonFilePersister(store: Store, path: string, what: string): JsonFilePersister {
  let failure: unknown;
  const persister = createCustomPersister(
    store,
    async () => readContent(path, what),
    async (getContent) => writeFileAtomic(path, `${JSON.stringify(getContent(), null, 2)}\n`),
    (listener) => {
      const onChange = () => listener();
      watchFile(path, { interval: 200, persistent: false }, onChange);
      return onChange;
    },
    (onChange: () => void) => unwatchFile(path, onChange),
    (error) => {
      failure = error;
    },
  );
  const run = async (action: () => Promise<unknown>, verb: string) => {
    failure = undefined;
    await action();
    if (failure === undefined) return;
    if (failure instanceof InputError) throw failure;
    throw new RuntimeFailure(`Cannot ${verb} ${what} "${path}": ${errorMessage(failure)}`, { cause: failure });
  };
  return {
    load: () => run(() => persister.load(), "read"),
    save: () => run(() => persister.save(), "save"),
    startAutoLoad: () => run(() => persister.startAutoLoad(), "read"),
    destroy: async () => {
      await persister.destroy();
    },
    persister,
  };
}

async function readContent(path: string, what: string): Promise<Content | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  if (text.trim() === "") return undefined;
  let content: unknown;
  try {
    content = JSON.parse(text);
  } catch (error) {
    throw new InputError(
      `The ${what} "${path}" is not valid JSON (${errorMessage(error)}); restore it from a backup or remove it`,
    );
  }
  const isObject = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (!Array.isArray(content) || content.length !== 2 || !isObject(content[0]) || !isObject(content[1])) {
    throw new InputError(
      `The ${what} "${path}" is not a TinyBase [tables, values] file; restore it from a backup or remove it`,
    );
  }
  return content as Content;
}
