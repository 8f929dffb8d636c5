import fs from 'node:fs';
import { expect } from '@jest/globals';

/**
 * Checks that every code block of docs/writing-a-connector.md marked `// from <source>` is
 * in that source file verbatim, and that there are at least `minimum` of them.
 */
export function expectGuideExcerptsIn(source: string, minimum: number): void {
  const guide = fs.readFileSync('docs/writing-a-connector.md', 'utf8');
  const text = fs.readFileSync(source, 'utf8');
  const marker = `\`\`\`ts\n// from ${source}\n`;
  const excerpts = guide
    .split(marker)
    .slice(1)
    .map(rest => rest.slice(0, rest.indexOf('```')));
  expect(excerpts.length).toBeGreaterThanOrEqual(minimum);
  for (const excerpt of excerpts) expect(text).toContain(excerpt.trimEnd());
}
