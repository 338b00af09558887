import http2 from "node:http2";
import type { AddressInfo } from "node:net";

/**
 * A yardstick for the transfer benchmark: MiB/s of a bare node:http2 download of `mib` MiB in 1 MiB
 * writes over loopback, in one process, with nothing but the bytes (no Connect, protobuf or fbm wire).
 */
export async function rawHttp2Rate(mib: number): Promise<number> {
  const block = new Uint8Array(1 << 20).fill(1);
  const server = http2.createServer();
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200 });
    let written = 0;
    const write = () => {
      while (written < mib) {
        written++;
        if (!stream.write(block)) return void stream.once("drain", write);
      }
      stream.end();
    };
    write();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const download = () =>
      new Promise<void>((resolve, reject) => {
        const request = client.request({ ":path": "/" });
        request.on("data", () => {});
        request.on("end", resolve);
        request.on("error", reject);
        request.end();
      });
    await download(); // warm-up
    const started = performance.now();
    await download();
    return mib / ((performance.now() - started) / 1000);
  } finally {
    client.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
