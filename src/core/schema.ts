import * as z from 'zod';
import { InvalidInputError } from './errors.js';
import { MAX_JSON_DEPTH, nestingExceeds } from '../json/depth.js';

/**
 * Runtime validation with the same zod definitions that generate docs/schemas/*.json.
 * Errors name the JSON pointer of the bad field and what was expected, e.g.
 * `/steps: expected integer ≥ 1 and ≤ 10000, got "abc"`.
 */

/** Most problems listed in one failure reason. */
const MAX_ISSUES = 3;

/** `an array`, `a string`, `null`... for error messages. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'undefined') return 'nothing';
  return `a ${typeof value}`;
}

/** A value as shown after "got": numbers and short strings verbatim, the type otherwise. */
export function describeValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') {
    return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  }
  return describeType(value);
}

/** RFC 6901 JSON pointer of a path; the whole document is shown as `job data`. */
export function jsonPointer(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'job data';
  return path.map(part => `/${String(part).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** Minimal view of the generated JSON Schema, walked to say what a field expects. */
interface JsonSchemaNode {
  type?: string | string[];
  properties?: Record<string, JsonSchemaNode>;
  additionalProperties?: JsonSchemaNode | boolean;
  items?: JsonSchemaNode;
  anyOf?: JsonSchemaNode[];
  oneOf?: JsonSchemaNode[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  description?: string;
}

/** The sub-schema at a path, or undefined when the path leaves the schema (or goes through a union). */
function schemaAt(root: JsonSchemaNode, path: readonly PropertyKey[]): JsonSchemaNode | undefined {
  let node: JsonSchemaNode | undefined = root;
  for (const part of path) {
    if (!node) return undefined;
    node = childOf(node, part);
  }
  return node;
}

function childOf(node: JsonSchemaNode, part: PropertyKey): JsonSchemaNode | undefined {
  if (typeof part === 'number') return node.items;
  const key = String(part);
  if (node.properties && Object.hasOwn(node.properties, key)) return node.properties[key];
  if (typeof node.additionalProperties === 'object') return node.additionalProperties;
  // A union: the first form that has the field (a wrapper's property wins over a record).
  const options = node.anyOf ?? node.oneOf ?? [];
  const named = options.find(option => option.properties && Object.hasOwn(option.properties, key));
  const found = named ?? options.find(option => typeof option.additionalProperties === 'object');
  return found ? childOf(found, part) : undefined;
}

/** "integer ≥ 1 and ≤ 10000", "string of at most 2048 characters", "one of "GET", "POST""... */
export function describeSchema(node: JsonSchemaNode | undefined): string | undefined {
  if (!node) return undefined;
  const options = node.anyOf ?? node.oneOf;
  if (options) {
    const described = options.map(option => describeSchema(option));
    if (described.some(text => text === undefined)) return node.description;
    return [...new Set(described)].join(' or ');
  }
  if (node.description && node.pattern) return node.description;
  if (node.enum) return `one of ${node.enum.map(v => JSON.stringify(v)).join(', ')}`;
  if (node.const !== undefined) return JSON.stringify(node.const);
  const type = Array.isArray(node.type) ? node.type.join(' or ') : node.type;
  if (!type) return undefined;
  const bounds: string[] = [];
  if (node.minimum !== undefined) bounds.push(`≥ ${node.minimum}`);
  if (node.exclusiveMinimum !== undefined) bounds.push(`> ${node.exclusiveMinimum}`);
  if (node.maximum !== undefined) bounds.push(`≤ ${node.maximum}`);
  if (node.exclusiveMaximum !== undefined) bounds.push(`< ${node.exclusiveMaximum}`);
  const length = (min: number | undefined, max: number | undefined, unit: string): string | undefined => {
    if (min !== undefined && max !== undefined) return `of ${min} to ${max} ${unit}`;
    if (max !== undefined) return `of at most ${max} ${unit}`;
    if (min !== undefined) return min === 1 ? 'that is not empty' : `of at least ${min} ${unit}`;
    return undefined;
  };
  const size =
    type === 'string'
      ? length(node.minLength, node.maxLength, 'characters')
      : type === 'array'
        ? length(node.minItems, node.maxItems, 'items')
        : undefined;
  return `${type}${bounds.length > 0 ? ` ${bounds.join(' and ')}` : ''}${size ? ` ${size}` : ''}`;
}

/** What a pattern-checked field means, in words (its `describe()` text). */
function patternDescription(node: JsonSchemaNode | undefined): string | undefined {
  if (!node) return undefined;
  const options = node.anyOf ?? node.oneOf ?? [];
  if (node.pattern || options.some(option => option.pattern)) {
    return node.description ?? options.find(option => option.pattern)?.description;
  }
  return undefined;
}

function sizeOf(value: unknown): string {
  if (Array.isArray(value)) return `${value.length} items`;
  return describeValue(value);
}

/** One zod issue as `<pointer>: expected …, got …`. */
function describeIssue(issue: z.core.$ZodIssue, jsonSchema: JsonSchemaNode): string {
  const pointer = jsonPointer(issue.path);
  const input = (issue as { input?: unknown }).input;
  const expected = describeSchema(schemaAt(jsonSchema, issue.path));
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = Object.keys(schemaAt(jsonSchema, issue.path)?.properties ?? {});
      const names = issue.keys.map(key => JSON.stringify(key)).join(', ');
      return `${pointer}: unknown field${issue.keys.length > 1 ? 's' : ''} ${names}${allowed.length > 0 ? ` (allowed: ${allowed.join(', ')})` : ''}`;
    }
    case 'invalid_type':
      if (input === undefined) return `${pointer}: is required (${expected ?? issue.expected})`;
      return `${pointer}: expected ${expected ?? issue.expected}, got ${describeValue(input)}`;
    case 'too_big':
    case 'too_small':
      return `${pointer}: expected ${expected ?? issue.message}, got ${sizeOf(input)}`;
    case 'invalid_value':
      return `${pointer}: expected one of ${issue.values.map(v => JSON.stringify(v)).join(', ')}, got ${describeValue(input)}`;
    case 'invalid_format':
      return `${pointer}: expected ${patternDescription(schemaAt(jsonSchema, issue.path)) ?? expected ?? `a string matching ${(issue as { pattern?: string }).pattern ?? 'its format'}`}, got ${describeValue(input)}`;
    case 'custom':
      return `${pointer}: ${issue.message}`;
    case 'invalid_union': {
      // An object that fits no form: report the form it got furthest into.
      const best = closestBranch(issue.errors);
      if (best && typeof input === 'object' && input !== null && !Array.isArray(input)) {
        return describeIssue({ ...best, path: [...issue.path, ...best.path] }, jsonSchema);
      }
      return `${pointer}: ${expected ? `expected ${expected}` : 'matches none of the accepted forms'}, got ${describeValue(input)}`;
    }
    default:
      return `${pointer}: ${issue.message}`;
  }
}

/** The first issue of the union branch whose issues reach deepest into the data. */
function closestBranch(branches: z.core.$ZodIssue[][]): z.core.$ZodIssue | undefined {
  let best: z.core.$ZodIssue[] | undefined;
  let bestDepth = -1;
  for (const branch of branches) {
    const depth = Math.max(-1, ...branch.map(item => item.path.length));
    if (depth > bestDepth) {
      best = branch;
      bestDepth = depth;
    }
  }
  return best?.[0];
}

/** A zod schema with its generated JSON Schema, ready to validate untrusted data. */
export interface PayloadSchema<T> {
  /** The definition: validation and the published JSON Schema come from it. */
  readonly schema: z.ZodType<T>;
  /** The JSON Schema (docs/schemas/<name>.json, `emp-worker schema <name>`). */
  readonly jsonSchema: Record<string, unknown>;
  /** Checks nesting depth, then the schema; throws {@link InvalidInputError} naming pointers. */
  parse(value: unknown): T;
}

/** JSON Schema of a zod definition, as published (draft 2020-12, input side). */
export function toJsonSchema(
  schema: z.ZodType,
  meta: { id?: string; title?: string } = {},
): Record<string, unknown> {
  const generated = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return {
    $schema: generated.$schema,
    ...(meta.id ? { $id: meta.id } : {}),
    ...(meta.title ? { title: meta.title } : {}),
    ...Object.fromEntries(Object.entries(generated).filter(([key]) => key !== '$schema')),
  };
}

/** Wraps a zod definition for runtime validation with pointer-naming errors. */
export function payloadSchema<T>(schema: z.ZodType<T>): PayloadSchema<T> {
  let jsonSchema: Record<string, unknown> | undefined;
  const json = (): Record<string, unknown> => (jsonSchema ??= toJsonSchema(schema));
  return {
    schema,
    get jsonSchema() {
      return json();
    },
    parse(value: unknown): T {
      // Before zod walks it (recursively): the worker's processor checks too, but a
      // connector's own parse may be called from elsewhere (tests, the board, the CLI).
      if (nestingExceeds(value)) {
        throw new InvalidInputError(
          `job data is too deeply nested (more than ${MAX_JSON_DEPTH} levels of arrays or objects)`,
        );
      }
      // Without `reportInput` first: it makes zod skip its compiled fast path, ten times
      // slower on every valid job. Only data that fails is parsed again for the error text.
      const result = schema.safeParse(value);
      if (result.success) return result.data;
      const issues = schema.safeParse(value, { reportInput: true }).error?.issues ?? result.error.issues;
      const shown = issues.slice(0, MAX_ISSUES).map(issue => describeIssue(issue, json() as JsonSchemaNode));
      const more = issues.length > MAX_ISSUES ? `; and ${issues.length - MAX_ISSUES} more` : '';
      throw new InvalidInputError(`${shown.join('; ')}${more}`);
    },
  };
}
