import { build, type Plugin } from "esbuild";

/**
 * One CLI as one CommonJS file for a Node 20 single executable (its main script must be CommonJS with no
 * top-level await and no import()); returns the files that went in, repo-relative, for sea-fresh.ts.
 */
export async function bundleCli(options: { repo: string; entry: string; outfile: string }): Promise<string[]> {
  const worker = await bundleTrainingWorker(options.repo);
  const result = await build({
    absWorkingDir: options.repo,
    entryPoints: [options.entry],
    outfile: options.outfile,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    minify: true,
    keepNames: true,
    metafile: true,
    logLevel: "warning",
    plugins: [withoutNativeTensorflow],
    // Our lazy `await import("./x.js")` become bundled require()s; none may stay import() (the code cache forbids it).
    supported: { "dynamic-import": false },
    // CommonJS has no import.meta: give code that asks (createRequire, dirname) the executable's location.
    define: {
      "import.meta.url": "__fbm_import_meta_url",
      "import.meta.dirname": "__dirname",
      // The training threads' code travels inside the executable as a string (engine/worker-pool.ts).
      __FBM_ENGINE_WORKER__: JSON.stringify(worker.code),
    },
    banner: { js: 'var __fbm_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  });
  const inputs = [...Object.keys(result.metafile.inputs), ...worker.inputs];
  return [...new Set(inputs)].filter((input) => !input.startsWith("unavailable:"));
}

/**
 * A script as one ES module run by plain `node`, bundled as the executables are (same tfjs fallback),
 * without their single-executable constraints: benchmarks measure the researcher as it ships, not
 * under tsx, whose on-the-fly compilation holds ~120 MiB of its own.
 */
export async function bundleScript(options: { repo: string; entry: string; outfile: string }): Promise<void> {
  await build({
    absWorkingDir: options.repo,
    entryPoints: [options.entry],
    outfile: options.outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "warning",
    plugins: [withoutNativeTensorflow],
    // Bundled CommonJS dependencies still call require().
    banner: {
      js: 'import { createRequire as __fbmCreateRequire } from "node:module"; const require = __fbmCreateRequire(import.meta.url);',
    },
  });
}

/** The training thread (src/ml/engine/worker.ts) as one CommonJS script for `new Worker(code, { eval: true })`. */
async function bundleTrainingWorker(repo: string): Promise<{ code: string; inputs: string[] }> {
  const result = await build({
    absWorkingDir: repo,
    entryPoints: ["src/ml/engine/worker.ts"],
    write: false,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    minify: true,
    metafile: true,
    logLevel: "warning",
  });
  return { code: result.outputFiles[0].text, inputs: Object.keys(result.metafile.inputs) };
}

/**
 * `@tensorflow/tfjs-node` (optional, native) cannot live in a single file: a SEA's require() loads only
 * built-ins, and says so in a warning. This stub makes backend.ts's import of it fail quietly at once,
 * so it falls back to the embedded wasm.
 */
const withoutNativeTensorflow: Plugin = {
  name: "without-native-tensorflow",
  setup(build) {
    build.onResolve({ filter: /^@tensorflow\/tfjs-node$/ }, () => ({ path: "tfjs-node", namespace: "unavailable" }));
    build.onLoad({ filter: /.*/, namespace: "unavailable" }, () => ({
      contents: 'throw new Error("native TensorFlow (@tensorflow/tfjs-node) is not part of the single executable");',
      loader: "js",
    }));
  },
};
