import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DEADLINE_MS, nodeBin, nodeIdOf, prepareNodes, stopAll } from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { fingerprintOfPem } from "../../src/common/certificates.js";
import { identityPaths } from "../../src/node/identity/identity.js";
import type { Peer } from "../../src/privacy/secagg/messages.js";
import { parseExperiment } from "../../src/researcher/run/config.js";
import type { ExperimentEvent } from "../../src/researcher/run/events.js";
import { createExperiment } from "../../src/researcher/run/experiment.js";
import { createHub, type Hub } from "../../src/researcher/server/hub.js";
import { type ResearcherServer, startServer } from "../../src/researcher/server/server.js";
import type { ReplyBody, SecaggTaskBody, TaskBody } from "../../src/wire/index.js";
import { nodeCli } from "../support/cli.js";
import { until } from "../support/wait.js";

/**
 * Real `fbm-node serve` processes against a researcher that does not follow the protocol: the test
 * holds the researcher's hub and sends the nodes whatever secure aggregation tasks it likes, as a
 * malicious researcher could. Each node enforces its own rules (README "Secure aggregation").
 */
describe("secure aggregation: what real nodes refuse a malicious researcher", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-secagg-malicious-"));
  const processes: ChildProcess[] = [];
  const logs: string[] = [];
  let server: ResearcherServer;
  let hub: Hub;
  let homes: string[];
  let ids: string[];

  before(async () => {
    homes = await prepareNodes(
      dir,
      ["a", "b", "c"].map((n) => ({ name: `site-${n}`, datasets: [] })),
    );
    ids = homes.map(nodeIdOf);
    hub = createHub({ pollWindowMs: 1000 });
    server = await startServer({ listen: "127.0.0.1:0", hub, log: () => {} });
    for (const [i, home] of homes.entries()) {
      const child = spawn(process.execPath, [nodeBin, "--home", home, "serve", "--researcher", server.url], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      logs[i] = "";
      child.stderr?.on("data", (d) => {
        logs[i] += d;
      });
      processes.push(child);
    }
    await until(() => ids.every((id) => hub.node(id)?.online), "the three nodes to connect");
  });
  after(async () => {
    await stopAll(processes);
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const send = (i: number, body: SecaggTaskBody) => hub.send(ids[i], body, { timeoutMs: DEADLINE_MS });
  const refusal = (r: ReplyBody) => {
    assert.equal(r.kind, "error", `expected a refusal, got ${JSON.stringify(r).slice(0, 300)}`);
    return r as Extract<ReplyBody, { kind: "error" }>;
  };
  const advertiseAll = async (session: string) =>
    Promise.all(
      ids.map(async (id, i) => {
        const r = await send(i, { kind: "secagg", session, phase: "advertiseKeys", cohort: 3, verify: true });
        assert.equal(r.kind, "secagg", JSON.stringify(r));
        const keys = r as Extract<ReplyBody, { phase: "keys" }>;
        assert.ok(keys.signed, "a node signs its keys when asked to verify");
        return { id, index: i + 1, ...keys.keys, signed: keys.signed } as Peer;
      }),
    );

  for (const cohort of [1, 2]) {
    it(`a ${cohort}-node round is refused by the node (secagg_cohort, naming secagg_min_nodes)`, async () => {
      const r = refusal(
        await send(0, { kind: "secagg", session: `one-${cohort}`, phase: "advertiseKeys", cohort, verify: true }),
      );
      assert.equal(r.code, "secagg_cohort");
      assert.match(r.message, /config secagg_min_nodes is 3/);
    });
  }

  it("a round without verify is refused by a node left at its default (secagg_verify true)", async () => {
    const r = refusal(
      await send(1, { kind: "secagg", session: "unverified", phase: "advertiseKeys", cohort: 3, verify: false }),
    );
    assert.equal(r.code, "secagg_verify");
    assert.match(r.message, /config secagg_verify is true/);
  });

  it("keys shared among 2 after announcing 3 are refused at ShareKeys", async () => {
    const peers = await advertiseAll("announce-3");
    const r = refusal(
      await send(0, {
        kind: "secagg",
        session: "announce-3",
        phase: "shareKeys",
        peers: peers.slice(0, 2),
        threshold: 2,
        cohort: ids.slice(0, 2),
        neighbours: 0,
      }),
    );
    assert.equal(r.code, "secagg_cohort");
  });

  it("a relayed key swapped for the researcher's is refused (secagg_verify); honest keys are shared and the peers' identities remembered", async () => {
    const peers = await advertiseAll("swap");
    const swapped = peers.map((p, i) => (i === 1 ? { ...p, maskKey: peers[2].maskKey.map((b) => b ^ 0xff) } : p));
    const task = {
      kind: "secagg",
      session: "swap",
      phase: "shareKeys",
      threshold: 2,
      cohort: ids,
      neighbours: 0,
    } as const;
    const r = refusal(await send(0, { ...task, peers: swapped }));
    assert.equal(r.code, "secagg_verify");
    assert.match(r.message, new RegExp(`the keys relayed for "${ids[1]}" are not the ones it signed`));

    const honest = await advertiseAll("honest");
    const shared = await send(0, { ...task, session: "honest", peers: honest });
    assert.equal(shared.kind, "secagg", JSON.stringify(shared));
    const pins = join(homes[0], "secagg-peers.json");
    const remembered = JSON.parse(readFileSync(pins, "utf8")) as Record<string, string>;
    for (const i of [1, 2]) {
      assert.equal(remembered[ids[i]], fingerprintOfPem(readFileSync(identityPaths(homes[i]).cert, "utf8")));
    }
  });

  it("fbm-node config set secagg_min_nodes 4 applies to the serving node at its next task", async () => {
    const { code, stderr } = await nodeCli("--home", homes[0], "config", "set", "secagg_min_nodes", "4");
    assert.equal(code, 0, stderr);
    await until(() => logs[0].includes("Config secagg_min_nodes = 4"), "site-a to apply the change");
    const r = refusal(
      await send(0, { kind: "secagg", session: "raised", phase: "advertiseKeys", cohort: 3, verify: true }),
    );
    assert.match(r.message, /at least 4 nodes \(config secagg_min_nodes is 4\), but the researcher asks 3/);
    const bad = await nodeCli("--home", homes[0], "config", "set", "secagg_min_nodes", "2");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Config key "secagg_min_nodes" must be a whole number of nodes of at least 3.*got "2"/);
  });
});

/**
 * Four real nodes training under secure aggregation with verify, driven by the researcher's own round
 * code (createExperiment) through a hub that tampers with what it relays: the nodes' consistency check
 * stops the round before any share is revealed.
 */
describe("secure aggregation with verify: real nodes catch an inconsistent researcher", {
  timeout: 4 * DEADLINE_MS,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-secagg-consistency-"));
  const processes: ChildProcess[] = [];
  let server: ResearcherServer;
  let hub: Hub;
  let ids: string[];

  before(async () => {
    const homes = await prepareNodes(
      dir,
      [0, 1, 2, 3].map((i) => {
        const path = join(dir, `site-${i}.csv`);
        writeTabularCsv(path, { rows: 120, seed: 60 + i, features: 4 });
        return {
          name: `site-${i}`,
          datasets: [["--type", "csv", "--path", path, "--tags", "cc", "--target", "label"]],
        };
      }),
      { planApproval: false },
    );
    ids = homes.map(nodeIdOf);
    hub = createHub({ pollWindowMs: 1000 });
    server = await startServer({ listen: "127.0.0.1:0", hub, log: () => {} });
    for (const home of homes) {
      processes.push(
        spawn(process.execPath, [nodeBin, "--home", home, "serve", "--researcher", server.url], { stdio: "ignore" }),
      );
    }
    await until(() => ids.every((id) => hub.node(id)?.online), "the four nodes to connect");
  });
  after(async () => {
    await stopAll(processes);
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const yaml = (name: string) =>
    [
      `name: ${name}`,
      "tags: [cc]",
      "rounds: 1",
      "nodes: {min: 4, wait: 5m, round_timeout: 5m}",
      "plan:",
      "  data: {target: label, normalize: none}",
      "  model: [{dense: {units: 1, activation: sigmoid}}]",
      "  loss: binaryCrossentropy",
      "  optimizer: {name: sgd, learning_rate: 0.1}",
      "training: {epochs: 1, batch_size: 16, test_ratio: 0.25, metrics: [accuracy], seed: 1}",
      "secagg: {verify: true}",
    ].join("\n");

  /** Runs the experiment through a hub whose `send` passes every task through `edit`; the error it ends with. */
  async function runTampered(name: string, edit: (node: string, body: TaskBody) => TaskBody) {
    const send: Hub["send"] = (node, body, options) => hub.send(node, edit(node, body), options);
    const tampering = new Proxy(hub, {
      get: (target, prop) => {
        if (prop === "send") return send;
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const events: ExperimentEvent[] = [];
    const experiment = createExperiment(parseExperiment(yaml(name), `${name}.yaml`), {
      hub: tampering,
      outDir: join(dir, "runs"),
      onEvent: (e) => events.push(e),
    });
    try {
      for await (const _ of experiment.run());
      return { error: undefined, events };
    } catch (error) {
      return { error: error as Error, events };
    } finally {
      await experiment.close();
    }
  }

  it("an honest researcher: the round completes (the reference for the two below)", async () => {
    const { error, events } = await runTampered("honest", (_node, body) => body);
    assert.equal(error, undefined, error?.message);
    assert.ok(events.some((e) => e.event === "done"));
  });

  it("different survivor sets shown to different nodes: every node refuses to reveal, the round stops", async () => {
    // site-0 is told that site-3 dropped out; the others that all four survived.
    const { error } = await runTampered("survivors", (node, body) =>
      node === ids[0] && body.kind === "secagg" && body.phase === "consistency"
        ? { ...body, survivors: body.survivors.filter((id) => id !== ids[3]) }
        : body,
    );
    assert.ok(error, "the round completed");
    assert.match(error.message, /secure aggregation cannot complete/);
    assert.match(error.message, /differs from the one this node signed/);
    assert.match(error.message, new RegExp(`"${ids[0]}" signed another survivor set or trained another global model`));
  });

  it("a different global model sent to one node (Pasquini et al. 2022): caught before any share is revealed", async () => {
    const { error } = await runTampered("models", (node, body) =>
      node === ids[3] && body.kind === "train" && body.secagg
        ? {
            ...body,
            params: body.params.map((t) => ({
              ...t,
              data: Float32Array.from(t.data as Float32Array, (v) => v + 0.25),
            })),
          }
        : body,
    );
    assert.ok(error, "the round completed");
    assert.match(error.message, new RegExp(`"${ids[3]}" signed another survivor set or trained another global model`));
  });
});
