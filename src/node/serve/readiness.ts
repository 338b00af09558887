import { execFile } from "node:child_process";

/**
 * Tells systemd the node is ready (a `Type=notify` unit): Node has no datagram sockets on Unix paths
 * without a native module, so this runs systemd's own `systemd-notify --ready`, which the unit allows
 * with `NotifyAccess=all` (deploy/fbm-node.service). Without `--no-block` it waits until systemd has
 * received the message, so the helper exiting right after cannot lose it (systemd-notify(1), the note on
 * attributing messages). Without NOTIFY_SOCKET (not under systemd) it does nothing; a failure is
 * reported, never fatal: the "Ready" log line says the same to everyone else.
 */
export function notifySystemdReady(
  log: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<boolean> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve(false);
  return new Promise((done) => {
    execFile("systemd-notify", ["--ready"], { env }, (error) => {
      if (error) log(`Could not tell systemd the node is ready (systemd-notify: ${error.message})`);
      done(error === null);
    });
  });
}
