import { readFile } from "node:fs/promises";
import { fingerprintOfPem, generateKeyPair } from "../../common/certificates.js";
import { InputError } from "../../common/errors.js";
import { keyPairPaths, writeKeyPair } from "../../common/key-files.js";

/**
 * The node's own key pair, made at `init`: `node.key` (0600, never leaves the home) and `node.crt`,
 * a self-signed certificate the node presents to the researcher (mutual TLS). The researcher allows
 * the node by the certificate's fingerprint.
 */

export interface NodeIdentity {
  cert: string;
  key: string;
  fingerprint: string;
  certPath: string;
}

/** `node.crt` and `node.key` in the home. */
export function identityPaths(dir: string): { cert: string; key: string } {
  return keyPairPaths(dir, "node");
}

/** Generates and writes the node's key pair; refuses to replace an existing one. */
export async function createNodeIdentity(dir: string, nodeId: string): Promise<NodeIdentity> {
  const pair = await generateKeyPair({ commonName: `fbm node ${nodeId}` });
  const paths = await writeKeyPair(dir, "node", pair);
  return { cert: pair.cert, key: pair.key, fingerprint: pair.fingerprint, certPath: paths.cert };
}

/** The node's key pair, or undefined when the home has none (made before certificates existed). */
export async function readNodeIdentity(dir: string): Promise<NodeIdentity | undefined> {
  const paths = identityPaths(dir);
  const [cert, key] = await Promise.all([
    readFile(paths.cert, "utf8").catch(() => undefined),
    readFile(paths.key, "utf8").catch(() => undefined),
  ]);
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    throw new InputError(
      `The node's key pair in ${dir} is incomplete (${cert === undefined ? paths.cert : paths.key} is missing): restore it from a backup`,
    );
  }
  return { cert, key, fingerprint: fingerprintOfPem(cert, paths.cert), certPath: paths.cert };
}

/** The node's key pair, created first if the home has none; `created` says which. */
export async function ensureNodeIdentity(
  dir: string,
  nodeId: string,
): Promise<{ identity: NodeIdentity; created: boolean }> {
  const existing = await readNodeIdentity(dir);
  if (existing) return { identity: existing, created: false };
  return { identity: await createNodeIdentity(dir, nodeId), created: true };
}
