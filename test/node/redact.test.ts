import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DatasetEntry } from "../../src/node/catalogue.js";
import { createRedactor } from "../../src/node/redact.js";

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
});
