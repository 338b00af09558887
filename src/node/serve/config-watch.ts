import { unwatchFile, watchFile } from "node:fs";
import { errorMessage } from "../../common/errors.js";
import { homePaths, readConfig } from "../config/home.js";
import { configKeys, type NodeConfig, type ReadableKey, readableKeys } from "../config/node-config.js";

/** One key `config set` changed while the node was serving, and whether serving applied it. */
export interface ConfigChange {
  key: ReadableKey;
  value: unknown;
  live: boolean;
}

export interface ConfigWatch {
  /** Re-reads config.json now (SIGHUP); changes go to `onChange` as for a watched edit. */
  reload(): Promise<void>;
  close(): void;
}

/**
 * Keeps a running node's config in step with `config.json`: `fbm-node config set` (another process)
 * replaces the file atomically; the file is polled (fs.watch misses renames on some file systems) and
 * every changed key is passed to `onChange`. An unreadable file is reported and the last config kept.
 */
export function watchConfig(
  homeDir: string,
  initial: NodeConfig,
  handlers: { onChange: (next: NodeConfig, changes: ConfigChange[]) => void; onError: (message: string) => void },
): ConfigWatch {
  const path = homePaths(homeDir).config;
  let current = initial;
  let reading = Promise.resolve();
  const reload = () => {
    reading = reading.then(async () => {
      let next: NodeConfig;
      try {
        next = await readConfig(homeDir);
      } catch (error) {
        handlers.onError(`Cannot reload the config (keeping the one in use): ${errorMessage(error)}`);
        return;
      }
      const changes = readableKeys
        .filter((key) => JSON.stringify(next[key]) !== JSON.stringify(current[key]))
        .map((key) => ({ key, value: next[key], live: configKeys[key].live }));
      current = next;
      if (changes.length > 0) handlers.onChange(next, changes);
    });
    return reading;
  };
  const listener = () => void reload();
  watchFile(path, { interval: 250, persistent: false }, listener);
  return { reload, close: () => unwatchFile(path, listener) };
}
