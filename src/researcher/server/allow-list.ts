import { readFileSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../../common/atomic-write.js";
import { parseFingerprint } from "../../common/certificates.js";
import { errorMessage, InputError } from "../../common/errors.js";
import { parseOrThrow } from "../../common/validation.js";

/**
 * The nodes a TLS researcher accepts, by certificate fingerprint: a JSON file edited with
 * `fbm-researcher node allow`. An entry may name the node id its certificate is bound to.
 */

/** Where `node allow`, `run --cert` and `datasets --cert` look unless given `--allow-list`. */
export const DEFAULT_ALLOW_LIST = "fbm-researcher/allowed-nodes.json";

export interface AllowEntry {
  fingerprint: string;
  name?: string;
  node_id?: string;
  added_at: string;
}

const entrySchema = z.strictObject({
  fingerprint: z.string().transform((value, ctx) => {
    try {
      return parseFingerprint(value);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: errorMessage(error) });
      return z.NEVER;
    }
  }),
  name: z.string().optional(),
  node_id: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,128}$/)
    .optional(),
  added_at: z.string(),
});
const fileSchema = z.strictObject({ nodes: z.array(entrySchema) });

/** Reads the allow-list; a missing file is an empty list when `missingOk`, else an InputError saying how to make one. */
export function readAllowList(path: string, options: { missingOk?: boolean } = {}): AllowEntry[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      if (options.missingOk) return [];
      throw new InputError(
        `No allow-list at ${path}: allow each node first with \`fbm-researcher node allow FINGERPRINT --allow-list ${path}\``,
      );
    }
    throw new InputError(`Cannot read allow-list ${path}: ${errorMessage(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InputError(`Allow-list ${path} is not valid JSON (${errorMessage(error)})`);
  }
  return parseOrThrow(fileSchema, json, `Invalid allow-list ${path}`).nodes;
}

/** Adds one node's entry, or updates it (keeping a name or node id not given again); creates the file. */
export async function allowNode(
  path: string,
  entry: Omit<AllowEntry, "added_at">,
): Promise<{ entry: AllowEntry; replaced: boolean }> {
  const fingerprint = parseFingerprint(entry.fingerprint);
  const entries = readAllowList(path, { missingOk: true });
  const previous = entries.find((e) => e.fingerprint === fingerprint);
  const name = entry.name ?? previous?.name;
  const nodeId = entry.node_id ?? previous?.node_id;
  if (nodeId !== undefined && !/^[A-Za-z0-9_.-]{1,128}$/.test(nodeId))
    throw new InputError(`Invalid node id "${nodeId}"`);
  const clash = nodeId && entries.find((e) => e.node_id === nodeId && e.fingerprint !== fingerprint);
  if (clash) {
    throw new InputError(
      `Node id ${nodeId} is already bound to ${clash.fingerprint}${clash.name ? ` (${clash.name})` : ""} in ${path}`,
    );
  }
  const added: AllowEntry = {
    fingerprint,
    ...(name ? { name } : {}),
    ...(nodeId ? { node_id: nodeId } : {}),
    added_at: new Date().toISOString(),
  };
  const replaced = previous !== undefined;
  const next = [...entries.filter((e) => e.fingerprint !== fingerprint), added];
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify({ nodes: next }, null, 2)}\n`);
  return { entry: added, replaced };
}

/** A live view of the allow-list file: lookups re-read it after it changed, so nodes can be allowed while serving. */
export interface AllowList {
  path: string;
  lookup(fingerprint: string): AllowEntry | undefined;
  entries(): AllowEntry[];
}

/** Opens the allow-list (it must exist: a TLS researcher with no list would refuse every node). */
export function openAllowList(path: string): AllowList {
  let entries = readAllowList(path);
  let mtime = statSync(path).mtimeMs;
  const reload = () => {
    const now = statSync(path, { throwIfNoEntry: false })?.mtimeMs;
    if (now === undefined || now === mtime) return;
    try {
      entries = readAllowList(path);
      mtime = now;
    } catch {
      // A half-edited or broken file keeps the last good list.
    }
  };
  return {
    path,
    lookup(fingerprint) {
      let found = entries.find((e) => e.fingerprint === fingerprint);
      if (!found) {
        reload();
        found = entries.find((e) => e.fingerprint === fingerprint);
      }
      return found;
    },
    entries: () => [...entries],
  };
}
