import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { generateKeyPair } from "../../../src/common/certificates.js";
import { writeKeyPair } from "../../../src/common/key-files.js";
import { createNodeIdentity, type NodeIdentity } from "../../../src/node/identity/identity.js";
import { createNodeTransport } from "../../../src/node/serve/transport.js";
import { allowNode } from "../../../src/researcher/server/allow-list.js";
import { createHub, type Hub } from "../../../src/researcher/server/hub.js";
import { type ResearcherServer, startServer } from "../../../src/researcher/server/server.js";
import { createResearcherClient, type ReplyBody } from "../../../src/wire/index.js";
import { DEADLINE_MS, until } from "../../support/wait.js";

/** A researcher serving mutual TLS on port 0, and nodes connecting through `createNodeTransport`. */

const root = mkdtempSync(join(tmpdir(), "fbm-mtls-"));
const allowList = join(root, "allowed-nodes.json");
const researcherLog: string[] = [];
let hub: Hub;
let server: ResearcherServer;
let researcherFingerprint: string;
const nodes: Record<string, { dir: string; identity: NodeIdentity }> = {};

const ping: ReplyBody = { kind: "ping", version: "t", backend: "cpu" };
/** A poll of `waitSeconds` (default: until the test's deadline, so a task sent meanwhile is never missed). */
const hello = (nodeId: string, waitSeconds = DEADLINE_MS / 1000) => ({
  nodeId,
  name: nodeId,
  sessionId: `s-${nodeId}`,
  version: "t",
  waitSeconds,
});
const isCode = (code: Code, message?: RegExp) => (e: unknown) =>
  e instanceof ConnectError && e.code === code && (!message || message.test(e.message));

async function client(node: string, options: { pin?: string; log?: string[]; nodeId?: string } = {}) {
  const nodeId = options.nodeId ?? `node_${node}`;
  const transport = await createNodeTransport({
    url: server.url,
    homeDir: nodes[node].dir,
    sessionId: `s-${nodeId}`,
    config: { node_id: nodeId, researcher_fingerprint: options.pin ?? researcherFingerprint },
    log: (line) => options.log?.push(line),
  });
  return createResearcherClient(transport);
}

before(async () => {
  const pair = await generateKeyPair({ commonName: "fbm researcher", hosts: ["127.0.0.1"] });
  const files = await writeKeyPair(root, "researcher", pair);
  researcherFingerprint = pair.fingerprint;
  for (const name of ["allowed", "bound", "stranger", "late"]) {
    const dir = join(root, name);
    nodes[name] = { dir, identity: await createNodeIdentity(dir, name) };
  }
  await allowNode(allowList, { fingerprint: nodes.allowed.identity.fingerprint, name: "allowed" });
  await allowNode(allowList, { fingerprint: nodes.bound.identity.fingerprint, node_id: "node_bound" });
  hub = createHub({ pollWindowMs: DEADLINE_MS });
  server = await startServer({
    listen: "127.0.0.1:0",
    hub,
    tls: { ...files, allowList },
    log: (l) => researcherLog.push(l),
  });
});
after(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe("researcher over mutual TLS", () => {
  it("serves https and says which certificate and allow-list it uses", () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(
      researcherLog.some((l) => l.includes(researcherFingerprint) && l.includes("2 node(s) allowed")),
      researcherLog.join("\n"),
    );
  });

  it("lets an allowed node poll, take a task and answer it", async () => {
    const c = await client("allowed");
    const polled = c.getTask(hello("node_allowed"), {});
    await until(() => hub.nodes().some((n) => n.nodeId === "node_allowed"), "node_allowed to poll");
    const pending = hub.send("node_allowed", { kind: "ping" }, { timeoutMs: DEADLINE_MS });
    const task = await polled;
    assert.ok(task);
    await c.reply({ taskId: task.taskId, nodeId: "node_allowed", body: ping });
    assert.deepEqual(await pending, ping);
  });

  it("refuses a node whose certificate is not on the allow-list (Unauthenticated) and logs the attempt once", async () => {
    const c = await client("stranger");
    const fp = nodes.stranger.identity.fingerprint;
    await assert.rejects(
      c.getTask(hello("node_stranger"), {}),
      isCode(Code.Unauthenticated, new RegExp(`${fp} is not on the researcher's allow-list`)),
    );
    await assert.rejects(c.getTask(hello("node_stranger"), {}), isCode(Code.Unauthenticated));
    await assert.rejects(
      c.feedback({ nodeId: "node_stranger", taskId: "t", body: { kind: "log", level: "info", message: "hi" } }),
      isCode(Code.Unauthenticated),
    );
    const lines = researcherLog.filter((l) => l.includes(fp));
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(
      lines[0],
      /^Refused node sha256:[0-9a-f]{64} from 127\.0\.0\.1 \(claiming node id node_stranger\): its certificate is not on the allow-list/,
    );
    assert.equal(
      hub.nodes().some((n) => n.nodeId === "node_stranger"),
      false,
    );
  });

  it("refuses a client without a certificate (Unauthenticated)", async () => {
    const bare = createResearcherClient(
      createGrpcTransport({ baseUrl: server.url, nodeOptions: { rejectUnauthorized: false } }),
    );
    await assert.rejects(
      bare.getTask(hello("node_bare"), {}),
      isCode(Code.Unauthenticated, /requires a client certificate/),
    );
  });

  it("accepts a node allowed while serving, without a restart", async () => {
    const c = await client("late");
    await assert.rejects(c.getTask(hello("node_late"), {}), isCode(Code.Unauthenticated));
    const listed = statSync(allowList).mtimeMs;
    await until(() => Date.now() > listed + 1, "the clock to pass the allow-list's modification time");
    await allowNode(allowList, { fingerprint: nodes.late.identity.fingerprint });
    assert.equal(await c.getTask(hello("node_late", 1), {}), undefined); // an empty poll window: accepted
  });

  it("binds a node id to one certificate: no other allowed certificate can claim it (PermissionDenied)", async () => {
    const allowed = await client("allowed");
    const bound = await client("bound");
    await assert.rejects(
      allowed.getTask(hello("node_bound"), {}),
      isCode(Code.PermissionDenied, /belongs to node node_allowed/),
    );
    await assert.rejects(
      bound.getTask(hello("node_other"), {}),
      isCode(Code.PermissionDenied, /belongs to node node_bound/),
    );
    const late = await client("late");
    await assert.rejects(late.getTask(hello("node_allowed"), {}), isCode(Code.PermissionDenied));
  });

  it("refuses a reply or feedback whose node id is not the caller's (PermissionDenied), leaving the task open", async () => {
    const owner = await client("allowed");
    const other = await client("late");
    const polled = owner.getTask(hello("node_allowed"), {});
    await until(() => hub.nodes().some((n) => n.nodeId === "node_allowed" && n.online), "node_allowed to poll");
    const pending = hub.send("node_allowed", { kind: "ping" }, { timeoutMs: DEADLINE_MS });
    const task = await polled;
    assert.ok(task);
    await assert.rejects(
      other.reply({ taskId: task.taskId, nodeId: "node_allowed", body: ping }),
      isCode(Code.PermissionDenied),
    );
    await assert.rejects(
      other.feedback({
        nodeId: "node_allowed",
        taskId: task.taskId,
        body: { kind: "log", level: "info", message: "x" },
      }),
      isCode(Code.PermissionDenied),
    );
    await owner.reply({ taskId: task.taskId, nodeId: "node_allowed", body: ping });
    assert.deepEqual(await pending, ping);
  });

  it("a node that pins another researcher certificate refuses to connect and logs why", async () => {
    const wrong = (await generateKeyPair({ commonName: "impostor" })).fingerprint;
    const log: string[] = [];
    const c = await client("allowed", { pin: wrong, log });
    await assert.rejects(
      c.getTask(hello("node_allowed"), {}),
      (e) => e instanceof ConnectError && /refusing to connect/.test(e.message),
    );
    await assert.rejects(c.getTask(hello("node_allowed"), {}));
    assert.equal(log.length, 1, log.join("\n"));
    assert.ok(
      log[0].startsWith(
        `Refusing the researcher at ${server.url}: its certificate ${researcherFingerprint} does not match the pinned ${wrong}.`,
      ),
      log[0],
    );
  });

  it("an https researcher without a pin is refused before connecting, with the command that pins it", async () => {
    await assert.rejects(
      createNodeTransport({
        url: server.url,
        homeDir: nodes.allowed.dir,
        sessionId: "s",
        config: { node_id: "node_allowed" },
        log: () => {},
      }),
      {
        name: "InputError",
        message: /uses TLS but no researcher certificate is pinned: .*fbm-node config set researcher_fingerprint/,
      },
    );
  });
});

describe("researcher without TLS", () => {
  it("refuses cleartext beyond loopback without --insecure, and with it warns once saying what it gives up", async () => {
    await assert.rejects(startServer({ listen: "0.0.0.0:0", hub: createHub() }), {
      name: "InputError",
      message: /^Cannot serve cleartext HTTP\/2 on 0\.0\.0\.0:0, beyond this machine, without --insecure; fix: /,
    });
    const lines: string[] = [];
    const open = await startServer({
      listen: "0.0.0.0:0",
      hub: createHub(),
      insecure: true,
      log: (l) => lines.push(l),
    });
    await open.close();
    const quiet: string[] = [];
    const local = await startServer({ listen: "127.0.0.1:0", hub: createHub(), log: (l) => quiet.push(l) });
    await local.close();
    assert.equal(
      lines.filter(
        (l) =>
          l.startsWith("Warning (--insecure): serving cleartext HTTP/2 on 0.0.0.0:0") &&
          /anyone on the network can read/.test(l),
      ).length,
      1,
      lines.join("\n"),
    );
    assert.deepEqual(quiet, []);
  });
});
