// usage: node --import tsx steps.mts ROOT dp|plain STEPS — trains the bench MLP for STEPS updates.
const [root, mode, steps] = process.argv.slice(2);
const { selectBackend } = await import(`${root}/src/ml/backend.ts`);
const { trainLocal } = await import(`${root}/src/ml/train.ts`);
const { benchData, benchModels } = await import(`${root}/bench/lib/train-models.ts`);
await selectBackend({});
const model = benchModels.find((m: any) => m.name === "mlp")!;
const data = benchData(model);
const dp = mode.startsWith("dp") ? { dp: { mode: "local", noiseMultiplier: 1.1, clipNorm: 1, delta: 1e-5 } } : {};
const args: any = { epochs: 0, updates: Number(steps), batchSize: model.batchSize, testRatio: 0, testOnGlobal: false, testOnLocal: false, metrics: [], seed: 1, fedproxMu: 0, ...dp };
await trainLocal({ plan: model.plan, data, args, threads: mode === "dp2" ? 2 : 1 });
