import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { generateKeyPair } from "../../../src/common/certificates.js";
import { nodeCli } from "../../support/cli.js";

const root = mkdtempSync(join(tmpdir(), "fbm-identity-"));
after(() => rmSync(root, { recursive: true, force: true }));

const run = nodeCli;

const fingerprintOf = (path: string) =>
  `sha256:${new X509Certificate(readFileSync(path)).fingerprint256.replace(/:/g, "").toLowerCase()}`;

describe("node identity and researcher pinning", () => {
  const home = join(root, "home");
  let init: { node_id: string; fingerprint: string };

  before(async () => {
    const r = await run("init", "--home", home, "--name", "site-a", "--json");
    assert.equal(r.code, 0, r.stderr);
    init = JSON.parse(r.stdout);
  });

  it("init makes the node's key pair (node.key private) and prints the certificate's fingerprint", () => {
    assert.equal(statSync(join(home, "node.key")).mode & 0o777, 0o600);
    assert.equal(init.fingerprint, fingerprintOf(join(home, "node.crt")));
    assert.match(new X509Certificate(readFileSync(join(home, "node.crt"))).subject, new RegExp(init.node_id));
  });

  it("identity prints the node id, fingerprint and the command the researcher runs to allow it", async () => {
    const json = await run("identity", "--home", home, "--json");
    assert.deepEqual(JSON.parse(json.stdout), {
      node_id: init.node_id,
      name: "site-a",
      fingerprint: init.fingerprint,
      certificate: join(home, "node.crt"),
    });
    const human = await run("identity", "--home", home);
    assert.ok(
      human.stderr.includes(`fbm-researcher node allow ${init.fingerprint} --node-id ${init.node_id} --name "site-a"`),
      human.stderr,
    );
  });

  it("identity gives a home made before certificates its key pair", async () => {
    const old = join(root, "old");
    assert.equal((await run("init", "--home", old)).code, 0);
    unlinkSync(join(old, "node.crt"));
    unlinkSync(join(old, "node.key"));
    const r = await run("identity", "--home", old, "--json");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^Created the node's key pair: .*node\.crt \(this home had none\)/);
    assert.equal(JSON.parse(r.stdout).fingerprint, fingerprintOf(join(old, "node.crt")));
  });

  it("init refuses a folder that already holds a node key", async () => {
    const partial = join(root, "partial");
    assert.equal((await run("init", "--home", partial)).code, 0);
    unlinkSync(join(partial, "config.json"));
    unlinkSync(join(partial, "catalogue.json"));
    const key = readFileSync(join(partial, "node.key"), "utf8");
    const r = await run("init", "--home", partial);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /A node home already exists at .* \(found .*node\.crt\)/);
    assert.equal(readFileSync(join(partial, "node.key"), "utf8"), key);
  });

  it("config set researcher_fingerprint normalizes openssl's colon form; an empty value clears it", async () => {
    const hex = "0f".repeat(32);
    assert.equal(
      (await run("config", "set", "researcher_fingerprint", hex.toUpperCase().match(/../g)!.join(":"), "--home", home))
        .code,
      0,
    );
    assert.equal((await run("config", "get", "researcher_fingerprint", "--home", home)).stdout, `sha256:${hex}\n`);
    const bad = await run("config", "set", "researcher_fingerprint", "12:34", "--home", home);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Invalid fingerprint "12:34"/);
    assert.equal((await run("config", "set", "researcher_fingerprint", "", "--home", home)).code, 0);
    assert.equal((await run("config", "get", "researcher_fingerprint", "--home", home)).stdout, "\n");
  });

  it("config set researcher_cert stores the absolute path of a readable certificate, and refuses anything else", async () => {
    const cert = join(root, "researcher.crt");
    writeFileSync(cert, (await generateKeyPair({ commonName: "r" })).cert);
    const missing = await run("config", "set", "researcher_cert", join(root, "nope.crt"), "--home", home);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /Cannot read the researcher certificate .*nope\.crt: no such file/);
    writeFileSync(join(root, "junk.crt"), "not a certificate");
    const junk = await run("config", "set", "researcher_cert", join(root, "junk.crt"), "--home", home);
    assert.equal(junk.code, 2);
    assert.match(junk.stderr, /not a PEM certificate/);
    assert.equal((await run("config", "set", "researcher_cert", cert, "--home", home)).code, 0);
    assert.equal((await run("config", "get", "researcher_cert", "--home", home)).stdout, `${cert}\n`);
    assert.equal((await run("config", "set", "researcher_cert", "", "--home", home)).code, 0);
  });

  it("serve refuses an https researcher that is not pinned, saying how to pin it (exit 2)", async () => {
    const r = await run("serve", "--home", home, "--researcher", "https://research.example.org:50051");
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /Error: The researcher https:\/\/research\.example\.org:50051 uses TLS but no researcher certificate is pinned: pin the researcher's certificate: `fbm-node config set researcher_fingerprint/,
    );
  });
});
