import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { generateKeyPair } from "../../../src/common/certificates.js";
import { ResearcherService } from "../../../src/gen/fbm/v1/researcher_pb.js";
import { listDatasets } from "../../../src/researcher/cli/list-datasets.js";
import { createRefusals } from "../../../src/researcher/server/refusals.js";
import { signingInterceptor } from "../../../src/wire/index.js";
import { until } from "../../support/wait.js";

/** Issue 26 (9): a node whose clock is off was refused without a word, and `datasets` printed [] exit 0. */

const SEVEN_MIN = 7 * 60_000;

/** Moves the signed time forward, as a node whose clock runs 7 minutes fast would sign it. */
function clockAhead(ms: number): Interceptor {
  return (next) => async (req) => {
    req.header.set("fbm-time", String(Number(req.header.get("fbm-time")) + ms));
    return next(req);
  };
}

describe("refused signed calls", () => {
  it("are logged once per node, with the skew", () => {
    const lines: string[] = [];
    const refusals = createRefusals((l) => lines.push(l));
    const now = 1_000_000_000;
    const skewed = new Headers({ "fbm-node-id": "site-a", "fbm-time": String(now + SEVEN_MIN) });
    for (let i = 0; i < 5; i++) refusals.note(skewed, new Error("refused"), now);
    refusals.note(new Headers({ "fbm-node-id": "site-b", "fbm-time": String(now - SEVEN_MIN) }), new Error("x"), now);
    refusals.note(
      new Headers({ "fbm-node-id": "site-c", "fbm-time": String(now) }),
      new ConnectError(
        "Refused a signed request: its signature does not match its content and certificate",
        Code.Unauthenticated,
      ),
      now,
    );
    assert.deepEqual(lines, [
      "Warning: refused the signed calls of node site-a: its clock is 7 min ahead of the researcher's (at most 5 min allowed); fix: set the node's clock (NTP)",
      "Warning: refused the signed calls of node site-b: its clock is 7 min behind the researcher's (at most 5 min allowed); fix: set the node's clock (NTP)",
      "Warning: refused the signed calls of node site-c: its signature does not match its content and certificate",
    ]);
    assert.equal(refusals.lines().length, 3);
  });

  it("`datasets` says which node it refused and why, once, instead of a silent empty listing", async () => {
    const lines: string[] = [];
    const pair = await generateKeyPair({ commonName: "site-a" });
    const signer = signingInterceptor({ nodeId: "site-a", sessionId: "s1", certPem: pair.cert, keyPem: pair.key });
    let url: string | undefined;
    const listing = listDatasets({
      tags: [],
      listen: "127.0.0.1:0",
      waitSeconds: 1,
      log: (line) => {
        lines.push(line);
        url ??= /Listening on (\S+);/.exec(line)?.[1];
      },
    });
    await until(() => url !== undefined, "the datasets server");
    const client = createClient(
      ResearcherService,
      createGrpcTransport({ baseUrl: url as string, interceptors: [signer, clockAhead(SEVEN_MIN)] }),
    );
    for (let i = 0; i < 3; i++) {
      const call = client.feedback({ nodeId: "site-a", taskId: "t" });
      await assert.rejects(call, (e: ConnectError) => e.code === Code.Unauthenticated);
    }
    assert.deepEqual(await listing, []);
    const about = lines.filter((l) => l.includes("site-a"));
    assert.equal(about.length, 2, lines.join("\n"));
    assert.match(about[0], /^Warning: refused the signed calls of node site-a: its clock is 7 min ahead/);
    assert.match(about[1], /^Warning: 1 node\(s\) were refused and are not listed: site-a: its clock is 7 min ahead/);
  });
});
