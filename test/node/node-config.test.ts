import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { newNodeConfig, nodeConfigSchema, parseConfigValue } from "../../src/node/node-config.js";

describe("node config: min_count and stats_minmax", () => {
  it("defaults to min_count 10 and stats_minmax false, also for a config written before they existed", () => {
    const fresh = newNodeConfig({ name: "a" });
    assert.deepEqual([fresh.min_count, fresh.stats_minmax], [10, false]);
    const { min_count: _m, stats_minmax: _s, ...older } = fresh;
    const read = nodeConfigSchema.parse(older);
    assert.deepEqual([read.min_count, read.stats_minmax], [10, false]);
  });

  it("parses what `config set` is given, or says what fits", () => {
    assert.equal(parseConfigValue("min_count", "25"), 25);
    assert.equal(parseConfigValue("stats_minmax", "true"), true);
    assert.throws(
      () => parseConfigValue("min_count", "0"),
      /Config key "min_count" must be a whole number of rows above 0 like 10, got "0"/,
    );
    assert.throws(() => parseConfigValue("min_count", "ten"), /got "ten"/);
    assert.throws(
      () => parseConfigValue("stats_minmax", "yes"),
      /Config key "stats_minmax" must be true or false, got "yes"/,
    );
  });
});

describe("node config: require_secagg", () => {
  it("defaults to false, also for a config written before it existed, and `config set` takes true or false", () => {
    const fresh = newNodeConfig({ name: "a" });
    assert.equal(fresh.require_secagg, false);
    const { require_secagg: _r, ...older } = fresh;
    assert.equal(nodeConfigSchema.parse(older).require_secagg, false);
    assert.equal(parseConfigValue("require_secagg", "true"), true);
    assert.throws(
      () => parseConfigValue("require_secagg", "on"),
      /Config key "require_secagg" must be true or false, got "on"/,
    );
  });
});
