import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/**
 * AE.enc / AE.dec of Bonawitz et al. (CCS 2017, §4 ShareKeys): AES-256-GCM under the key both peers
 * derive by KA. The associated data binds the session (round), sender and receiver, so a share that was
 * altered, or relayed to another node or into another round, fails authentication.
 */

export class ShareAuthError extends Error {}

const associated = (session: string, from: string, to: string) => Buffer.from(JSON.stringify([session, from, to]));

/** iv (12 bytes) ‖ ciphertext ‖ tag (16 bytes). */
export function sealShare(
  key: Uint8Array,
  plain: Uint8Array,
  ad: { session: string; from: string; to: string },
): Uint8Array {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(associated(ad.session, ad.from, ad.to));
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Uint8Array.from(Buffer.concat([iv, body, cipher.getAuthTag()]));
}

/** The plaintext, or ShareAuthError when the box was altered or is not for this (session, from, to). */
export function openShare(
  key: Uint8Array,
  box: Uint8Array,
  ad: { session: string; from: string; to: string },
): Uint8Array {
  if (box.length < 28) throw new ShareAuthError(`The share from "${ad.from}" is truncated`);
  const decipher = createDecipheriv("aes-256-gcm", key, box.subarray(0, 12));
  decipher.setAAD(associated(ad.session, ad.from, ad.to));
  decipher.setAuthTag(box.subarray(box.length - 16));
  try {
    return Uint8Array.from(Buffer.concat([decipher.update(box.subarray(12, box.length - 16)), decipher.final()]));
  } catch {
    throw new ShareAuthError(
      `The share from "${ad.from}" failed authentication (altered, or replayed from another round or node)`,
    );
  }
}
