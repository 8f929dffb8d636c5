import fs from 'node:fs';
import path from 'node:path';
import { renderSchema, schemaCatalog } from '../connectors/schema-catalog.js';

// `npm run docs:schemas`: writes docs/schemas/<name>.json from the zod definitions.
const dir = process.argv[2] ?? 'docs/schemas';
fs.mkdirSync(dir, { recursive: true });
for (const [name, schema] of schemaCatalog()) {
  fs.writeFileSync(path.join(dir, `${name}.json`), renderSchema(schema));
}
process.stdout.write(`wrote ${dir}/*.json\n`);
