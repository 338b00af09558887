import { Command, Option } from "@commander-js/extra-typings";
import { InputError } from "../../common/errors.js";
import { datasetTypes, describeDataset, parseTags } from "../catalogue/dataset-draft.js";
import { homePaths, loadHome, type NodeHome } from "../config/home.js";
import { parseEpsilonBudget } from "../config/node-config.js";
import { datasetPrivacy, setDatasetBudget } from "../privacy/dataset-privacy.js";
import { createPrivacyLedger } from "../privacy/privacy-ledger.js";
import type { CliContext } from "./cli-context.js";
import { datasetDetails, datasetTable } from "./cli-format.js";

/** Keys `dataset set` may change. */
const datasetKeys = ["max_epsilon"] as const;

/** `fbm-node dataset add|list|show|set|rm`: the catalogue from the command line. */
export function datasetCommand(ctx: CliContext): Command {
  const dataset = new Command("dataset").description("register, list, show and remove local datasets");

  dataset
    .command("add")
    .description("register a dataset: its files are checked and fingerprinted, then catalogued")
    .addOption(new Option("--type <type>", "dataset type").choices(datasetTypes).makeOptionMandatory())
    .requiredOption(
      "--path <path>",
      "CSV file, IDX images file, folder of class sub-folders, or folder of subject folders",
    )
    .requiredOption("--tags <tags>", "comma-separated tags researchers search for, e.g. breast-cancer,site-a")
    .option("--name <name>", "name researchers see (default: <type>-<6 hex digits of the id>, never the file name)")
    .option("--description <text>", "free text shown to researchers")
    .option("--target <column>", "csv: the target column for supervised plans")
    .option("--labels <path>", "idx: the labels file")
    .option("--demographics <path>", "medical-folder: a CSV with one row per subject")
    .option("--index-col <column>", "medical-folder: the demographics column holding subject folder names")
    .action(async (options) => {
      const tags = parseTags(options.tags);
      const home = await loadHome(ctx.homeDir());
      const draft = await describeDataset({ ...options, tags });
      const entry = await home.catalogue.addDataset(draft);
      ctx.result(
        entry,
        `Registered dataset ${entry.id} "${entry.name}" (${entry.type}, ${entry.sampleCount} samples, tags ${entry.tags.join(", ")})`,
      );
    });

  dataset
    .command("list")
    .description("list registered datasets (--json: an array)")
    .action(async () => {
      const home = await loadHome(ctx.homeDir());
      const entries = home.catalogue.listDatasets();
      ctx.result(entries, datasetTable(entries));
    });

  dataset
    .command("show")
    .description("show one dataset, with its privacy budget and the ε it has spent (--json: an object)")
    .argument("<id>", "dataset id, as listed by `dataset list`")
    .action(async (id) => {
      const home = await loadHome(ctx.homeDir());
      const entry = home.catalogue.getDataset(id);
      if (entry === undefined) throw unknownDataset(id);
      const privacy = await privacyOf(home, entry);
      ctx.result({ ...entry, privacy }, datasetDetails(entry, privacy));
    });

  dataset
    .command("set")
    .description("change one setting of a dataset (keys: max_epsilon E|none, its own privacy budget)")
    .argument("<id>", "dataset id, as listed by `dataset list`")
    .argument("<key>", `setting (${datasetKeys.join(", ")})`)
    .argument("<value>", "new value")
    .action(async (id, key, value) => {
      if (!(datasetKeys as readonly string[]).includes(key)) {
        throw new InputError(`Unknown dataset setting "${key}" (settings: ${datasetKeys.join(", ")})`);
      }
      parseEpsilonBudget(value); // a bad value fails before the home is opened
      const home = await loadHome(ctx.homeDir());
      const { entry, budget } = await setDatasetBudget(home.catalogue, id, value);
      if (entry === undefined) throw unknownDataset(id);
      const privacy = await privacyOf(home, entry);
      const left = privacy.left === undefined ? "" : `; ε ${privacy.left.toFixed(3)} left`;
      ctx.result(
        { id: entry.id, max_epsilon: budget, privacy },
        `Set max_epsilon = ${budget} for dataset ${entry.id} "${entry.name}" (ε ${privacy.spent.toFixed(3)} spent${left})`,
      );
    });

  dataset
    .command("rm")
    .description("remove a dataset from the catalogue (its files are not touched)")
    .argument("<id>", "dataset id, as listed by `dataset list`")
    .action(async (id) => {
      const home = await loadHome(ctx.homeDir());
      const entry = await home.catalogue.removeDataset(id);
      if (entry === undefined) throw unknownDataset(id);
      ctx.result({ removed: entry.id }, `Removed dataset ${entry.id} "${entry.name}"`);
    });

  return dataset;
}

async function privacyOf(home: NodeHome, entry: Parameters<typeof datasetPrivacy>[0]) {
  const ledger = await createPrivacyLedger({ path: homePaths(home.dir).privacy });
  try {
    return datasetPrivacy(entry, { ledger, maxEpsilon: home.config.max_epsilon, delta: home.config.dp_delta });
  } finally {
    await ledger.close();
  }
}

function unknownDataset(id: string): InputError {
  return new InputError(`No dataset with id "${id}" in this node's catalogue; see \`fbm-node dataset list\``);
}
