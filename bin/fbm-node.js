#!/usr/bin/env node
// `fbm-node` from the repository: run the TypeScript sources through tsx.
import { register } from "tsx/esm/api";

register();
await import("../src/node/main.ts");
