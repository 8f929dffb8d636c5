import { registerFormats } from './formats.js';
import { fallbackEnvName } from './index.js';
import { buildSchema, type ConnectorSchemas } from './schema.js';

interface KeyDoc {
  key: string;
  env: string;
  fallback: string;
  defaultValue: string;
  doc: string;
  sensitive: boolean;
}

function collect(node: unknown, prefix: string, out: KeyDoc[]): void {
  if (typeof node !== 'object' || node === null) return;
  for (const [name, child] of Object.entries(node)) {
    if (typeof child !== 'object' || child === null) continue;
    const key = prefix ? `${prefix}.${name}` : name;
    const entry = child as { default?: unknown; env?: unknown; doc?: unknown; sensitive?: unknown };
    if (!('default' in entry)) {
      collect(child, key, out);
      continue;
    }
    const env = typeof entry.env === 'string' ? entry.env : '';
    const fallback = fallbackEnvName(key, env) ?? '';
    out.push({
      key,
      env,
      fallback,
      defaultValue: key === 'workerId' ? '<host>-<pid>' : formatDefault(entry.default),
      doc: typeof entry.doc === 'string' ? entry.doc : '',
      sensitive: entry.sensitive === true,
    });
  }
}

function formatDefault(value: unknown): string {
  if (value === null) return '(unset)';
  if (value === '') return '(empty)';
  if (Array.isArray(value)) return value.map(item => JSON.stringify(item).replace(/^"|"$/g, '')).join(',');
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? '';
}

/** The configuration reference (docs/configuration.md), rendered from the one convict schema. */
export function renderConfigReference(connectorSchemas: ConnectorSchemas): string {
  registerFormats();
  const keys: KeyDoc[] = [];
  collect(buildSchema(connectorSchemas), '', keys);
  const sections = new Map<string, KeyDoc[]>();
  for (const key of keys) {
    const section = key.key.startsWith('connectors.')
      ? `Connector: ${key.key.split('.')[1] ?? ''}`
      : key.key.startsWith('board.')
        ? 'Bull Board'
        : 'Worker';
    sections.set(section, [...(sections.get(section) ?? []), key]);
  }
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from the config schema (src/config/schema.ts plus each connector schema) by `npm run docs:config`; a test fails when it is stale. -->',
    '',
    'Every setting is an environment variable (a `.env` file in the working directory is read too).',
    'Every per-connector `WORKER_<NAME>_<KEY>` variable also works without the `WORKER_` prefix; `CONNECTORS` falls back to',
    '`WORKER_CONNECTORS`. `NODE_ENV` picks `config/<env>.json`, whose values the environment overrides.',
    'Values are validated at start-up: a bad one stops the worker with a line naming the variable (exit code 2).',
    'Secrets (marked 🔒) are never logged or printed by `emp-worker details`.',
    '',
  ];
  for (const [section, entries] of sections) {
    lines.push(`## ${section}`, '', '| variable | default | meaning |', '|---|---|---|');
    for (const entry of entries) {
      const name = entry.fallback ? `\`${entry.env}\` (or \`${entry.fallback}\`)` : `\`${entry.env}\``;
      lines.push(
        `| ${name}${entry.sensitive ? ' 🔒' : ''} | \`${entry.defaultValue}\` | ${entry.doc.replace(/\|/g, '\\|')} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}
