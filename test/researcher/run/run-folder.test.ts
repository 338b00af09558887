import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { InputError } from "../../../src/common/errors.js";
import { openRunFolder } from "../../../src/researcher/run/run-folder.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-run-folder-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("run folder", () => {
  it("is created on the first write, replaced atomically, and refused without --resume once it holds a run", async () => {
    const folder = await openRunFolder(dir, "study", { resume: false });
    assert.equal(existsSync(folder.dir), false);
    await folder.writeState({ round: 1 });
    await folder.writeHistory([{ round: 1 }, { round: 2 }]);
    assert.deepEqual(readdirSync(folder.dir).sort(), ["history.jsonl", "state.json"]);
    await assert.rejects(
      openRunFolder(dir, "study", { resume: false }),
      (e) => e instanceof InputError && /pass --resume/.test(e.message),
    );
    const resumed = await openRunFolder(dir, "study", { resume: true });
    assert.deepEqual(await resumed.readState(), { round: 1 });
  });
});
