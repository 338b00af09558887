import type { ChildProcess } from "node:child_process";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { SESSION_WINDOW_BYTES, wideWindowSettings } from "../../src/wire/http2-windows.js";
import { forkTs, nextMessage } from "./child.js";
import { epochMs, receiveBlocks, writeBlocks } from "./h2-blocks.js";
import type { PeerCommand, PeerEvent } from "./h2-peer.js";

/**
 * The transfer benchmark's yardstick: bare node:http2 between this process (the server) and a helper
 * process (bench/lib/h2-peer.ts, the client), the same topology as the researcher and its node, with
 * the same flow-control windows fbm announces (wire/http2-windows.ts) and nothing but the bytes: no
 * Connect, protobuf or fbm wire. Out: the server writes `mib` MiB in 1 MiB writes of one reused block
 * to a GET; back: the client POSTs them the same way. Times are epoch milliseconds both processes share:
 * out from the request's arrival at the server, back from the client opening its request, to the last
 * byte read.
 */
export interface BareHttp2 {
  /** `mib` MiB server → client; `keep`: the receiver copies them into a reused buffer (h2-blocks.ts). */
  out(mib: number, keep?: boolean): Promise<BareLeg>;
  /** `mib` MiB client → server; `keep` as for `out`. */
  back(mib: number, keep?: boolean): Promise<BareLeg>;
  close(): Promise<void>;
}

/**
 * One leg: its seconds, and the CPU milliseconds (user + system) of each process while it ran (this
 * process's includes whatever else it runs: in the transfer bench, an idle researcher).
 */
export interface BareLeg {
  seconds: number;
  senderCpuMs: number;
  receiverCpuMs: number;
}

const block = new Uint8Array(1 << 20).fill(1);
const cpuSince = (from: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1000;
};

export async function startBareHttp2(): Promise<BareHttp2> {
  const arrived: number[] = [];
  const uploaded: ((at: number) => void)[] = [];
  const server = http2.createServer({ settings: wideWindowSettings });
  server.on("session", (session) => session.once("connect", () => session.setLocalWindowSize(SESSION_WINDOW_BYTES)));
  server.on("stream", (stream, headers) => {
    const path = String(headers[":path"]);
    if (path.startsWith("/down/")) {
      arrived.push(epochMs());
      stream.respond({ ":status": 200 });
      writeBlocks(stream, block, Number(path.slice("/down/".length)));
      return;
    }
    const [, , mib, keep] = path.split("/"); // /up/<mib>[/keep]
    stream.on("data", receiveBlocks(Number(mib), keep === "keep"));
    stream.once("end", () => {
      uploaded.shift()?.(epochMs());
      stream.respond({ ":status": 200 });
      stream.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const helper = fileURLToPath(new URL("./h2-peer.ts", import.meta.url));
  const peer: ChildProcess = forkTs(helper, [url]);
  const send = (c: PeerCommand) => peer.send(c);
  await nextMessage<Extract<PeerEvent, { type: "ready" }>>(peer, "ready");
  return {
    async out(mib, keep = false) {
      const cpu = process.cpuUsage();
      const done = nextMessage<Extract<PeerEvent, { type: "downloaded" }>>(peer, "downloaded");
      send({ type: "down", mib, keep });
      const { at, cpuMs } = await done;
      const seconds = (at - (arrived.shift() ?? Number.NaN)) / 1000;
      return { seconds, senderCpuMs: cpuSince(cpu), receiverCpuMs: cpuMs };
    },
    async back(mib, keep = false) {
      const cpu = process.cpuUsage();
      const read = new Promise<number>((resolve) => uploaded.push(resolve));
      const done = nextMessage<Extract<PeerEvent, { type: "uploaded" }>>(peer, "uploaded");
      send({ type: "up", mib, keep });
      const { started, cpuMs } = await done;
      const seconds = ((await read) - started) / 1000;
      return { seconds, senderCpuMs: cpuMs, receiverCpuMs: cpuSince(cpu) };
    },
    async close() {
      const exit = new Promise<void>((resolve) => peer.once("exit", () => resolve()));
      send({ type: "stop" });
      await exit;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
