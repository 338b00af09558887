// A real headless browser for the tests of web pages: Debian's Chromium driven by playwright-core
// (which downloads nothing). `.ci/run` installs Chromium when it is missing; FBM_CHROMIUM points elsewhere.
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

const candidates = [
  process.env.FBM_CHROMIUM,
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
];

export function chromiumPath(): string {
  const found = candidates.find((path): path is string => path !== undefined && path !== "" && existsSync(path));
  if (found === undefined) {
    throw new Error(
      "no Chromium found: install Debian's chromium package (apt-get install chromium) or set FBM_CHROMIUM",
    );
  }
  return found;
}

/** Launches headless Chromium; the caller closes it (use `t.after(() => browser.close())`). */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: ["--no-sandbox"] });
}
