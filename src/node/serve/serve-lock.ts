import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { InputError } from "../../common/errors.js";

/**
 * One `fbm-node serve` per home: two processes on one home would each retire the other's session at
 * the researcher and lose every task. `serve.pid` is created exclusively (O_EXCL) holding
 * "<pid> <host>"; a file whose process is gone (crash, kill -9) is taken over, so a restart right after
 * a crash still starts. The home lives on one host: a file from another host is never taken over.
 */
export function lockServe(homeDir: string, log?: (line: string) => void): () => void {
  const path = join(homeDir, "serve.pid");
  const mine = `${process.pid} ${hostname()}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      try {
        writeSync(fd, mine);
      } finally {
        closeSync(fd);
      }
      return () => {
        // Only our own file: a node that lost it (removed by hand) must not remove another's.
        if (readOwner(path) === mine) rmSync(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw error;
    }
    const owner = readOwner(path);
    const [pid, host] = (owner ?? "").trim().split(" ");
    const alive = Number(pid) > 0 && host === hostname() && isAlive(Number(pid));
    if (owner !== undefined && (alive || host !== hostname())) {
      throw new InputError(
        `Another fbm-node serve (pid ${pid}${host !== hostname() ? ` on ${host}` : ""}) is serving the home ${homeDir}: ` +
          `stop it first, or use another --home (if no such process runs, remove ${path})`,
      );
    }
    log?.(`Took over ${path}: its process ${pid} is gone`);
    rmSync(path, { force: true });
  }
}

function readOwner(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Whether a process with this id runs (EPERM: it does, under another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
