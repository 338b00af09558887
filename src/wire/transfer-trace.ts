/**
 * An env-gated timeline of a task's transfer (issue 29: what is serial on the out leg that bare
 * node:http2 is not). With FBM_TRACE_TRANSFER=1, each call writes one line to stderr: the process, the
 * event, the wall clock in epoch milliseconds (comparable across the processes of one machine) and the
 * process's CPU milliseconds so far, so two lines give a phase's time and its CPU. Off, a call is a
 * test of one constant.
 */
const enabled = process.env.FBM_TRACE_TRANSFER === "1";

export function traceTransfer(event: string): void {
  if (!enabled) return;
  const cpu = process.cpuUsage();
  const at = performance.timeOrigin + performance.now();
  process.stderr.write(
    `transfer-trace ${process.pid} ${event} at ${at.toFixed(2)} cpu ${((cpu.user + cpu.system) / 1000).toFixed(1)}\n`,
  );
}
