import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createCatalogue, type DatasetDraft, toDatasetInfo } from "../../../src/node/catalogue/catalogue.js";
import { until } from "../../support/wait.js";

const root = mkdtempSync(join(tmpdir(), "fbm-catalogue-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(mkdtempSync(join(root, `c${n++}-`)), "catalogue.json");

function draft(name: string, tags: string[]): DatasetDraft {
  return {
    name,
    type: "csv",
    tags,
    shape: [10, 3],
    columns: [
      { name: "a", dtype: "int64" },
      { name: "b", dtype: "float64" },
      { name: "y", dtype: "int64" },
    ],
    target: "y",
    sampleCount: 10,
    sha256: "0".repeat(64),
    path: `/data/${name}.csv`,
  };
}

describe("createCatalogue()", () => {
  it("addDataset() assigns a ds_ id and createdAt, and the entry survives a reload from the file", async () => {
    const path = freshPath();
    const catalogue = await createCatalogue({ path });
    const entry = await catalogue.addDataset({ ...draft("heart", ["heart", "site-a"]), description: "UCI" });
    assert.match(entry.id, /^ds_[0-9a-f]{12}$/);
    assert.ok(!Number.isNaN(Date.parse(entry.createdAt)));

    const reopened = await createCatalogue({ path });
    assert.deepEqual(reopened.listDatasets(), [entry]);
    assert.deepEqual(reopened.getDataset(entry.id), entry);
    assert.equal(reopened.getDataset(entry.id)?.description, "UCI");
    assert.deepEqual(reopened.getDataset(entry.id)?.columns[1], { name: "b", dtype: "float64" });
  });

  it("removeDataset() removes and saves; an unknown id returns undefined", async () => {
    const path = freshPath();
    const catalogue = await createCatalogue({ path });
    const a = await catalogue.addDataset(draft("a", ["a"]));
    const b = await catalogue.addDataset(draft("b", ["b"]));
    assert.deepEqual(await catalogue.removeDataset(a.id), a);
    assert.equal(await catalogue.removeDataset(a.id), undefined);
    const reopened = await createCatalogue({ path });
    assert.deepEqual(
      reopened.listDatasets().map((e) => e.id),
      [b.id],
    );
  });

  it("findByTags() returns datasets carrying all the tags", async () => {
    const catalogue = await createCatalogue({ path: freshPath() });
    const a = await catalogue.addDataset(draft("a", ["cancer", "site-a", "train"]));
    const b = await catalogue.addDataset(draft("b", ["cancer", "site-b"]));
    const ids = (tags: string[]) => catalogue.findByTags(tags).map((e) => e.id);
    assert.deepEqual(ids(["cancer"]), [a.id, b.id]);
    assert.deepEqual(ids(["cancer", "train"]), [a.id]);
    assert.deepEqual(ids(["cancer", "nope"]), []);
    assert.deepEqual(ids([]), [a.id, b.id]);
  });

  it("refuses a dataset whose tags equal, contain or are contained in another's, and saves nothing", async () => {
    const path = freshPath();
    const catalogue = await createCatalogue({ path });
    const first = await catalogue.addDataset(draft("first", ["cancer", "site-a"]));
    const before = readFileSync(path);
    for (const tags of [["site-a", "cancer"], ["cancer"], ["cancer", "site-a", "extra"]]) {
      await assert.rejects(catalogue.addDataset(draft("second", tags)), {
        name: "InputError",
        message: new RegExp(
          `^Cannot register dataset "second": its tags \\(.*\\) conflict with dataset "first" \\(${first.id}`,
        ),
      });
    }
    assert.deepEqual(readFileSync(path), before);
    assert.equal(catalogue.listDatasets().length, 1);
    await catalogue.addDataset(draft("second", ["cancer", "site-b"]));
    assert.equal(catalogue.listDatasets().length, 2);
  });

  it("returned entries are copies: changing them does not change the catalogue", async () => {
    const catalogue = await createCatalogue({ path: freshPath() });
    const entry = await catalogue.addDataset(draft("a", ["a"]));
    catalogue.getDataset(entry.id)?.tags.push("mutated");
    catalogue.listDatasets()[0].shape.push(99);
    assert.deepEqual(catalogue.getDataset(entry.id)?.tags, ["a"]);
    assert.deepEqual(catalogue.getDataset(entry.id)?.shape, [10, 3]);
  });

  it("saves atomically: after many saves the folder holds only the catalogue file and its backup", async () => {
    const path = freshPath();
    const catalogue = await createCatalogue({ path });
    for (let i = 0; i < 5; i++) await catalogue.addDataset(draft(`d${i}`, [`t${i}`]));
    const first = catalogue.listDatasets()[0];
    await catalogue.removeDataset(first.id);
    assert.deepEqual(readdirSync(join(path, "..")).sort(), ["catalogue.json", "catalogue.json.bak"]);
    assert.deepEqual(readFileSync(`${path}.bak`), readFileSync(path));
    assert.equal(JSON.parse(readFileSync(path, "utf8"))[0].datasets[first.id], undefined);
  });

  it("a missing file is an empty catalogue; a corrupt one is an InputError naming the file", async () => {
    const path = freshPath();
    assert.deepEqual((await createCatalogue({ path })).listDatasets(), []);
    writeFileSync(path, "{ not json");
    await assert.rejects(createCatalogue({ path }), {
      name: "InputError",
      message: new RegExp(`catalogue "${path}": it is not valid JSON`),
    });
  });

  describe("damage where data was is an error naming the file and its backup, never an empty catalogue", () => {
    const damages: [string, string, RegExp][] = [
      ["a 0-byte file", "", /it is empty/],
      ["an empty table", "[{},{}]", /it has no entries/],
      ["a truncated file", '[{"datasets":{"ds_0', /it is not valid JSON/],
      [
        "a row with cells of the wrong type",
        '[{"datasets":{"ds_000000000000":{"name":5}}},{}]',
        /damaged entry ds_000000000000 \(name: /,
      ],
      ["rows that are empty objects", '[{"datasets":{"a":{},"b":{}}},{}]', /damaged entry a/],
    ];
    for (const [name, text, reason] of damages) {
      it(name, async () => {
        const path = freshPath();
        const writer = await createCatalogue({ path });
        await writer.addDataset(draft("a", ["a"]));
        writeFileSync(path, text);
        const error = await createCatalogue({ path }).then(
          () => undefined,
          (e: Error) => e,
        );
        assert.equal(error?.name, "InputError");
        assert.match(error.message, reason);
        assert.ok(error.message.startsWith(`Cannot read catalogue "${path}": `), error.message);
        assert.match(error.message, new RegExp(`its backup "${path}\\.bak" has 1; fix: .*cp ${path}\\.bak ${path}`));
        await assert.rejects(writer.addDataset(draft("b", ["b"])), { name: "InputError" });
        assert.equal(readFileSync(path, "utf8"), text, "a refused add leaves the damaged file for the operator");
      });
    }
    it("a deleted file whose backup has entries", async () => {
      const path = freshPath();
      await (await createCatalogue({ path })).addDataset(draft("a", ["a"]));
      rmSync(path);
      await assert.rejects(createCatalogue({ path }), { message: /it is missing; its backup .* has 1/ });
    });
  });

  it("removing the last dataset leaves a valid empty catalogue", async () => {
    const path = freshPath();
    const catalogue = await createCatalogue({ path });
    const entry = await catalogue.addDataset(draft("a", ["a"]));
    await catalogue.removeDataset(entry.id);
    assert.deepEqual((await createCatalogue({ path })).listDatasets(), []);
  });

  it("a lock left by a crashed process is taken over once stale", async () => {
    const path = freshPath();
    const catalogue = await createCatalogue({ path });
    mkdirSync(`${path}.lock`);
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${path}.lock`, old, old);
    await catalogue.addDataset(draft("a", ["a"]));
    assert.equal(existsSync(`${path}.lock`), false);
  });

  it("watch() follows the file, and reports damage while keeping what it had", async () => {
    const path = freshPath();
    const serving = await createCatalogue({ path });
    const errors: string[] = [];
    serving.watch((message) => errors.push(message));
    try {
      const entry = await (await createCatalogue({ path })).addDataset(draft("a", ["a"]));
      await until(() => serving.getDataset(entry.id) !== undefined, "the watcher to see the new dataset");
      writeFileSync(path, "");
      await until(() => errors.length > 0, "the watcher to report the emptied file");
      assert.match(errors[0], /^Cannot read catalogue ".*": it is empty; its backup/);
      assert.deepEqual(
        serving.listDatasets().map((e) => e.id),
        [entry.id],
      );
    } finally {
      await serving.close();
    }
  });

  it("reload() picks up what another catalogue object saved", async () => {
    const path = freshPath();
    const reader = await createCatalogue({ path });
    const writer = await createCatalogue({ path });
    const entry = await writer.addDataset(draft("a", ["a"]));
    assert.equal(reader.getDataset(entry.id), undefined);
    await reader.reload();
    assert.deepEqual(reader.getDataset(entry.id), entry);
  });

  it("toDatasetInfo() keeps everything but the paths, fingerprint and skipped rows; of columns only names and dtypes", async () => {
    const catalogue = await createCatalogue({ path: freshPath() });
    const typed = draft("a", ["a"]);
    typed.columns = [
      { name: "sex", dtype: "string", kind: "categorical", missing: 2, categories: [{ name: "rare-x", count: 1 }] },
      { name: "y", dtype: "int64", kind: "binary", missing: 0 },
    ];
    const entry = await catalogue.addDataset({ ...typed, missingTarget: 3 });
    const info = toDatasetInfo(entry);
    assert.equal(JSON.stringify(info).includes("/data/"), false);
    assert.equal(JSON.stringify(info).includes("rare-x"), false, "category names stay on the node");
    const {
      path: _path,
      labelsPath: _labels,
      sha256: _sha,
      missingTarget: _skipped,
      columns: _columns,
      ...rest
    } = entry;
    assert.deepEqual(info, {
      ...rest,
      columns: [
        { name: "sex", dtype: "string" },
        { name: "y", dtype: "int64" },
      ],
    });
  });

  it("keeps each column's type, missing count and categories across a reload", async () => {
    const path = freshPath();
    const catalogue = await createCatalogue({ path });
    const typed = draft("t", ["t"]);
    typed.columns = [
      { name: "sex", dtype: "string", kind: "categorical", missing: 2, categories: [{ name: "F", count: 8 }] },
    ];
    const entry = await catalogue.addDataset({ ...typed, missingTarget: 1 });
    await catalogue.close();
    const again = await createCatalogue({ path });
    assert.deepEqual(again.getDataset(entry.id), entry);
    await again.close();
  });
});
