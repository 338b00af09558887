import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from "node:crypto";

/**
 * Key agreement for secure aggregation (Bonawitz et al., CCS 2017, §4 "KA"): X25519 key pairs, the
 * shared secret hashed by HKDF-SHA256 into a purpose-bound 32-byte key. Keys travel as raw 32 bytes.
 */

export interface KeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

export function generateKeyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  return { publicKey: rawPublic(publicKey), privateKey: rawPrivate(privateKey) };
}

/**
 * KA.agree: the key `purpose` derives from my private key and a peer's public key; both peers get the
 * same key. `session` salts it, so keys of one round never serve another.
 */
export function agree(privateKey: Uint8Array, peerPublicKey: Uint8Array, session: string, purpose: string): Buffer {
  const secret = diffieHellman({ privateKey: privateKeyObject(privateKey), publicKey: publicKeyObject(peerPublicKey) });
  return Buffer.from(hkdfSync("sha256", secret, Buffer.from(session), Buffer.from(`fbm secagg ${purpose}`), 32));
}

/** The public key of a raw private key (checks a key rebuilt from shares against the one advertised). */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return rawPublic(createPublicKey(privateKeyObject(privateKey)));
}

function rawPublic(key: KeyObject): Uint8Array {
  return Uint8Array.from(Buffer.from(key.export({ format: "jwk" }).x as string, "base64url"));
}

function rawPrivate(key: KeyObject): Uint8Array {
  return Uint8Array.from(Buffer.from(key.export({ format: "jwk" }).d as string, "base64url"));
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new RangeError(`An X25519 public key has 32 bytes, got ${raw.length}`);
  return createPublicKey({
    key: { kty: "OKP", crv: "X25519", x: Buffer.from(raw).toString("base64url") },
    format: "jwk",
  });
}

const PKCS8_X25519_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

function privateKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new RangeError(`An X25519 private key has 32 bytes, got ${raw.length}`);
  // A JWK import would need the public half too: wrap the raw key in its fixed PKCS#8 DER prefix.
  const pkcs8 = Buffer.concat([PKCS8_X25519_PREFIX, Buffer.from(raw)]);
  return createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
}
