/**
 * Job data is hostile: a producer in any language can write arrays nested 200,000 deep,
 * which every recursive walk (`JSON.stringify`, validators, redaction, the board) turns
 * into "Maximum call stack size exceeded". Data nested deeper than this is refused as bad
 * input before anything walks it, and the redactors stop here too. Real payloads (ComfyUI
 * workflows with their UI copy in `extra_pnginfo`) stay far below it; serde_json uses the
 * same limit.
 */
export const MAX_JSON_DEPTH = 128;

/** What the redactors write in place of a value nested deeper than {@link MAX_JSON_DEPTH}. */
export const TOO_DEEP_MARKER = '[nested too deeply]';

/**
 * True when `value` nests arrays/objects more than `max` levels deep (a scalar is level
 * 0, `[]` level 1). Iterative, so it cannot overflow the stack it protects; it stops at
 * the first branch that is too deep.
 */
export function nestingExceeds(value: unknown, max = MAX_JSON_DEPTH): boolean {
  if (typeof value !== 'object' || value === null) return false;
  // Most job data and results are one flat object: answered without allocating the stacks.
  if (max >= 1 && !hasObjectChild(value)) return false;
  // Two parallel stacks rather than {value, depth} records: this runs on every job's data.
  const values: object[] = [value];
  const depths: number[] = [1];
  for (let item = values.pop(); item !== undefined; item = values.pop()) {
    const depth = depths.pop() ?? 0;
    if (depth > max) return true;
    if (Array.isArray(item)) {
      for (const child of item as unknown[]) {
        if (typeof child === 'object' && child !== null) {
          values.push(child);
          depths.push(depth + 1);
        }
      }
      continue;
    }
    const record = item as Record<string, unknown>;
    for (const key in record) {
      const child = record[key];
      if (typeof child === 'object' && child !== null && Object.hasOwn(record, key)) {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/** True when an array or object holds (as an own value) another array or object. */
function hasObjectChild(value: object): boolean {
  if (Array.isArray(value)) {
    for (const child of value as unknown[]) if (typeof child === 'object' && child !== null) return true;
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const child = record[key];
    if (typeof child === 'object' && child !== null && Object.hasOwn(record, key)) return true;
  }
  return false;
}
