#!/usr/bin/env node
// Fails (exit 1) on an import cycle in src/: between two files, or between two top-level
// folders of src/ (src/config ⇄ src/connectors is a cycle even when no single file imports
// itself back). Type-only imports count: a folder that needs another's types depends on it.
// Folder cycles listed in .ci/import-cycles-known.txt (debt from before the check) are
// reported but pass; a listed cycle that is gone fails too, so the list only shrinks.
// Usage: node .ci/import-cycles.mjs [root=src]
import fs from 'node:fs';
import path from 'node:path';
import madge from 'madge';

const root = process.argv[2] ?? 'src';
const graph = await madge(root, {
  fileExtensions: ['ts'],
  tsConfig: 'tsconfig.json',
  detectiveOptions: { ts: { skipTypeImports: false } },
});

const problems = [];
const knownFile = path.join(path.dirname(new URL(import.meta.url).pathname), 'import-cycles-known.txt');
const known = new Set(
  fs
    .readFileSync(knownFile, 'utf8')
    .split('\n')
    .map(line => line.trim())
    .filter(line => line !== '' && !line.startsWith('#')),
);
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

// Folders in a cycle are the strongly connected components of more than one folder
// (Tarjan); each is named by its folders in alphabetical order, with one import per edge.
let counter = 0;
const index = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const components = [];
function connect(folder) {
  index.set(folder, counter);
  low.set(folder, counter);
  counter++;
  stack.push(folder);
  onStack.add(folder);
  for (const next of folders.get(folder)?.keys() ?? []) {
    if (!index.has(next)) {
      connect(next);
      low.set(folder, Math.min(low.get(folder), low.get(next)));
    } else if (onStack.has(next)) {
      low.set(folder, Math.min(low.get(folder), index.get(next)));
    }
  }
  if (low.get(folder) === index.get(folder)) {
    const component = [];
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      component.push(member);
    } while (member !== folder);
    if (component.length > 1) components.push(component.sort());
  }
}
for (const folder of [...folders.keys()].sort()) if (!index.has(folder)) connect(folder);

const knownSeen = new Set();
for (const component of components) {
  const name = component.map(f => path.join(root, f)).join(' ⇄ ');
  if (known.has(name)) {
    knownSeen.add(name);
    process.stdout.write(`known folder cycle (debt, see .ci/import-cycles-known.txt): ${name}\n`);
    continue;
  }
  const members = new Set(component);
  const edges = component.flatMap(from =>
    [...(folders.get(from) ?? new Map()).entries()]
      .filter(([to]) => members.has(to))
      .map(([, example]) => example),
  );
  problems.push(`folder cycle: ${name}\n    ${edges.join('\n    ')}`);
}
for (const name of known) {
  if (!knownSeen.has(name)) {
    problems.push(`known folder cycle is gone, remove it from .ci/import-cycles-known.txt: ${name}`);
  }
}

const files = Object.keys(graph.obj());
if (problems.length > 0) {
  process.stderr.write(`import cycles in ${root}/ (${files.length} files):\n${problems.join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(
  `no import cycle in ${root}/ beyond the known ones (${files.length} files, ${new Set(files.map(folderOf)).size} folders)\n`,
);
