import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
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

  it("with overwrite keeps the old run until the new run's first write, then holds only the new run", async () => {
    const old = await openRunFolder(dir, "again", { resume: false });
    await old.writeState({ round: 5 });
    await old.writeHistory([{ round: 5 }]);
    await mkdir(old.modelDir);
    await writeFile(join(old.modelDir, "model.json"), "{}");
    old.writeNodeKeys({ n1: "fp" });

    const fresh = await openRunFolder(dir, "again", { resume: false, overwrite: true });
    assert.equal(await fresh.readState(), undefined, "nothing to continue from");
    assert.deepEqual(await fresh.readNodeKeys(), {}, "the old run's key bindings go with it");
    // A run that fails before writing anything replaced nothing.
    assert.deepEqual(JSON.parse(readFileSync(join(old.dir, "state.json"), "utf8")), { round: 5 });
    await fresh.writeState({ round: 1 });
    assert.deepEqual(readdirSync(fresh.dir), ["state.json"]);
    assert.deepEqual(JSON.parse(readFileSync(join(fresh.dir, "state.json"), "utf8")), { round: 1 });
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.includes("again")),
      ["again"],
      "no old copy left beside it",
    );
  });

  it("refuses --resume and --overwrite together", async () => {
    await assert.rejects(
      openRunFolder(dir, "both", { resume: true, overwrite: true }),
      (e) => e instanceof InputError && /--resume and --overwrite/.test(e.message),
    );
  });
});
