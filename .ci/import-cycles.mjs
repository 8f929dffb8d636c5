#!/usr/bin/env node
// Fails (exit 1) on an import cycle in src/: between two files, or between two top-level
// folders of src/ (src/config ⇄ src/connectors is a cycle even when no single file imports
// itself back). Type-only imports count: a folder that needs another's types depends on it.
// Usage: node .ci/import-cycles.mjs [root=src]
import path from 'node:path';
import madge from 'madge';

const root = process.argv[2] ?? 'src';
const graph = await madge(root, {
  fileExtensions: ['ts'],
  tsConfig: 'tsconfig.json',
  detectiveOptions: { ts: { skipTypeImports: false } },
});

const problems = [];
for (const cycle of graph.circular()) problems.push(`file cycle: ${[...cycle, cycle[0]].join(' → ')}`);

/** The top-level folder of a file relative to `root` ('.' for files directly in it). */
const folderOf = file => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');
const folders = new Map();
for (const [file, imports] of Object.entries(graph.obj())) {
  const from = folderOf(file);
  for (const imported of imports) {
    const to = folderOf(imported);
    if (to === from) continue;
    if (!folders.has(from)) folders.set(from, new Map());
    const edges = folders.get(from);
    if (!edges.has(to)) edges.set(to, `${file} → ${imported}`);
  }
}

// Depth-first search for a back edge; each cycle is reported once with one import per step.
const state = new Map(); // folder → 'open' | 'done'
const stack = [];
const seen = new Set();
function visit(folder) {
  state.set(folder, 'open');
  stack.push(folder);
  for (const next of folders.get(folder)?.keys() ?? []) {
    if (state.get(next) === 'open') {
      const cycle = stack.slice(stack.indexOf(next));
      const key = [...cycle].sort().join(',');
      if (!seen.has(key)) {
        seen.add(key);
        const steps = cycle.map((from, i) => folders.get(from).get(cycle[(i + 1) % cycle.length]));
        problems.push(
          `folder cycle: ${[...cycle, next].map(f => path.join(root, f)).join(' ⇄ ')}\n    ${steps.join('\n    ')}`,
        );
      }
    } else if (!state.has(next)) {
      visit(next);
    }
  }
  stack.pop();
  state.set(folder, 'done');
}
for (const folder of folders.keys()) if (!state.has(folder)) visit(folder);

const files = Object.keys(graph.obj());
if (problems.length > 0) {
  process.stderr.write(`import cycles in ${root}/ (${files.length} files):\n${problems.join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(
  `no import cycle in ${root}/ (${files.length} files, ${new Set(files.map(folderOf)).size} folders)\n`,
);
