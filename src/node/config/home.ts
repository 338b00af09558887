import { chmod, mkdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../../common/atomic-write.js";
import { errorMessage, InputError } from "../../common/errors.js";
import { parseOrThrow } from "../../common/validation.js";
import { type Catalogue, createCatalogue } from "../catalogue/catalogue.js";
import { createNodeIdentity, identityPaths } from "../identity/identity.js";
import { checkReadableKey, type NodeConfig, newNodeConfig, nodeConfigSchema, parseConfigValue } from "./node-config.js";

export type { NodeConfig } from "./node-config.js";

/** An opened node home: its folder, config and dataset catalogue. */
export interface NodeHome {
  dir: string;
  config: NodeConfig;
  catalogue: Catalogue;
}

/** The files of a node home. */
export function homePaths(dir: string): {
  config: string;
  catalogue: string;
  plans: string;
  privacy: string;
  contributions: string;
} {
  return {
    config: join(dir, "config.json"),
    catalogue: join(dir, "catalogue.json"),
    plans: join(dir, "plans.json"),
    privacy: join(dir, "privacy.json"),
    contributions: join(dir, "secagg-contributions.json"),
  };
}

/** The home folder, absolute: `--home`, else `$FBM_NODE_HOME`, else `./fbm-node`. */
export function resolveHome(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag || env.FBM_NODE_HOME || "fbm-node");
}

/** Creates `config.json`, an empty catalogue and the node's key pair in `dir`; refuses if a home is already there. */
export async function initHome(dir: string, options: { name?: string; researcher?: string } = {}): Promise<NodeConfig> {
  const paths = homePaths(dir);
  for (const file of [paths.config, paths.catalogue, ...Object.values(identityPaths(dir))]) {
    if (await exists(file)) {
      throw new InputError(
        `A node home already exists at ${dir} (found ${file}); use another --home or remove it first`,
      );
    }
  }
  const config = newNodeConfig(options);
  await makePrivateFolder(dir);
  const catalogue = await createCatalogue({ path: paths.catalogue });
  await writeFileAtomic(paths.catalogue, `${JSON.stringify(catalogue.store.getContent(), null, 2)}\n`);
  await catalogue.close();
  await createNodeIdentity(dir, config.node_id);
  await writeConfig(dir, config);
  return config;
}

/** Reads `config.json`, with a message saying how to create the home when there is none. */
export async function readConfig(dir: string): Promise<NodeConfig> {
  const path = homePaths(dir).config;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new InputError(`No node home at ${dir}: run \`fbm-node init --home ${dir}\` first`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InputError(`Node config ${path} is not valid JSON (${errorMessage(error)})`);
  }
  return parseOrThrow(nodeConfigSchema, json, `Invalid node config ${path}`);
}

/** Opens the home: config plus catalogue. Call `catalogue.close()` when done if you started `watch()`. */
export async function loadHome(dir: string): Promise<NodeHome> {
  const config = await readConfig(dir);
  const catalogue = await createCatalogue({ path: homePaths(dir).catalogue });
  return { dir, config, catalogue };
}

/** The value of one config key (`config get`). */
export async function getConfig(dir: string, key: string): Promise<string | boolean | number> {
  const config = await readConfig(dir);
  return config[checkReadableKey(key)] ?? "";
}

/** Sets one config key from its text form (`config set`), validated, saved atomically; returns the new config. */
export async function setConfig(dir: string, key: string, value: string): Promise<NodeConfig> {
  const config = await readConfig(dir);
  const parsed = parseConfigValue(key, value);
  const next = { ...config, [key]: parsed } as NodeConfig;
  await writeConfig(dir, next);
  return next;
}

async function writeConfig(dir: string, config: NodeConfig): Promise<void> {
  await writeFileAtomic(homePaths(dir).config, `${JSON.stringify(config, null, 2)}\n`);
}

/** Creates the home (0700 whatever the umask: it holds the key and the data paths), or says why it cannot. */
async function makePrivateFolder(dir: string): Promise<void> {
  const found = await stat(dir).catch(() => undefined);
  if (found && !found.isDirectory()) {
    throw new InputError(`Cannot create a node home at ${dir}: it is a file; fix: give --home a folder path`);
  }
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOTDIR" || code === "EEXIST"
        ? "a file stands in its path"
        : code === "EACCES" || code === "EPERM" || code === "EROFS"
          ? "permission denied"
          : errorMessage(error);
    throw new InputError(`Cannot create a node home at ${dir}: ${why}; fix: give --home a folder you can write`, {
      cause: error,
    });
  }
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}
