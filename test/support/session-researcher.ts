import { createHub } from "../../src/researcher/server/hub.js";
import { startServer } from "../../src/researcher/server/server.js";
import { bareTrainTask, vectorTensor } from "./train-task.js";

/**
 * A researcher process for test/e2e/session-reconnect.test.ts, which SIGKILLs it: the real server on
 * 127.0.0.1, port 0. Each node that connects is sent one train task of `values` parameters (argv[2]).
 * Says on stdout, one JSON line each: `{"listening": url}`, `{"sent": nodeId}`, `{"reply": nodeId}`.
 */
const values = Number(process.argv[2] ?? 1_000_000);
const say = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
const hub = createHub({ pollWindowMs: 5_000 });
const server = await startServer({ listen: "127.0.0.1:0", hub });
hub.on("node", ({ state, node }) => {
  if (state !== "connected") return;
  say({ sent: node.nodeId });
  hub
    .send(node.nodeId, bareTrainTask([vectorTensor(new Float32Array(values))], { batchSize: 8 }), {
      timeoutMs: 600_000,
    })
    .then(
      () => say({ reply: node.nodeId }),
      (error: unknown) => say({ failed: node.nodeId, error: String(error) }),
    );
});
say({ listening: server.url });
