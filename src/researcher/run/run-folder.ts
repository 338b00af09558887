import { mkdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../../common/atomic-write.js";
import { InputError } from "../../common/errors.js";

/**
 * `<out>/<name>/`: `history.jsonl` (one round event per line), `state.json` (the breakpoint after the
 * last complete round) and `model/` (the exported model). Every file is replaced atomically.
 */
export interface RunFolder {
  dir: string;
  modelDir: string;
  /** The saved breakpoint, if any. */
  readState<T>(): Promise<T | undefined>;
  writeState(state: unknown): Promise<void>;
  writeHistory(lines: unknown[]): Promise<void>;
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
  // Created on the first write, so a run that fails before round 1 leaves nothing behind.
  const write = async (name: string, content: string) => {
    await mkdir(dir, { recursive: true });
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
  };
}
