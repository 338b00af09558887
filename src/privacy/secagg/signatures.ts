import { createHash, createPrivateKey, type KeyObject, sign, verify, X509Certificate } from "node:crypto";
import { fingerprintOfDer } from "../../common/certificates.js";
import type { PublicKeys } from "./messages.js";

/**
 * The signatures of Bonawitz et al.'s actively secure variant (CCS 2017, §4, Figure 4, "malicious"): each
 * node signs its advertised keys with its long-term identity key (SIG.sign(d_u^SK, c_u^PK ‖ s_u^PK)), and in
 * ConsistencyCheck it signs the survivor set U3 it was shown; a node checks its peers' signatures before it
 * shares keys or reveals shares. The identity key is the node's ECDSA P-256 key (node.key / node.crt, the
 * same certificate its researcher pins); how a node decides to trust a peer's certificate is in src/node/privacy/secagg-peers.ts.
 * Each statement names its purpose, the session and the signer, so no signature serves another message.
 */

/** What a node signs in AdvertiseKeys: its two X25519 public keys for this session. */
export function keysStatement(session: string, nodeId: string, keys: PublicKeys): Buffer {
  return statement("fbm-secagg-keys-v1", session, nodeId, hex(keys.cipherKey), hex(keys.maskKey));
}

/**
 * What a node signs in ConsistencyCheck: the survivor set U3 it was shown (sorted), and the digest of
 * the global model it trained on, so that nodes also notice when they were sent different models
 * (the model inconsistency attack of Pasquini et al., CCS 2022).
 */
export function consistencyStatement(session: string, survivors: readonly string[], modelDigest: string): Buffer {
  return statement("fbm-secagg-consistency-v1", session, [...survivors].sort().join(","), modelDigest);
}

/** A node's identity key: its PEM certificate and PKCS#8 private key. */
export interface IdentityKey {
  certPem: string;
  keyPem: string;
}

/** A signer over a node's identity key; `identity` is the certificate (DER) that checks its signatures. */
export function createSigner(key: IdentityKey): { identity: Uint8Array; sign(text: Buffer): Uint8Array } {
  const privateKey: KeyObject = createPrivateKey(key.keyPem);
  const identity = Uint8Array.from(new X509Certificate(key.certPem).raw);
  return { identity, sign: (text) => Uint8Array.from(sign("sha256", text, privateKey)) };
}

/** Whether `signature` over `text` verifies under the certificate `identity` (DER); false when it cannot be read. */
export function verifiesUnder(identity: Uint8Array, text: Buffer, signature: Uint8Array): boolean {
  try {
    return verify("sha256", text, new X509Certificate(Buffer.from(identity)).publicKey, signature);
  } catch {
    return false;
  }
}

/** The fingerprint a certificate is pinned by (`sha256:…`, as `fbm-node identity` prints it). */
export const identityFingerprint = (identity: Uint8Array): string => fingerprintOfDer(identity);

/** SHA-256 of a list of tensors' bytes, in order: what "the same global model" means. */
export function modelDigest(tensors: readonly { data: ArrayBufferView }[]): string {
  const hash = createHash("sha256");
  for (const t of tensors) hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return hash.digest("hex");
}

const statement = (...parts: string[]) => Buffer.from(parts.join("\n"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
