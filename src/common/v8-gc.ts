import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** V8's collector on demand: a full (mark-compact) collection by default, `{ type: "minor" }` for the young generation. */
export type Collect = (options?: { type: "minor" | "major" }) => void;

let collect: Collect | undefined;

/**
 * V8's `gc` without `--expose-gc` on the command line, which the single executables and `npx` cannot
 * pass: the flag set at run time exposes `gc` to contexts made afterwards (not to this one's global
 * object, so nothing else in the process sees it). One function for the process, made on first use.
 */
export function v8Collect(): Collect {
  if (!collect) {
    setFlagsFromString("--expose-gc");
    collect = runInNewContext("gc") as Collect;
  }
  return collect;
}
