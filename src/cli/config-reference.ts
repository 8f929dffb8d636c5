import fs from 'node:fs';
import { renderConfigReference } from '../config/reference.js';
import { connectorSchemas } from '../connectors/registry.js';

// `npm run docs:config`: writes the configuration reference rendered from the one schema.
const target = process.argv[2] ?? 'docs/configuration.md';
fs.writeFileSync(target, renderConfigReference(connectorSchemas));
process.stdout.write(`wrote ${target}\n`);
