import { unlink } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { writeFileAtomic } from "../../common/atomic-write.js";
import { errorMessage, FbmError, InputError } from "../../common/errors.js";
import { isLoopbackHost } from "../../common/loopback.js";
import { createCatalogue } from "../catalogue/catalogue.js";
import { type DatasetRequest, datasetTypes, describeDataset, parseTags } from "../catalogue/dataset-draft.js";
import { homePaths, readConfig } from "../config/home.js";
import { createPlanRegistry } from "../plans/plan-registry.js";
import { datasetPrivacy, type NodePrivacy, setDatasetBudget } from "../privacy/dataset-privacy.js";
import { createPrivacyLedger } from "../privacy/privacy-ledger.js";
import { requestCancel } from "../serve/cancel-request.js";
import { readNodeStatus } from "../serve/node-status.js";
import { COOKIE, cookieToken, headerToken, isLocalHost, newAccessToken, sameToken } from "./access.js";
import { guiState } from "./gui-state.js";
import { guiPage } from "./page.js";
import { previewDataset } from "./preview.js";

export interface GuiServer {
  /** The address to open, with the access token: `http://127.0.0.1:PORT/?token=…`. */
  url: string;
  token: string;
  close(): Promise<void>;
}

/**
 * `fbm-node gui`: a local web app over the node home's own files. The catalogue and the plan registry
 * are the same TinyBase files the CLI and `serve` use, through the same functions (validation, locks,
 * atomic saves), and so is the privacy ledger (read only: `serve` charges it); the page asks for the state every second and each request re-reads the files, so a
 * change made anywhere shows up.
 */
export async function startGuiServer(options: {
  homeDir: string;
  host: string;
  port: number;
  token?: string;
  log: (line: string) => void;
}): Promise<GuiServer> {
  const { homeDir } = options;
  await readConfig(homeDir); // no home: fail before listening
  const paths = homePaths(homeDir);
  const catalogue = await createCatalogue({ path: paths.catalogue });
  const registry = await createPlanRegistry({ path: paths.plans });
  const ledger = await createPrivacyLedger({ path: paths.privacy });
  const token = options.token ?? newAccessToken();
  const loopback = isLoopbackHost(options.host);
  let port = 0;

  const api = async (request: IncomingMessage, url: URL): Promise<unknown> => {
    const method = request.method ?? "GET";
    const parts = url.pathname.split("/").filter(Boolean).slice(1); // after "api"
    // The files are re-read on each request (they are small): the CLI and `serve` change them too.
    await catalogue.reload();
    // The budgets as `dataset show` reads them: the node's max_epsilon and dp_delta, and the ledger.
    const privacy = async (): Promise<NodePrivacy> => {
      const config = await readConfig(homeDir);
      await ledger.reload();
      return { ledger, maxEpsilon: config.max_epsilon, delta: config.dp_delta };
    };
    if (method === "GET" && parts[0] === "state") {
      await registry.reload();
      return guiState({
        config: await readConfig(homeDir),
        datasets: catalogue.listDatasets(),
        privacy: await privacy(),
        plans: registry.list(),
        status: await readNodeStatus(join(homeDir, "status.json")),
        alive: processAlive,
      });
    }
    if (parts[0] === "datasets") {
      if (method === "POST" && parts.length === 1) {
        const body = (await readJson(request)) as Record<string, unknown>;
        const entry = await catalogue.addDataset(await describeDataset(datasetRequest(body)));
        options.log(`GUI: registered dataset ${entry.id} "${entry.name}"`);
        return entry;
      }
      const entry = catalogue.getDataset(parts[1] ?? "");
      if (!entry) throw new InputError(`No dataset with id "${parts[1]}" in this node's catalogue`);
      if (method === "GET" && parts[2] === "preview") return previewDataset(entry);
      if (method === "POST" && parts[2] === "max_epsilon" && parts.length === 3) {
        // `fbm-node dataset set ID max_epsilon VALUE`: the same check, message and answer as its --json.
        const { value } = (await readJson(request)) as { value?: unknown };
        const set = await setDatasetBudget(catalogue, entry.id, String(value ?? ""));
        if (!set.entry) throw new InputError(`No dataset with id "${entry.id}" in this node's catalogue`);
        options.log(`GUI: set max_epsilon = ${set.budget} for dataset ${entry.id} "${entry.name}"`);
        return { id: entry.id, max_epsilon: set.budget, privacy: datasetPrivacy(set.entry, await privacy()) };
      }
      if (method === "DELETE" && parts.length === 2) {
        if (!(await catalogue.removeDataset(entry.id)))
          throw new InputError(`No dataset with id "${entry.id}" in this node's catalogue`);
        options.log(`GUI: removed dataset ${entry.id} "${entry.name}"`);
        return { removed: entry.id };
      }
    }
    if (parts[0] === "plans" && method === "POST" && parts.length === 3) {
      const id = registry.resolveId(parts[1]);
      if (parts[2] === "approve") {
        options.log(`GUI: approved plan ${id.slice(0, 12)}`);
        return registry.approve(id);
      }
      if (parts[2] === "reject") {
        const { note } = (await readJson(request)) as { note?: unknown };
        options.log(`GUI: rejected plan ${id.slice(0, 12)}`);
        return registry.reject(id, typeof note === "string" ? note : "");
      }
    }
    if (parts[0] === "task" && parts[1] === "cancel" && method === "POST" && parts.length === 2) {
      // `fbm-node task cancel ID`: the id the page showed, so a click never cancels a task that started since.
      const { taskId } = (await readJson(request)) as { taskId?: unknown };
      if (typeof taskId !== "string" || taskId === "") throw new InputError("Say which task to cancel: taskId");
      const cancelled = await requestCancel(homeDir, taskId);
      options.log(`GUI: ${cancelled.line}`);
      return { cancelled: taskId, message: cancelled.line };
    }
    throw new NotFound(`No ${method} ${url.pathname}`);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://gui.invalid");
    if (loopback && !isLocalHost(request.headers.host, options.host, port))
      return send(response, 403, { error: "This GUI answers only on its loopback address" });
    const given = url.searchParams.get("token") ?? undefined;
    if (request.method === "GET" && url.pathname === "/" && sameToken(given, token)) {
      // Trade the URL's token for a cookie, and drop it from the address bar.
      response.writeHead(303, {
        location: "/",
        "set-cookie": `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`,
      });
      return response.end();
    }
    const reading = request.method === "GET" || request.method === "HEAD";
    const allowed = reading
      ? sameToken(cookieToken(request), token) || sameToken(headerToken(request), token)
      : sameToken(headerToken(request), token);
    if (!allowed) {
      const why = reading
        ? "open the URL with ?token= that `fbm-node gui` printed"
        : "a change needs the X-FBM-Token header";
      return send(response, 401, { error: `Not authorized: ${why}` });
    }
    if (url.pathname === "/") {
      response.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy":
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'",
        "cache-control": "no-store",
      });
      return response.end(guiPage(token));
    }
    if (!url.pathname.startsWith("/api/")) return send(response, 404, { error: `No page ${url.pathname}` });
    try {
      send(response, 200, await api(request, url));
    } catch (error) {
      // 409: a request the node's state refuses (a RuntimeFailure: no task runs to cancel).
      const status =
        error instanceof NotFound ? 404 : error instanceof InputError ? 400 : error instanceof FbmError ? 409 : 500;
      if (!(error instanceof FbmError) && !(error instanceof NotFound))
        options.log(`GUI: ${request.method} ${url.pathname} failed: ${errorMessage(error)}`);
      send(response, status, { error: errorMessage(error) });
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error) => send(response, 500, { error: errorMessage(error) }));
  });
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(options.port, options.host, () => done());
  });
  port = (server.address() as AddressInfo).port;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}/?token=${token}`;
  // `fbm-node gui --print-url` re-prints it: kept in the home (owner-only, like its keys) while serving.
  const urlFile = guiUrlPath(homeDir);
  await writeFileAtomic(urlFile, `${url}\n`);
  return {
    url,
    token,
    async close() {
      await unlink(urlFile).catch(() => undefined);
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
      await ledger.close();
      await registry.close();
      await catalogue.close();
    },
  };
}

/** Where a running GUI keeps its URL with the token (mode 0600), for `fbm-node gui --print-url`. */
export function guiUrlPath(homeDir: string): string {
  return join(homeDir, "gui-url");
}

class NotFound extends Error {}

const MAX_BODY = 64 * 1024;

async function readJson(request: IncomingMessage): Promise<unknown> {
  let text = "";
  for await (const chunk of request) {
    text += chunk;
    if (text.length > MAX_BODY) throw new InputError("Request body too large");
  }
  try {
    return text === "" ? {} : JSON.parse(text);
  } catch {
    throw new InputError("Request body is not JSON");
  }
}

/** The form's fields, checked as `fbm-node dataset add` checks its flags. */
function datasetRequest(body: Record<string, unknown>): DatasetRequest {
  const text = (key: string) => {
    const value = body[key];
    return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
  };
  const type = text("type");
  if (!datasetTypes.includes(type as DatasetRequest["type"]))
    throw new InputError(`Choose a dataset type (${datasetTypes.join(", ")})`);
  const path = text("path");
  if (path === undefined) throw new InputError("Give the path of the dataset's file or folder");
  return {
    type: type as DatasetRequest["type"],
    path,
    tags: parseTags(text("tags") ?? ""),
    name: text("name"),
    description: text("description"),
    target: text("target"),
    labels: text("labels"),
  };
}

function send(response: ServerResponse, status: number, value: unknown): void {
  if (response.headersSent) return void response.end();
  response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  response.end(JSON.stringify(value));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
