import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createSecaggPeers } from "../../../src/node/privacy/secagg-peers.js";

const fp = (digit: string) => `sha256:${digit.repeat(64)}`;

describe("secagg-peers.json: the identities a node trusts for secure aggregation with verify", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-secagg-peers-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const home = (name: string) => mkdtempSync(join(dir, `${name}-`));

  it("tofu: a new peer is trusted and written down (0600); the same id with another identity is refused", () => {
    const h = home("tofu");
    const lines: string[] = [];
    const peers = createSecaggPeers(h, { log: (l) => lines.push(l) });
    assert.equal(peers.check("node_b", fp("1")), undefined);
    assert.deepEqual(JSON.parse(readFileSync(join(h, "secagg-peers.json"), "utf8")), { node_b: fp("1") });
    assert.equal(statSync(join(h, "secagg-peers.json")).mode & 0o777, 0o600);
    assert.match(lines[0], /trusting node node_b's identity sha256:1{64}/);
    assert.equal(peers.check("node_b", fp("1")), undefined);
    assert.match(
      peers.check("node_b", fp("2")) ?? "",
      /node "node_b" signs with identity sha256:2{64}, but .* has sha256:1{64} for it/,
    );
    assert.match(
      peers.check("node_c", fp("1")) ?? "",
      /identity sha256:1{64} is node "node_b"'s .* cannot act as "node_c"/,
    );
  });

  it("pinned: only the peers the operator listed; edits to the file apply at the next check", () => {
    const h = home("pinned");
    const peers = createSecaggPeers(h, { log: () => {}, mode: () => "pinned" });
    assert.match(peers.check("node_b", fp("3")) ?? "", /is not in .* and config secagg_peers is pinned/);
    // The operator adds b's fingerprint as b's operator sent it (upper case, colons).
    const typed = `SHA256:${"3".repeat(64).match(/../g)?.join(":")}`;
    writeFileSync(join(h, "secagg-peers.json"), JSON.stringify({ node_b: typed }));
    assert.equal(peers.check("node_b", fp("3")), undefined);
  });

  it("a damaged file is a clear error naming it", () => {
    const h = home("bad");
    writeFileSync(join(h, "secagg-peers.json"), JSON.stringify({ node_b: 7 }));
    assert.throws(
      () => createSecaggPeers(h, { log: () => {} }).check("node_b", fp("1")),
      /Cannot read .*secagg-peers.json: the fingerprint of "node_b" is not text/,
    );
  });
});
