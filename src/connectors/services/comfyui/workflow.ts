import { InvalidInputError } from '../../errors.js';
import { parseInputImages, type InputImage } from '../../../media/inputs.js';
import { describeType, isPlainObject, rejectUnknownFields, type JsonObject } from '../../validate.js';

/** One node of an API-format workflow. */
export interface WorkflowNode {
  class_type: string;
  inputs: JsonObject;
  [extra: string]: unknown;
}

/** An API-format workflow: node id → node. */
export type WorkflowGraph = Record<string, WorkflowNode>;

/** A validated ComfyUI job. */
export interface ComfyJob {
  prompt: WorkflowGraph;
  /** Sent as `extra_data` (our `client_id` is added by ComfyUI from the request). */
  extraData: JsonObject | undefined;
  /** Input images to upload before queueing (`images: [{name, image}]`); checked by parseInputImages. */
  images: InputImage[];
}

/** Most nodes a workflow may have (a typo guard, far above real workflows). */
export const MAX_NODES = 5000;

/**
 * Reads the three payload forms of docs/connectors/comfyui.md — a bare graph,
 * `{prompt, extra_data?, images?}` or `{workflow, extra_data?, images?}` — and checks the
 * graph's shape before anything is sent:
 * every node has a `class_type` and `inputs`, every link is `["<node id>", <output>]`
 * and points at a node of the graph. Errors name the node and input.
 */
export function parseComfyJob(data: unknown): ComfyJob {
  if (!isPlainObject(data)) {
    throw new InvalidInputError(
      `job data must be a ComfyUI API-format workflow (a JSON object), got ${describeType(data)}`,
    );
  }
  const wrapperKey =
    Object.hasOwn(data, 'prompt') && !looksLikeNode(data.prompt)
      ? 'prompt'
      : Object.hasOwn(data, 'workflow') && !looksLikeNode(data.workflow)
        ? 'workflow'
        : undefined;
  if (wrapperKey === undefined) {
    return { prompt: parseGraph(data, 'job data'), extraData: undefined, images: [] };
  }
  rejectUnknownFields(data, [wrapperKey, 'extra_data', 'images']);
  const extra = data.extra_data;
  if (extra !== undefined && extra !== null && !isPlainObject(extra)) {
    throw new InvalidInputError(`field "extra_data" must be a JSON object, got ${describeType(extra)}`);
  }
  return {
    prompt: parseGraph(data[wrapperKey], `field "${wrapperKey}"`),
    extraData: extra ?? undefined,
    images: parseInputImages(data.images, 'images'),
  };
}

function looksLikeNode(value: unknown): boolean {
  return isPlainObject(value) && Object.hasOwn(value, 'class_type');
}

function parseGraph(value: unknown, what: string): WorkflowGraph {
  if (!isPlainObject(value)) {
    throw new InvalidInputError(
      `${what} must be a ComfyUI API-format workflow (node id → {class_type, inputs}), got ${describeType(value)}`,
    );
  }
  if (Array.isArray(value.nodes) && Array.isArray(value.links)) {
    throw new InvalidInputError(
      `${what} is a UI-format workflow (it has "nodes" and "links"); export it from ComfyUI with "Save (API Format)"`,
    );
  }
  const ids = Object.keys(value);
  if (ids.length === 0) throw new InvalidInputError(`${what} has no nodes`);
  if (ids.length > MAX_NODES) {
    throw new InvalidInputError(`${what} has ${ids.length} nodes, more than the ${MAX_NODES} allowed`);
  }
  // Null prototype and own-key lookups only: node ids are the job's ("__proto__", "constructor").
  const graph = Object.create(null) as WorkflowGraph;
  for (const id of ids) {
    const node = value[id];
    const where = `node "${id}"`;
    if (!isPlainObject(node)) {
      throw new InvalidInputError(
        `${where} must be an object {class_type, inputs}, got ${describeType(node)}`,
      );
    }
    if (typeof node.class_type !== 'string' || node.class_type.trim() === '') {
      throw new InvalidInputError(`${where} has no "class_type" (a non-empty string naming the node class)`);
    }
    const inputs = node.inputs ?? {};
    if (!isPlainObject(inputs)) {
      throw new InvalidInputError(
        `${where} (${node.class_type}): "inputs" must be an object, got ${describeType(inputs)}`,
      );
    }
    for (const [name, input] of Object.entries(inputs)) {
      if (!Array.isArray(input)) continue;
      // ComfyUI reads every list input as a link [source node id, output index].
      const [source, index] = input as unknown[];
      const sourceId = typeof source === 'number' ? String(source) : source;
      if (
        input.length !== 2 ||
        typeof sourceId !== 'string' ||
        typeof index !== 'number' ||
        !Number.isInteger(index) ||
        index < 0
      ) {
        throw new InvalidInputError(
          `${where} (${node.class_type}) input "${name}": a list must be a link ["<node id>", <output index>]`,
        );
      }
      if (!Object.hasOwn(value, sourceId)) {
        throw new InvalidInputError(
          `${where} (${node.class_type}) input "${name}" links to node "${sourceId}", which is not in the workflow`,
        );
      }
    }
    graph[id] = { ...node, class_type: node.class_type, inputs };
  }
  return graph;
}
