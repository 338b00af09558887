import { createHash, webcrypto, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { errorMessage, InputError } from "./errors.js";

/**
 * Self-signed ECDSA P-256 certificates and their sha256 fingerprints. Peers pin each other by
 * fingerprint (like SSH host keys), so no certificate authority is involved. A fingerprint prints as
 * `sha256:` + 64 lower-case hex digits; input also accepts upper case, colons (openssl's
 * `AB:CD:…`) and no prefix.
 */

/** A PEM certificate, its PKCS#8 PEM private key and the certificate's fingerprint. */
export interface KeyPair {
  cert: string;
  key: string;
  fingerprint: string;
}

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A fresh key pair and a certificate for `commonName`, valid for `hosts` (DNS names or IPs) and `days`. */
export async function generateKeyPair(options: {
  commonName: string;
  hosts?: string[];
  days?: number;
}): Promise<KeyPair> {
  const x509 = await loadX509();
  const crypto = webcrypto as unknown as Crypto;
  const keys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const hosts = options.hosts ?? [];
  const now = Date.now();
  const extensions: InstanceType<typeof x509.Extension>[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
  ];
  if (hosts.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        hosts.map((h) => ({ type: isIP(h) ? ("ip" as const) : ("dns" as const), value: h })),
      ),
    );
  }
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: [{ CN: [options.commonName] }],
      keys,
      signingAlgorithm: algorithm,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + (options.days ?? 3650) * 86_400_000),
      extensions,
    },
    crypto,
  );
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  const certPem = cert.toString("pem");
  return {
    cert: `${certPem.trim()}\n`,
    key: toPem(new Uint8Array(pkcs8), "PRIVATE KEY"),
    fingerprint: fingerprintOfPem(certPem),
  };
}

/** The fingerprint of a DER certificate. */
export function fingerprintOfDer(der: Uint8Array): string {
  return `sha256:${createHash("sha256").update(der).digest("hex")}`;
}

/** The fingerprint of the (first) certificate in a PEM text; InputError when there is none. */
export function fingerprintOfPem(pem: string, source = "the certificate"): string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (error) {
    throw new InputError(`Cannot read ${source}: not a PEM certificate (${errorMessage(error)})`);
  }
  return fingerprintOfDer(cert.raw);
}

/** Normalizes a typed fingerprint to `sha256:<hex>`, or throws InputError naming what was wrong. */
export function parseFingerprint(text: string): string {
  const hex = text
    .trim()
    .replace(/^sha256[:=]?/i, "")
    .replace(/:/g, "")
    .toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new InputError(`Invalid fingerprint "${text}": expected sha256: followed by 64 hex digits (colons allowed)`);
  }
  return `sha256:${hex}`;
}

/** @peculiar/x509 takes about a second to load: only commands that make certificates pay for it. */
async function loadX509() {
  await import("reflect-metadata"); // the Reflect metadata API @peculiar/x509 (tsyringe) needs at load time
  return import("@peculiar/x509");
}

function toPem(der: Uint8Array, label: string): string {
  const base64 = Buffer.from(der)
    .toString("base64")
    .replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${base64}-----END ${label}-----\n`;
}
