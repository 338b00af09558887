#!/usr/bin/env node
// `fbm-researcher` from the repository: run the TypeScript sources through tsx.
import { register } from "tsx/esm/api";

register();
await import("../src/researcher/cli/main.ts");
