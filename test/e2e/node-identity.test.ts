import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { DEADLINE_MS, nodeBin, nodeIdOf, prepareNodes, stopAll } from "../../scripts/lib/federation.js";
import { fingerprintOfPem, generateKeyPair } from "../../src/common/certificates.js";
import { identityPaths } from "../../src/node/identity/identity.js";
import { allowNode } from "../../src/researcher/server/allow-list.js";
import { createHub, type Hub } from "../../src/researcher/server/hub.js";
import { type ResearcherServer, startServer } from "../../src/researcher/server/server.js";
import { createResearcherClient, signingInterceptor } from "../../src/wire/index.js";
import { until } from "../support/wait.js";

/**
 * Node identity on cleartext h2c (README.md, Deploying across sites): real `fbm-node serve` processes
 * against a researcher server in this process. Nodes sign every call with their home's key; the
 * researcher binds each node id to the first key it sees and refuses any other for the run.
 */
describe("node identity without TLS", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-identity-"));
  const processes: ChildProcess[] = [];
  const servers: ResearcherServer[] = [];
  after(async () => {
    await stopAll(processes);
    for (const s of servers) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const serve = (home: string, url: string) => {
    const child = spawn(process.execPath, [nodeBin, "--home", home, "serve", "--researcher", url], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    child.stderr!.on("data", (d) => (log += d));
    processes.push(child);
    return { child, log: () => log };
  };
  const kill = (child: ChildProcess) =>
    new Promise<void>((done) => {
      child.once("exit", () => done());
      child.kill("SIGKILL");
    });
  const researcher = async (lostAfterMs: number): Promise<{ hub: Hub; server: ResearcherServer; lines: string[] }> => {
    const hub = createHub({ pollWindowMs: 1000, lostAfterMs });
    const lines: string[] = [];
    const server = await startServer({ listen: "127.0.0.1:0", hub, log: (l) => lines.push(l) });
    servers.push(server);
    return { hub, server, lines };
  };
  const sessionOf = (hub: Hub, nodeId: string) => hub.nodes().find((n) => n.nodeId === nodeId && n.online)?.sessionId;
  const poll = (nodeId: string) => ({
    nodeId,
    name: "impostor",
    sessionId: "impostor-session",
    version: "0",
    waitSeconds: 1,
  });

  it("the real node killed and restarted with its own home is accepted at once (same key: old session retired)", async () => {
    const [home] = await prepareNodes(join(dir, "a"), [{ name: "site-a", datasets: [] }]);
    const nodeId = nodeIdOf(home);
    // Never lost by silence within the test: only the key can let the restarted process in.
    const { hub, server } = await researcher(10 * DEADLINE_MS);
    const first = serve(home, server.url);
    await until(() => sessionOf(hub, nodeId) !== undefined, "the node to connect");
    const before = sessionOf(hub, nodeId);
    await kill(first.child);
    const second = serve(home, server.url);
    await until(
      () => ![undefined, before].includes(sessionOf(hub, nodeId)),
      "the restarted node to be accepted",
      DEADLINE_MS,
    );
    assert.doesNotMatch(second.log(), /already connected/);
  });

  it("after the node is lost, an impostor polling with its id is refused, signed or not; the real node gets back in", async () => {
    const [home] = await prepareNodes(join(dir, "b"), [{ name: "site-b", datasets: [] }]);
    const nodeId = nodeIdOf(home);
    const { hub, server, lines } = await researcher(3000);
    const node = serve(home, server.url);
    await until(() => sessionOf(hub, nodeId) !== undefined, "the node to connect");
    await kill(node.child);
    await until(
      () => hub.nodes().some((n) => n.nodeId === nodeId && !n.online),
      "the researcher to mark the node lost",
    );

    const unsigned = createResearcherClient(createGrpcTransport({ baseUrl: server.url }));
    await assert.rejects(
      unsigned.getTask(poll(nodeId), {}),
      (e) => e instanceof ConnectError && e.code === Code.Unauthenticated && /requires signed requests/.test(e.message),
    );
    const pair = await generateKeyPair({ commonName: "impostor" });
    const signer = signingInterceptor({ nodeId, sessionId: "impostor-session", certPem: pair.cert, keyPem: pair.key });
    const impostor = createResearcherClient(createGrpcTransport({ baseUrl: server.url, interceptors: [signer] }));
    await assert.rejects(
      impostor.getTask(poll(nodeId), {}),
      (e) => e instanceof ConnectError && e.code === Code.PermissionDenied && /belongs to another key/.test(e.message),
    );
    assert.equal(sessionOf(hub, nodeId), undefined, "the impostor never got the node online");
    assert.ok(
      lines.some((l) => l.startsWith(`Refused a caller claiming node id ${nodeId} with key ${pair.fingerprint}`)),
      lines.join("\n"),
    );

    serve(home, server.url);
    await until(() => sessionOf(hub, nodeId) !== undefined, "the real node to be accepted again");
  });

  it("with an allow-list and no TLS, only nodes whose signing keys are on it get in; allowing one lets it in", async () => {
    const [home] = await prepareNodes(join(dir, "c"), [{ name: "site-c", datasets: [] }]);
    const nodeId = nodeIdOf(home);
    const fingerprint = fingerprintOfPem(readFileSync(identityPaths(home).cert, "utf8"));
    const allowList = join(dir, "allowed-nodes.json");
    await allowNode(allowList, {
      fingerprint: (await generateKeyPair({ commonName: "other" })).fingerprint,
      name: "other",
    });
    const hub = createHub({ pollWindowMs: 1000, lostAfterMs: 60_000 });
    const lines: string[] = [];
    const server = await startServer({ listen: "127.0.0.1:0", hub, allowList, log: (l) => lines.push(l) });
    servers.push(server);
    serve(home, server.url);
    await until(
      () => lines.some((l) => l.startsWith(`Refused node ${fingerprint}`) && l.includes("not on the allow-list")),
      "the researcher to refuse the node's key",
    );
    assert.equal(sessionOf(hub, nodeId), undefined);
    await allowNode(allowList, { fingerprint, node_id: nodeId, name: "site-c" });
    await until(
      () => sessionOf(hub, nodeId) !== undefined,
      "the allowed node to be accepted (the node retries with backoff)",
    );
  });
});
