import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DEADLINE_MS,
  fbmNode,
  fbmResearcher,
  type NodeProcesses,
  nodeIdOf,
  prepareNodes,
  type ResearcherRun,
  runResearcher,
  startNodes,
} from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { fingerprintOfPem } from "../../src/common/certificates.js";

/**
 * Mutual TLS between real processes: a researcher serving HTTPS with an allow-list, and three nodes:
 * one allowed, one whose certificate is not on the list, one that pins another researcher certificate.
 * The operators' steps are the documented commands (cert generate, identity, node allow, config set).
 * The same three node processes serve two researcher runs: one that needs two nodes, one that needs one.
 */
describe("mutual TLS between a researcher and node processes (port 0)", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-mtls-"));
  const trust = join(dir, "researcher");
  const allowList = join(trust, "allowed-nodes.json");
  const tlsArgs = [
    "--cert",
    join(trust, "researcher.crt"),
    "--key",
    join(trust, "researcher.key"),
    "--allow-list",
    allowList,
  ];
  const experiment = (name: string, min: number, wait: string) => {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(
      path,
      [
        `name: ${name}`,
        "tags: [e2e]",
        "rounds: 1",
        `nodes: {min: ${min}, wait: ${wait}}`,
        "plan:",
        "  data: {target: label}",
        "  model: [{dense: {units: 4, activation: relu}}, {dense: {units: 1, activation: sigmoid}}]",
        "  loss: binaryCrossentropy",
        "  optimizer: {name: sgd, learning_rate: 0.1}",
        "training: {epochs: 1, batch_size: 16, test_ratio: 0.25, seed: 1}",
      ].join("\n"),
    );
    return path;
  };
  const fingerprintOf = (home: string) => fingerprintOfPem(readFileSync(join(home, "node.crt"), "utf8"));
  let homes: Record<"allowed" | "stranger" | "misled", string>;
  let researcherFingerprint = "";
  let nodes: NodeProcesses;
  let refused: ResearcherRun;
  let trained: ResearcherRun;

  before(async () => {
    researcherFingerprint = JSON.parse(
      (await fbmResearcher("cert", "generate", "--out", trust, "--host", "127.0.0.1,localhost", "--json")).stdout,
    ).fingerprint;
    await fbmResearcher("cert", "generate", "--out", join(dir, "impostor"));
    const csv = join(dir, "site.csv");
    writeTabularCsv(csv, { rows: 60, seed: 1, features: 3, noise: 0 });
    const datasets = [["--type", "csv", "--path", csv, "--tags", "e2e", "--target", "label"]];
    const [allowed, stranger, misled] = await prepareNodes(
      dir,
      [
        { name: "allowed", datasets, config: [["researcher_fingerprint", researcherFingerprint]] },
        { name: "stranger", datasets, config: [["researcher_cert", join(trust, "researcher.crt")]] },
        { name: "misled", datasets, config: [["researcher_cert", join(dir, "impostor", "researcher.crt")]] },
      ],
      { planApproval: false },
    );
    homes = { allowed, stranger, misled };
    // The misled node is on the allow-list too: only its pin keeps it away.
    for (const home of [allowed, misled]) {
      const id = JSON.parse((await fbmNode("--home", home, "identity", "--json")).stdout) as {
        node_id: string;
        fingerprint: string;
      };
      await fbmResearcher("node", "allow", id.fingerprint, "--node-id", id.node_id, "--allow-list", allowList);
    }
    // The nodes run before the researcher starts, so nodes.wait only has to cover connections already made.
    nodes = await startNodes([allowed, stranger, misled], { https: true });
    const run = (name: string, min: number, wait: string) =>
      runResearcher({
        experiment: experiment(name, min, wait),
        outDir: join(dir, "runs"),
        researcherArgs: [...tlsArgs, "--trace", join(dir, `trace-${name}.jsonl`)],
        gate: nodes.gate,
      });
    refused = await run("refused", 2, "10s");
    trained = await run("trained", 1, "10m");
  });
  after(async () => {
    await nodes?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves https", () => {
    assert.match(refused.events[0]?.url ?? "", /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it("refuses a node whose certificate is not on the allow-list and logs the attempt once", () => {
    const fp = fingerprintOf(homes.stranger);
    const lines = refused.stderr.split("\n").filter((l) => l.includes(fp));
    assert.equal(lines.length, 1, refused.stderr);
    assert.match(
      lines[0],
      new RegExp(
        `^\\S+ INFO  Refused node ${fp} from 127\\.0\\.0\\.1 \\(claiming node id ${nodeIdOf(homes.stranger)}\\): its certificate is not on the allow-list`,
      ),
    );
    assert.match(nodes.logs[homes.stranger], /unauthenticated.*is not on the researcher's allow-list/i);
  });

  it("a node pinning another researcher certificate refuses to connect, and says so", () => {
    const log = nodes.logs[homes.misled];
    const pinned = fingerprintOfPem(readFileSync(join(dir, "impostor", "researcher.crt"), "utf8"));
    assert.ok(
      log.includes(
        `Refusing the researcher at ${nodes.url}: its certificate ${researcherFingerprint} does not match the pinned ${pinned}.`,
      ),
      log,
    );
    assert.doesNotMatch(log, /Connected to researcher/);
  });

  it("fails the run for lack of nodes: only the allowed node connected", () => {
    assert.equal(refused.code, 1, refused.stderr);
    const connected = refused.events.filter((e) => e.event === "node" && e.state === "connected").map((e) => e.name);
    assert.deepEqual(connected, ["allowed"]);
    assert.match(refused.stderr.trimEnd().split("\n").at(-1) ?? "", /^Error: Only 1 of the 2 nodes needed/);
  });

  it("nothing the researcher received names a node's home or its pinned certificate's path", () => {
    const received = ["refused", "trained"]
      .map((name) => readFileSync(join(dir, `trace-${name}.jsonl`), "utf8"))
      .join("");
    assert.ok(received.length > 0);
    // `dir` holds the homes, the dataset and every certificate the nodes pinned (researcher_cert).
    for (const secret of [dir, join(trust, "researcher.crt"), "researcher.crt", "node.crt", ...Object.values(homes)])
      assert.ok(!received.includes(secret), `the trace contains "${secret}"`);
  });

  it("an allowed node trains to done over mutual TLS", () => {
    assert.equal(trained.code, 0, trained.stderr);
    const done = trained.events.at(-1);
    assert.equal(done?.event, "done");
    const round = trained.events.find((e) => e.event === "round");
    assert.deepEqual(
      round?.nodes.map((n: { name: string }) => n.name),
      ["allowed"],
    );
  });
});
