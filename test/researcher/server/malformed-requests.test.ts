import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { createHub } from "../../../src/researcher/server/hub.js";
import { type ResearcherServer, startServer } from "../../../src/researcher/server/server.js";

/**
 * Issue 26 (9): garbage protobuf was answered Internal, and a client that sends a whole oversized
 * message before reading was left blocked (no RST_STREAM after the ResourceExhausted answer). A raw
 * node:http2 client on loopback, so nothing in between reads ahead.
 */

interface Answer {
  status?: number;
  body: string;
  trailers?: http2.IncomingHttpHeaders;
  rstCode?: number;
}

const GARBAGE = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]); // field 536870911, wire type 7

function enveloped(payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

describe("the researcher's answers to malformed and oversized requests", () => {
  let server: ResearcherServer;
  let session: http2.ClientHttp2Session;
  before(async () => {
    server = await startServer({
      listen: "127.0.0.1:0",
      hub: createHub(),
      allowUnsignedNodes: true,
      unreadRequestGraceMs: 50,
    });
    session = http2.connect(server.url);
  });
  after(async () => {
    session.close();
    await server.close();
  });

  /** One call; resolves when the stream closes (a blocked client never resolves: the test times out). */
  function call(path: string, contentType: string, body: Buffer, headers: http2.OutgoingHttpHeaders = {}) {
    return new Promise<Answer>((resolve) => {
      const req = session.request({ ":method": "POST", ":path": path, "content-type": contentType, ...headers });
      const answer: Answer = { body: "" };
      req.on("response", (h) => (answer.status = Number(h[":status"])));
      req.on("trailers", (t) => (answer.trailers = t));
      req.on("data", (c: Buffer) => (answer.body += c.toString()));
      req.on("error", () => {}); // a reset stream: rstCode says which
      req.on("close", () => resolve({ ...answer, rstCode: req.rstCode }));
      req.end(body);
    });
  }

  it("answers garbage protobuf InvalidArgument in the Connect and gRPC protocols, not Internal", async () => {
    const connect = await call("/fbm.v1.ResearcherService/Feedback", "application/proto", GARBAGE);
    assert.equal(connect.status, 400);
    assert.deepEqual(JSON.parse(connect.body), {
      code: "invalid_argument",
      message: "Malformed request: the message is not valid protobuf (illegal tag: field no 536870911 wire type 7)",
    });
    const grpc = await call("/fbm.v1.ResearcherService/Feedback", "application/grpc", enveloped(GARBAGE), {
      te: "trailers",
    });
    assert.equal(grpc.trailers?.["grpc-status"], "3");
    const stream = await call("/fbm.v1.ResearcherService/ReplyTask", "application/connect+proto", enveloped(GARBAGE));
    assert.match(stream.body, /"code":"invalid_argument","message":"Malformed request: /);
  });

  it("resets the stream of an oversized request it refused, and serves the next call", async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 1); // above readMaxBytes (4 MiB), beyond the stream window
    const refused = await call("/fbm.v1.ResearcherService/Feedback", "application/proto", big);
    assert.equal(refused.status, 429);
    assert.match(refused.body, /"code":"resource_exhausted"/);
    assert.equal(refused.rstCode, http2.constants.NGHTTP2_CANCEL);
    const next = await call("/fbm.v1.ResearcherService/Feedback", "application/proto", Buffer.alloc(0));
    assert.equal(next.status, 400); // answered: an empty node id is refused
    assert.match(next.body, /Invalid node id/);
  });
});
