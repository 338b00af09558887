import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { researcherCli } from "../../support/cli.js";

const root = mkdtempSync(join(tmpdir(), "fbm-trust-"));
after(() => rmSync(root, { recursive: true, force: true }));

const run = researcherCli;

describe("fbm-researcher cert and node commands", () => {
  const dir = join(root, "trust");
  const allowList = join(dir, "allowed-nodes.json");
  const fp = `sha256:${"ab".repeat(32)}`;

  it("cert generate writes researcher.crt and a private researcher.key, and prints the fingerprint", async () => {
    const r = await run(
      "cert",
      "generate",
      "--out",
      dir,
      "--host",
      "localhost,10.1.2.3,research.example.org",
      "--json",
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.cert, join(dir, "researcher.crt"));
    assert.equal(out.key, join(dir, "researcher.key"));
    assert.equal(statSync(out.key).mode & 0o777, 0o600);
    const cert = new X509Certificate(readFileSync(out.cert));
    assert.equal(out.fingerprint, `sha256:${cert.fingerprint256.replace(/:/g, "").toLowerCase()}`);
    assert.match(cert.subjectAltName ?? "", /IP Address:10\.1\.2\.3/);
    assert.deepEqual(out.hosts, ["localhost", "10.1.2.3", "research.example.org"]);

    const human = await run("cert", "fingerprint", out.cert);
    assert.equal(human.stdout, `${out.fingerprint}\n`);
  });

  it("cert generate refuses to replace a key pair nodes may have pinned, unless --force", async () => {
    const before = readFileSync(join(dir, "researcher.key"), "utf8");
    const r = await run("cert", "generate", "--out", dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /researcher\.crt already exists: peers pinned its fingerprint; pass --force/);
    assert.equal(readFileSync(join(dir, "researcher.key"), "utf8"), before);
    assert.equal((await run("cert", "generate", "--out", dir, "--force")).code, 0);
    assert.notEqual(readFileSync(join(dir, "researcher.key"), "utf8"), before);
  });

  it("node allow adds a normalized fingerprint (optionally bound to a node id) and node list shows it", async () => {
    const colons = `${"AB:".repeat(31)}AB`;
    const r = await run(
      "node",
      "allow",
      colons,
      "--name",
      "hospital-a",
      "--node-id",
      "node_0123456789ab",
      "--allow-list",
      allowList,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^Allowed sha256:(ab){32} \(hospital-a\) as node_0123456789ab in /);
    const again = await run("node", "allow", fp, "--allow-list", allowList, "--json");
    assert.equal(JSON.parse(again.stdout).replaced, true);
    const list = await run("node", "list", "--allow-list", allowList, "--json");
    assert.deepEqual(
      JSON.parse(list.stdout).map((e: { fingerprint: string; node_id: string; name: string }) => [
        e.fingerprint,
        e.node_id,
        e.name,
      ]),
      [[fp, "node_0123456789ab", "hospital-a"]],
      "updating an entry keeps its binding",
    );
  });

  it("node allow rejects a malformed fingerprint and a node id bound to another certificate, changing nothing", async () => {
    const before = readFileSync(allowList, "utf8");
    const bad = await run("node", "allow", "abc", "--allow-list", allowList);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^Error: Invalid fingerprint "abc": expected sha256: followed by 64 hex digits/);
    await run("node", "allow", `sha256:${"01".repeat(32)}`, "--node-id", "node_a", "--allow-list", allowList);
    const mid = readFileSync(allowList, "utf8");
    const clash = await run(
      "node",
      "allow",
      `sha256:${"02".repeat(32)}`,
      "--node-id",
      "node_a",
      "--allow-list",
      allowList,
    );
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /Node id node_a is already bound to sha256:(01){32}/);
    assert.equal(readFileSync(allowList, "utf8"), mid);
    assert.notEqual(mid, before);
  });

  it("node unbind releases a squatted node id in a run folder's node-keys.json, and refuses an id not bound", async () => {
    const runDir = join(root, "runs", "study");
    mkdirSync(runDir, { recursive: true });
    const keys = join(runDir, "node-keys.json");
    writeFileSync(keys, JSON.stringify({ node_a: fp, node_b: `sha256:${"cd".repeat(32)}` }));
    const r = await run("node", "unbind", "node_a", "--run", runDir, "--json");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { node_id: "node_a", fingerprint: fp, run: runDir });
    assert.deepEqual(JSON.parse(readFileSync(keys, "utf8")), { node_b: `sha256:${"cd".repeat(32)}` });
    const again = await run("node", "unbind", "node_a", "--run", runDir);
    assert.equal(again.code, 2);
    assert.match(
      again.stderr,
      /^Error: Cannot unbind node node_a: it is not bound in .*node-keys\.json \(bound: node_b\)/,
    );
    const missing = await run("node", "unbind", "node_a", "--run", join(root, "runs", "none"));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /does not exist; fix: give the run folder with --run/);
  });

  it("serving with TLS needs both --cert and --key; an allow-list, with or without TLS, must exist", async () => {
    const onlyCert = await run("datasets", "--cert", join(dir, "researcher.crt"), "--wait", "1");
    assert.equal(onlyCert.code, 2);
    assert.match(onlyCert.stderr, /--key is missing: TLS needs both --cert and --key/);
    const noList = await run(
      "datasets",
      "--cert",
      join(dir, "researcher.crt"),
      "--key",
      join(dir, "researcher.key"),
      "--allow-list",
      join(root, "none.json"),
      "--listen",
      "127.0.0.1:0",
      "--wait",
      "1",
    );
    assert.equal(noList.code, 2);
    assert.match(
      noList.stderr,
      /No allow-list at .*none\.json: allow each node first with `fbm-researcher node allow FINGERPRINT/,
    );
    // Without TLS the allow-list holds the keys nodes sign with; it must exist all the same.
    const listOnly = await run(
      "datasets",
      "--allow-list",
      join(root, "none.json"),
      "--listen",
      "127.0.0.1:0",
      "--wait",
      "1",
    );
    assert.equal(listOnly.code, 2);
    assert.match(
      listOnly.stderr,
      /No allow-list at .*none\.json: allow each node first with `fbm-researcher node allow FINGERPRINT/,
    );
  });
});
