import { chmod, mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-write.js";
import type { KeyPair } from "./certificates.js";
import { errorMessage, InputError } from "./errors.js";

/** Where a key pair named `base` lives in `dir`: `<base>.crt` (shareable) and `<base>.key` (secret). */
export function keyPairPaths(dir: string, base: string): { cert: string; key: string } {
  return { cert: join(dir, `${base}.crt`), key: join(dir, `${base}.key`) };
}

/**
 * Writes a key pair: the key readable by its owner only (0600), the certificate world-readable, in a
 * folder created 0700 when missing (an existing folder keeps its mode: it may be the working folder).
 * Refuses to replace existing files unless `force`: a new key changes the fingerprint peers pinned.
 */
export async function writeKeyPair(
  dir: string,
  base: string,
  pair: KeyPair,
  options: { force?: boolean } = {},
): Promise<{ cert: string; key: string }> {
  const paths = keyPairPaths(dir, base);
  if (!options.force) {
    for (const file of [paths.cert, paths.key]) {
      if (await stat(file).catch(() => undefined)) {
        throw new InputError(
          `${file} already exists: peers pinned its fingerprint; pass --force to replace it (they must pin the new one)`,
        );
      }
    }
  }
  // A folder made here is 0700 whatever the umask (mode bits are only ever removed by it).
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(paths.key, pair.key);
  await chmod(paths.key, 0o600);
  await writeFileAtomic(paths.cert, pair.cert);
  await chmod(paths.cert, 0o644);
  return paths;
}

/** Reads a PEM file, with an InputError naming `what` and the path when it is missing or not PEM. */
export async function readPem(path: string, what: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(`Cannot read ${what} ${path}: ${code === "ENOENT" ? "no such file" : errorMessage(error)}`);
  }
  if (!text.includes("-----BEGIN ")) throw new InputError(`Cannot read ${what} ${path}: it is not a PEM file`);
  return text;
}
