import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { contributionKeys, createContributionRecord } from "../../../src/node/privacy/contribution-record.js";

describe("contribution keys", () => {
  it("one for the update words, one for the loss and validation words; all-zero contents have none", () => {
    const update = Uint32Array.of(1, 2, 3, 100);
    const [u, c] = contributionKeys(update, Uint32Array.of(7, 0));
    assert.match(u, /^update:[0-9a-f]{64}$/);
    assert.match(c, /^contents:[0-9a-f]{64}$/);
    assert.notEqual(contributionKeys(Uint32Array.of(1, 2, 4, 100), Uint32Array.of(7, 0))[0], u);
    assert.equal(contributionKeys(update, Uint32Array.of(8, 0))[0], u);
    assert.deepEqual(contributionKeys(update, new Uint32Array(4)), [u]);
  });
});

describe("contribution record", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-contributions-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "secagg-contributions.json");

  it("one key, one set of peers and one set of survivors, across restarts", async () => {
    const first = await createContributionRecord({ path });
    assert.equal(await first.train("s1", ["u1", "c1"], ["b", "a", "c", "d"]), undefined);
    assert.equal(await first.reveal("s1", ["a", "b", "c"]), undefined);
    // The same peers and survivors again: the same sum, nothing new to learn.
    assert.equal(await first.train("s2", ["u1", "c1"], ["a", "b", "c", "d"]), undefined);
    assert.equal(await first.reveal("s2", ["c", "b", "a"]), undefined);
    await first.close();

    const later = await createContributionRecord({ path });
    assert.match(
      (await later.train("s3", ["u1", "c1"], ["a", "b", "c"])) ?? "",
      /masked with 4 node\(s\) \(a, b, c, d\)/,
    );
    // Another update whose loss and counts are those of a recorded one (a nudged model) is refused too.
    assert.match((await later.train("s3b", ["u2", "c1"], ["a", "b", "c"])) ?? "", /masked with 4 node\(s\)/);
    assert.equal(await later.train("s4", ["u1", "c1"], ["a", "b", "c", "d"]), undefined);
    assert.match((await later.reveal("s4", ["a", "b", "c", "d"])) ?? "", /over 3 node\(s\) \(a, b, c\)/);
    assert.equal(await later.train("s5", ["u3", "c3"], ["a", "b"]), undefined);
    // A session this node did not train in holds nothing of its own.
    assert.equal(await later.reveal("unknown", ["a"]), undefined);
    await later.close();
  });
});
