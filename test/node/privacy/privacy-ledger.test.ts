import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createPrivacyLedger, PrivacyBudgetError } from "../../../src/node/privacy/privacy-ledger.js";
import { computeRdp, defaultOrders, epsilonFromRdp, legacyOrderCount } from "../../../src/privacy/dp/rdp.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-ledger-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const round = computeRdp({ q: 0.05, noiseMultiplier: 1.1, steps: 100 });
const epsilonAfter = (rounds: number) =>
  epsilonFromRdp(
    round.map((r) => r * rounds),
    1e-5,
  ).epsilon;
let n = 0;
const charge = (path: string, experiment: string, budget?: number, sha256 = "abc") =>
  createPrivacyLedger({ path }).then(async (ledger) => {
    try {
      return await ledger.charge({
        sha256,
        datasetId: "ds_1",
        datasetName: "ward",
        experiment,
        round: 1,
        rdp: round,
        delta: 1e-5,
        budget,
        budgetDelta: 1e-5,
      });
    } finally {
      await ledger.close();
    }
  });

/** A round of experiment z on dataset "abc" (ds_1), with no budget. */
const roundOnAbc = {
  sha256: "abc",
  datasetId: "ds_1",
  datasetName: "ward",
  experiment: "z",
  round: 1,
  rdp: round,
  delta: 1e-5,
  budgetDelta: 1e-5,
};

/** A ledger of datasets "abc" (experiment x) and "other-dataset", the field of abc:x set to `damaged`, no backup. */
async function damagedLedger(field: "rdp" | "sha256", damaged: unknown): Promise<string> {
  const path = join(dir, `ledger-${n++}.json`);
  await charge(path, "x");
  await charge(path, "y", undefined, "other-dataset");
  const file = JSON.parse(readFileSync(path, "utf8"));
  file[0].spent["abc:x"][field] = damaged;
  writeFileSync(path, JSON.stringify(file));
  rmSync(`${path}.bak`, { force: true });
  return path;
}

describe("the privacy ledger", () => {
  it("composes rounds and experiments on a dataset by adding RDP, and keeps datasets apart", async () => {
    const path = join(dir, `ledger-${n++}.json`);
    const one = await charge(path, "a");
    assert.ok(Math.abs(one.experimentEpsilon - epsilonAfter(1)) < 1e-12);
    const two = await charge(path, "a");
    assert.ok(Math.abs(two.experimentEpsilon - epsilonAfter(2)) < 1e-12);
    const other = await charge(path, "b");
    // A new experiment starts its own ε, but the dataset's total is three rounds' RDP, not a sum of ε.
    assert.ok(Math.abs(other.experimentEpsilon - epsilonAfter(1)) < 1e-12);
    assert.ok(Math.abs(other.datasetEpsilon - epsilonAfter(3)) < 1e-12);
    assert.ok(other.datasetEpsilon < epsilonAfter(2) + epsilonAfter(1));
    await charge(path, "a", undefined, "another-dataset");
    const ledger = await createPrivacyLedger({ path });
    assert.ok(Math.abs(ledger.datasetEpsilon("abc", 1e-5).epsilon - epsilonAfter(3)) < 1e-12);
    assert.equal(ledger.datasetEpsilon("abc", 1e-5).rounds, 3);
    assert.equal(ledger.datasetEpsilon("never-trained", 1e-5).epsilon, 0);
    await ledger.close();
  });

  it("refuses a round past the budget, names what is left, and changes nothing", async () => {
    const path = join(dir, `ledger-${n++}.json`);
    const budget = (epsilonAfter(2) + epsilonAfter(3)) / 2;
    await charge(path, "a", budget);
    await charge(path, "a", budget);
    const before = readFileSync(path, "utf8");
    await assert.rejects(charge(path, "a", budget), (error: Error) => {
      assert.ok(error instanceof PrivacyBudgetError);
      const left = (budget - epsilonAfter(2)).toFixed(3);
      assert.match(error.message, new RegExp(`ε ${left} is left`));
      assert.match(error.message, /fbm-node dataset set ds_1 max_epsilon/);
      return true;
    });
    assert.equal(readFileSync(path, "utf8"), before);
  });

  it("is written atomically: only the file and its backup, and a concurrent burst loses no charge", async () => {
    const sub = mkdtempSync(join(dir, "burst-"));
    const path = join(sub, "privacy.json");
    await Promise.all(Array.from({ length: 8 }, (_, i) => charge(path, `e${i}`)));
    assert.deepEqual(readdirSync(sub).sort(), ["privacy.json", "privacy.json.bak"]);
    const ledger = await createPrivacyLedger({ path });
    assert.equal(ledger.datasetEpsilon("abc", 1e-5).rounds, 8);
    await ledger.close();
  });

  it("loads a ledger written before the larger orders: its ε is unchanged, and it counts as +∞ where it recorded nothing", async () => {
    const path = join(dir, `ledger-${n++}.json`);
    await charge(path, "old");
    // Make it a ledger of the old accountant: 151 values (orders up to 63) in its row.
    const file = JSON.parse(readFileSync(path, "utf8"));
    const text = JSON.stringify(file, (key, value) =>
      key === "rdp" && Array.isArray(value) ? value.slice(0, legacyOrderCount) : value,
    );
    assert.ok(text.includes('"rdp"'), "the file holds rdp arrays");
    writeFileSync(path, text);
    rmSync(`${path}.bak`, { force: true });
    const low = defaultOrders.slice(0, legacyOrderCount);
    const oldEpsilon = epsilonFromRdp(round.slice(0, legacyOrderCount), 1e-5, { orders: low }).epsilon;
    const ledger = await createPrivacyLedger({ path });
    assert.equal(ledger.datasetEpsilon("abc", 1e-5).epsilon, oldEpsilon);
    assert.equal(ledger.datasetEpsilon("abc", 1e-5).rounds, 1);
    await ledger.close();
    // Another round of the old experiment: still the old orders only (the old spending has no bound above 63).
    const more = await charge(path, "old");
    const twoLow = round.slice(0, legacyOrderCount).map((r) => 2 * r);
    assert.ok(Math.abs(more.experimentEpsilon - epsilonFromRdp(twoLow, 1e-5, { orders: low }).epsilon) < 1e-12);
    // A new experiment on the same dataset: the dataset total stays +∞ at the new orders, so ε is the old
    // orders' bound on everything spent.
    const fresh = await charge(path, "new");
    assert.ok(Math.abs(fresh.experimentEpsilon - epsilonAfter(1)) < 1e-12);
    const threeLow = round.slice(0, legacyOrderCount).map((r) => 3 * r);
    assert.ok(Math.abs(fresh.datasetEpsilon - epsilonFromRdp(threeLow, 1e-5, { orders: low }).epsilon) < 1e-12);
    const rows = JSON.stringify(JSON.parse(readFileSync(path, "utf8")));
    assert.equal((rows.match(/"rdp"/g) ?? []).length, 2);
  });

  it("refuses a round without noise (σ 0: infinite RDP) or with a NaN cost before charging anything", async () => {
    const path = join(dir, `ledger-${n++}.json`);
    await charge(path, "x");
    const before = readFileSync(path, "utf8");
    const ledger = await createPrivacyLedger({ path });
    for (const rdp of [
      computeRdp({ q: 0.05, noiseMultiplier: 0, steps: 1 }),
      round.map((r, i) => (i === 3 ? Number.NaN : r)),
    ]) {
      await assert.rejects(
        ledger.charge({
          sha256: "abc",
          datasetId: "ds_1",
          datasetName: "ward",
          experiment: "x",
          round: 2,
          rdp,
          delta: 1e-5,
          budgetDelta: 1e-5,
        }),
        (error: Error) =>
          error instanceof PrivacyBudgetError &&
          /^Round 2 on dataset "ward" \(ds_1\) would cost RDP (Infinity|NaN) at order [\d.]+: refused \(a noise multiplier of 0 gives no privacy\)/.test(
            error.message,
          ),
      );
    }
    await ledger.close();
    assert.equal(readFileSync(path, "utf8"), before, "the ledger file is unchanged");
  });

  it("reads a damaged entry (rdp null, text, NaN) as the dataset's budget spent, and the node still starts", async () => {
    for (const damaged of [null, "oops", [Number.NaN], -1]) {
      const ledger = await createPrivacyLedger({ path: await damagedLedger("rdp", damaged) });
      assert.equal(ledger.datasetEpsilon("abc", 1e-5).epsilon, Number.POSITIVE_INFINITY, JSON.stringify(damaged));
      // The other dataset is untouched; a round on the damaged one is refused under any budget.
      assert.ok(Math.abs(ledger.datasetEpsilon("other-dataset", 1e-5).epsilon - epsilonAfter(1)) < 1e-12);
      await assert.rejects(ledger.charge({ ...roundOnAbc, budget: 1000 }), PrivacyBudgetError);
      await ledger.close();
    }
  });
  it("reads an entry with a damaged sha256 as its dataset's budget spent, says how to repair it, and the node still starts", async () => {
    for (const damaged of ["", 7, "f00d"]) {
      const ledger = await createPrivacyLedger({ path: await damagedLedger("sha256", damaged) });
      const what = JSON.stringify(damaged);
      // Found by its key, and by its datasetId when the caller names it.
      assert.equal(ledger.datasetEpsilon("abc", 1e-5).epsilon, Number.POSITIVE_INFINITY, what);
      assert.equal(ledger.datasetEpsilon("abc-moved", 1e-5, "ds_1").epsilon, Number.POSITIVE_INFINITY, what);
      assert.ok(Math.abs(ledger.datasetEpsilon("other-dataset", 1e-5).epsilon - epsilonAfter(1)) < 1e-12, what);
      const warnings = ledger.damaged();
      assert.equal(warnings.length, 1, what);
      assert.match(
        warnings[0],
        /^Privacy ledger entry "abc:x" \(dataset ds_1\) is damaged \(its sha256 does not match its key\): .*restore .*\.bak/,
      );
      // Refused with no budget too; the other dataset is charged as before.
      await assert.rejects(ledger.charge(roundOnAbc), /has 1 damaged privacy ledger entry: its budget counts as spent/);
      await ledger.charge({ ...roundOnAbc, sha256: "other-dataset", datasetId: "ds_2" });
      await ledger.close();
    }
  });
});
