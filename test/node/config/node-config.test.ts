import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { newNodeConfig, nodeConfigSchema, parseConfigValue } from "../../../src/node/config/node-config.js";

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

describe("node config: the privacy budget", () => {
  it("has no budget and δ 1e-5 by default, also for a config written before the keys existed", () => {
    const fresh = newNodeConfig({ name: "a" });
    assert.deepEqual([fresh.max_epsilon, fresh.dp_delta], ["none", 1e-5]);
    const { max_epsilon: _e, dp_delta: _d, ...older } = fresh;
    const read = nodeConfigSchema.parse(older);
    assert.deepEqual([read.max_epsilon, read.dp_delta], ["none", 1e-5]);
  });

  it("parses max_epsilon as a non-negative ε or none, and dp_delta in (0, 1)", () => {
    assert.equal(parseConfigValue("max_epsilon", "8"), 8);
    assert.equal(parseConfigValue("max_epsilon", "0.5"), 0.5);
    assert.equal(parseConfigValue("max_epsilon", "none"), "none");
    assert.equal(parseConfigValue("dp_delta", "1e-6"), 1e-6);
    for (const bad of ["-1", "eight", "", "Infinity"]) {
      assert.throws(() => parseConfigValue("max_epsilon", bad), /max_epsilon must be a non-negative number like 8/);
    }
    assert.throws(() => parseConfigValue("dp_delta", "1"), /between 0 and 1/);
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

describe("node config: secagg_min_nodes", () => {
  it("defaults to 3, also for a config written before it existed; `config set` takes a whole number of at least 3", () => {
    const fresh = newNodeConfig({ name: "a" });
    assert.equal(fresh.secagg_min_nodes, 3);
    const { secagg_min_nodes: _m, ...older } = fresh;
    assert.equal(nodeConfigSchema.parse(older).secagg_min_nodes, 3);
    assert.equal(parseConfigValue("secagg_min_nodes", "5"), 5);
    for (const bad of ["2", "1", "0", "3.5", "many"]) {
      assert.throws(
        () => parseConfigValue("secagg_min_nodes", bad),
        new RegExp(`Config key "secagg_min_nodes" must be a whole number of nodes of at least 3 .*got "${bad}"`),
      );
    }
    assert.throws(() => nodeConfigSchema.parse({ ...fresh, secagg_min_nodes: 2 }));
  });
});

describe("node config: secagg_verify", () => {
  it("defaults to true, also for a config written before it existed; `config set` takes true or false", () => {
    const fresh = newNodeConfig({ name: "a" });
    assert.equal(fresh.secagg_verify, true);
    const { secagg_verify: _v, ...older } = fresh;
    assert.equal(nodeConfigSchema.parse(older).secagg_verify, true);
    assert.equal(parseConfigValue("secagg_verify", "false"), false);
    assert.throws(
      () => parseConfigValue("secagg_verify", "no"),
      /Config key "secagg_verify" must be true or false, got "no"/,
    );
  });
});

describe("node config: secagg_peers", () => {
  it("defaults to tofu, also for a config written before it existed; `config set` takes tofu or pinned", () => {
    const fresh = newNodeConfig({ name: "a" });
    assert.equal(fresh.secagg_peers, "tofu");
    const { secagg_peers: _p, ...older } = fresh;
    assert.equal(nodeConfigSchema.parse(older).secagg_peers, "tofu");
    assert.equal(parseConfigValue("secagg_peers", "pinned"), "pinned");
    assert.throws(
      () => parseConfigValue("secagg_peers", "strict"),
      /Config key "secagg_peers" must be tofu or pinned, got "strict"/,
    );
  });
});

describe("node config: task caps (max_updates, max_epochs, max_task_seconds)", () => {
  it("default to 100,000 steps, 1,000 epochs and 6 hours, also for a config written before they existed", () => {
    const fresh = newNodeConfig({ name: "n" });
    assert.deepEqual([fresh.max_updates, fresh.max_epochs, fresh.max_task_seconds], [100_000, 1_000, 21_600]);
    const { max_updates: _u, max_epochs: _e, max_task_seconds: _s, ...older } = fresh;
    const parsed = nodeConfigSchema.parse(older);
    assert.deepEqual([parsed.max_updates, parsed.max_epochs, parsed.max_task_seconds], [100_000, 1_000, 21_600]);
  });

  it("config set takes positive whole numbers and names the key in a one-line error otherwise", () => {
    assert.equal(parseConfigValue("max_updates", "5000"), 5000);
    assert.equal(parseConfigValue("max_task_seconds", "3_600"), 3600);
    assert.throws(
      () => parseConfigValue("max_epochs", "-3"),
      /^InputError: Config key "max_epochs" must be a positive whole number of epochs like 1000, got "-3"$/,
    );
    assert.throws(() => parseConfigValue("max_task_seconds", "1h"), /of seconds like 3600, got "1h"/);
  });
});

describe("node config: bounds on training arguments and max_task_flops", () => {
  it("default to no bound but a huge batch and 1e15 FLOPs, also for a config written before they existed", () => {
    const { min_batch_size, max_batch_size, min_test_ratio, min_dp_sigma, max_task_flops, ...older } = newNodeConfig();
    const config = nodeConfigSchema.parse(older);
    assert.deepEqual(
      [config.min_batch_size, config.max_batch_size, config.min_test_ratio, config.min_dp_sigma, config.max_task_flops],
      [1, 1_000_000, 0, 0, 1e15],
    );
  });

  it("parses what `config set` is given, or says what fits", () => {
    assert.equal(parseConfigValue("min_batch_size", "8"), 8);
    assert.equal(parseConfigValue("min_test_ratio", "0.2"), 0.2);
    assert.equal(parseConfigValue("min_dp_sigma", "0.8"), 0.8);
    assert.equal(parseConfigValue("max_task_flops", "2e14"), 2e14);
    assert.throws(
      () => parseConfigValue("max_batch_size", "0"),
      /must be a positive whole number of rows like 32, got "0"/,
    );
    assert.throws(() => parseConfigValue("min_test_ratio", "1"), /from 0 up to \(not including\) 1 like 0.2, got "1"/);
    assert.throws(() => parseConfigValue("min_dp_sigma", "-1"), /non-negative number like 0.8, got "-1"/);
    assert.throws(() => parseConfigValue("max_task_flops", "lots"), /number of FLOPs like 1e15, got "lots"/);
  });
});
