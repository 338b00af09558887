import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { writeFileAtomic } from "../../src/common/atomic-write.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-atomic-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("writeFileAtomic()", () => {
  it("creates, then replaces, the file and leaves no temp file behind", async () => {
    const path = join(dir, "config.json");
    await writeFileAtomic(path, "one");
    await writeFileAtomic(path, "two");
    assert.equal(readFileSync(path, "utf8"), "two");
    assert.deepEqual(readdirSync(dir), ["config.json"]);
  });

  it("when the rename fails, rejects and removes its temp file", async () => {
    const sub = join(dir, "sub");
    mkdirSync(join(sub, "target"), { recursive: true });
    await assert.rejects(writeFileAtomic(join(sub, "target"), "x"));
    assert.deepEqual(readdirSync(sub), ["target"]);
  });
});
