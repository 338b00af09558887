/**
 * Helper process of bench/lib/h2-baseline.ts: a bare node:http2 client with fbm's windows that
 * downloads and uploads blocks of 1 MiB on command. Usage (from the benchmark): h2-peer.ts <url>
 */
import http2 from "node:http2";
import { SESSION_WINDOW_BYTES, wideWindowSettings } from "../../src/wire/http2-windows.js";
import { toParent } from "./child.js";
import { epochMs, receiveBlocks, writeBlocks } from "./h2-blocks.js";

/** Messages from the parent. */
/** `keep`: the receiver copies the bytes into a reused buffer instead of dropping them (h2-blocks.ts). */
export type PeerCommand =
  | { type: "down"; mib: number; keep?: boolean }
  | { type: "up"; mib: number; keep?: boolean }
  | { type: "stop" };
/**
 * Messages to the parent; `at` is epoch milliseconds (performance.timeOrigin + now); `cpuMs` this process's
 * CPU (user + system) from the command to the transfer's end.
 */
export type PeerEvent =
  | { type: "ready" }
  | { type: "downloaded"; at: number; cpuMs: number }
  | { type: "uploaded"; started: number; cpuMs: number };

const block = new Uint8Array(1 << 20).fill(2);
const session = http2.connect(process.argv[2], { settings: wideWindowSettings });
await new Promise<void>((resolve, reject) => {
  session.once("connect", () => resolve());
  session.once("error", reject);
});
session.setLocalWindowSize(SESSION_WINDOW_BYTES);

const cpuSince = (from: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1000;
};

function download(mib: number, keep: boolean): void {
  const cpu = process.cpuUsage();
  const request = session.request({ ":path": `/down/${mib}` });
  request.on("data", receiveBlocks(mib, keep));
  request.once("end", () => void toParent({ type: "downloaded", at: epochMs(), cpuMs: cpuSince(cpu) }));
  request.end();
}

function upload(mib: number, keep: boolean): void {
  const started = epochMs();
  const cpu = process.cpuUsage();
  const request = session.request({ ":path": `/up/${mib}${keep ? "/keep" : ""}`, ":method": "POST" });
  request.on("data", () => {});
  request.once("end", () => void toParent({ type: "uploaded", started, cpuMs: cpuSince(cpu) }));
  writeBlocks(request, block, mib);
}

const onCommand = (command: PeerCommand) => {
  if (command.type === "down") download(command.mib, command.keep === true);
  else if (command.type === "up") upload(command.mib, command.keep === true);
  else {
    process.off("message", onCommand);
    session.close();
    process.disconnect();
  }
};
process.on("message", onCommand);
process.once("disconnect", () => session.close());
await toParent({ type: "ready" });
