import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadPreparedTable } from "../../../src/ml/data/table.js";
import type { DatasetEntry } from "../../../src/node/catalogue/catalogue.js";
import { describeDataset } from "../../../src/node/catalogue/dataset-draft.js";
import { createRedactor } from "../../../src/node/privacy/redact.js";

const entry = {
  id: "ds_0123456789ab",
  name: "cohort",
  path: "/srv/site/heart-2024.csv",
  labelsPath: "",
} as DatasetEntry;
const idx = {
  id: "ds_ba9876543210",
  name: "digits",
  path: "/srv/site/imgs.idx3",
  labelsPath: "/srv/site/lbls.idx1",
} as DatasetEntry;
const redact = createRedactor("/home/op/fbm-node", () => [entry, idx]);

describe("createRedactor()", () => {
  it("replaces dataset files by id and name, the home and any other absolute path", () => {
    assert.equal(
      redact('Cannot load dataset "/srv/site/heart-2024.csv": line 3 has 2 fields'),
      'Cannot load dataset ds_0123456789ab "cohort": line 3 has 2 fields',
    );
    assert.equal(redact("ENOENT: open 'heart-2024.csv'"), `ENOENT: open 'ds_0123456789ab "cohort"'`);
    assert.equal(redact("labels /srv/site/lbls.idx1 are short"), 'labels ds_ba9876543210 "digits" (labels) are short');
    assert.equal(
      redact("run `fbm-node --home /home/op/fbm-node plan approve x`"),
      "run `fbm-node --home <node home> plan approve x`",
    );
    assert.equal(
      redact("EACCES: open '/etc/other/file.txt' (see /var/log/x)"),
      "EACCES: open '<local path>' (see <local path>)",
    );
  });

  it("leaves URLs, ratios and plain words alone", () => {
    const text = "researcher http://10.0.0.1:50051/fbm.v1 refused 3/4 nodes; loss 0.5 / accuracy";
    assert.equal(redact(text), text);
  });

  it("takes out every cell a CSV reader's message quotes (patient data), from real reader errors", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fbm-redact-"));
    try {
      const cases: { csv: string; cell: string; load?: boolean }[] = [
        { csv: 'age,y\n41,0\nMRN-77 "Doe",1\n40,1\n', cell: "MRN-77" },
        { csv: 'age,y\n41,0\n"7"Q,1\n', cell: '"Q"' },
        { csv: "age,y\n41,0\n1e39,1\n", cell: "1e39" },
        { csv: "age,y\n41,nopeA\n42,yesB\n", cell: "nopeA" },
        { csv: "age,y\n41,0\nJane Roe,1\n", cell: "Jane Roe", load: true },
      ];
      for (const [i, { csv, cell, load }] of cases.entries()) {
        const path = join(dir, `t${i}.csv`);
        writeFileSync(path, csv);
        const read = load
          ? loadPreparedTable(path, { columns: [{ name: "age", kind: "numeric" }] }, { target: "y" })
          : describeDataset({ type: "csv", path, tags: ["t"], target: "y" });
        const message = await read.then(
          () => "",
          (error: Error) => error.message,
        );
        assert.ok(message.includes(cell), `the node's own message names the cell: ${message}`);
        const sent = redact(message);
        assert.ok(!sent.includes(cell), `sent to the researcher: ${sent}`);
        assert.match(sent, /value <withheld>/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
