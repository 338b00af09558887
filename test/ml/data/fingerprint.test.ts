import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { sha256Hex } from "../../../src/common/canonical-json.js";
import { fingerprintFile, fingerprintFiles } from "../../../src/ml/data/fingerprint.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-fp-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("fingerprint", () => {
  it("fingerprintFile() is the sha256 of the file's bytes, also past one stream chunk", async () => {
    const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
    writeFileSync(join(dir, "blob"), bytes);
    assert.equal(await fingerprintFile(join(dir, "blob")), sha256Hex(bytes));
  });

  it("fingerprintFiles() hashes sha256sum-style lines, so content, order and names all count", async () => {
    writeFileSync(join(dir, "a"), "A");
    writeFileSync(join(dir, "b"), "B");
    const paths = [join(dir, "a"), join(dir, "b")];
    const one = await fingerprintFiles(paths, { root: dir });
    assert.equal(one, sha256Hex(`${sha256Hex("A")}  a\n${sha256Hex("B")}  b\n`));
    assert.notEqual(await fingerprintFiles([...paths].reverse(), { root: dir }), one);
    renameSync(join(dir, "b"), join(dir, "c"));
    assert.notEqual(await fingerprintFiles([paths[0], join(dir, "c")], { root: dir }), one);
  });
});
