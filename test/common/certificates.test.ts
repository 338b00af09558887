import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import {
  fingerprintOfDer,
  fingerprintOfPem,
  generateKeyPair,
  parseFingerprint,
} from "../../src/common/certificates.js";
import { isLoopbackHost } from "../../src/common/loopback.js";

describe("certificates", () => {
  it("generateKeyPair() makes a self-signed P-256 certificate for the given hosts, with its key and fingerprint", async () => {
    const pair = await generateKeyPair({
      commonName: "fbm researcher",
      hosts: ["localhost", "127.0.0.1", "research.example.org"],
      days: 30,
    });
    const cert = new X509Certificate(pair.cert);
    assert.equal(cert.subject, "CN=fbm researcher");
    assert.equal(cert.issuer, cert.subject);
    assert.ok(cert.verify(cert.publicKey), "signed by its own key");
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.match(cert.subjectAltName ?? "", /DNS:localhost, IP Address:127\.0\.0\.1, DNS:research\.example\.org/);
    assert.ok(cert.checkPrivateKey(createPrivateKey(pair.key)), "the key belongs to the certificate");
    const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 29 && days <= 30, `valid for ${days} days`);
    assert.equal(pair.fingerprint, `sha256:${cert.fingerprint256.replace(/:/g, "").toLowerCase()}`);
    assert.equal(fingerprintOfPem(pair.cert), pair.fingerprint);
    assert.equal(fingerprintOfDer(cert.raw), pair.fingerprint);
  });

  it("each key pair is new: two certificates never share a fingerprint", async () => {
    const [a, b] = await Promise.all([generateKeyPair({ commonName: "n" }), generateKeyPair({ commonName: "n" })]);
    assert.notEqual(a.fingerprint, b.fingerprint);
    assert.notEqual(a.key, b.key);
  });

  it("parseFingerprint() accepts sha256:hex, bare hex and openssl's colon form, in any case", () => {
    const hex = "ab".repeat(32);
    const want = `sha256:${hex}`;
    for (const text of [
      want,
      hex,
      hex.toUpperCase(),
      `SHA256:${hex}`,
      hex.match(/../g)!.join(":").toUpperCase(),
      `sha256=${hex}`,
      ` ${want} `,
    ]) {
      assert.equal(parseFingerprint(text), want, text);
    }
  });

  it("parseFingerprint() rejects anything that is not 32 bytes of hex, saying what it expected", () => {
    for (const text of ["", "sha256:", "ab".repeat(31), "ab".repeat(33), `sha1:${"ab".repeat(32)}`, "zz".repeat(32)]) {
      assert.throws(
        () => parseFingerprint(text),
        { name: "InputError", message: /^Invalid fingerprint ".*": expected sha256: followed by 64 hex digits/ },
        text,
      );
    }
  });

  it("fingerprintOfPem() says which file is not a certificate", () => {
    assert.throws(() => fingerprintOfPem("hello", "node.crt"), {
      name: "InputError",
      message: /^Cannot read node\.crt: not a PEM certificate/,
    });
  });

  it("isLoopbackHost() accepts localhost, 127.0.0.0/8 and ::1 in their spellings, nothing else", () => {
    for (const host of [
      "localhost",
      "LOCALHOST",
      "app.localhost",
      "127.0.0.1",
      "127.8.9.10",
      "::1",
      "[::1]",
      "0:0:0:0:0:0:0:1",
      "::ffff:127.0.0.1",
    ]) {
      assert.equal(isLoopbackHost(host), true, host);
    }
    for (const host of [
      "0.0.0.0",
      "::",
      "10.0.0.1",
      "128.0.0.1",
      "example.org",
      "localhost.example.org",
      "::ffff:10.0.0.1",
      "[::2]",
    ]) {
      assert.equal(isLoopbackHost(host), false, host);
    }
  });
});
