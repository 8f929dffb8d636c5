import { renderSchema, schemaCatalog } from '../connectors/schema-catalog.js';
import { CliError, EXIT } from './context.js';

/**
 * `emp-worker schema [name]`: prints the JSON Schema of a connector's job data (or of
 * `progress`, `result`, `webhook-event`); without a name, lists the names. Needs no Redis.
 */
export function schemaCommand(name: string | undefined, out: NodeJS.WritableStream = process.stdout): number {
  const catalog = schemaCatalog();
  if (name === undefined) {
    out.write(`${[...catalog.keys()].join('\n')}\n`);
    return EXIT.ok;
  }
  const schema = catalog.get(name);
  if (!schema) {
    throw new CliError(`no schema named "${name}" (known: ${[...catalog.keys()].join(', ')})`, EXIT.usage);
  }
  out.write(renderSchema(schema));
  return EXIT.ok;
}
