import * as z from 'zod';
import { jsonPointer, payloadSchema } from '../../../core/schema.js';
import { webhookField } from '../../../webhooks/job-webhook.js';
import { uploadUrlsField } from '../../payload-schemas.js';
import { InvalidInputError } from '../../../core/errors.js';
import { MAX_INPUT_IMAGES, parseInputImages, type InputImage } from '../../../media/inputs.js';
import { isPlainObject, type JsonObject } from '../../../core/validate.js';

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

const nodeSchema = z
  .looseObject({
    class_type: z.string().regex(/\S/).describe('a non-empty string naming the node class, e.g. "KSampler"'),
    inputs: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('input name → value, or a link ["<node id>", <output index>]'),
  })
  .describe('one node: {class_type, inputs}');

/** An API-format workflow graph (ComfyUI "Save (API Format)"). */
const graphSchema = z
  .record(z.string(), nodeSchema)
  .describe('ComfyUI API-format workflow: node id → {class_type, inputs}');

const extraDataSchema = z
  .record(z.string(), z.unknown())
  .nullish()
  .describe('Sent to ComfyUI as extra_data (e.g. extra_pnginfo)');

/** Input images uploaded to ComfyUI before the prompt (checked further by parseInputImages). */
const imagesSchema = z
  .array(
    z.strictObject({
      name: z
        .string()
        .min(1)
        .describe('file name the workflow\'s LoadImage node refers to (no "/", "\\" or "..")'),
      image: z.string().min(1).describe('base64, a data:image/…;base64, URL or an http(s) URL'),
    }),
  )
  .max(MAX_INPUT_IMAGES)
  .nullish()
  .describe('Input images, uploaded to ComfyUI before the prompt is queued (docs/media.md)');

const promptForm = z.strictObject({
  prompt: graphSchema,
  extra_data: extraDataSchema,
  images: imagesSchema,
  webhook: webhookField.optional(),
  upload_urls: uploadUrlsField.optional(),
});
const workflowForm = z.strictObject({
  workflow: graphSchema,
  extra_data: extraDataSchema,
  images: imagesSchema,
  webhook: webhookField.optional(),
  upload_urls: uploadUrlsField.optional(),
});

/** Job data of the `comfyui` connector in its three forms (docs/schemas/comfyui.json). */
export const comfyuiJobSchema = payloadSchema(
  z
    .union([promptForm, workflowForm, graphSchema])
    .describe(
      'comfyui job: {prompt, extra_data?}, {workflow, extra_data?} or a bare API-format graph (use a wrapper form to add a webhook)',
    ),
);
const formParsers = {
  prompt: payloadSchema(promptForm),
  workflow: payloadSchema(workflowForm),
  graph: payloadSchema(graphSchema),
};

/**
 * Reads the three payload forms of docs/connectors/comfyui.md — a bare graph,
 * `{prompt, extra_data?, images?}` or `{workflow, extra_data?, images?}` — and checks the
 * graph before anything is sent: the shape by {@link comfyuiJobSchema}, then that every
 * link is `["<node id>", <output>]` pointing at a node of the graph, then the input images.
 * Errors name the JSON pointer.
 */
export function parseComfyJob(data: unknown): ComfyJob {
  // Own keys only: a "prompt" inherited from Object.prototype must not pick a form.
  const wrapperKey = isPlainObject(data)
    ? Object.hasOwn(data, 'prompt') && !looksLikeNode(data.prompt)
      ? 'prompt'
      : Object.hasOwn(data, 'workflow') && !looksLikeNode(data.workflow)
        ? 'workflow'
        : undefined
    : undefined;
  if (wrapperKey === undefined) {
    rejectUiFormat(data, '');
    formParsers.graph.parse(data);
    return { prompt: checkGraph(data as JsonObject, ''), extraData: undefined, images: [] };
  }
  const body = data as JsonObject;
  rejectUiFormat(body[wrapperKey], `/${wrapperKey}`);
  const parsed = formParsers[wrapperKey].parse(data);
  return {
    prompt: checkGraph(body[wrapperKey] as JsonObject, `/${wrapperKey}`),
    extraData: parsed.extra_data ?? undefined,
    images: parseInputImages(body.images, 'images'),
  };
}

function looksLikeNode(value: unknown): boolean {
  return isPlainObject(value) && Object.hasOwn(value, 'class_type');
}

function rejectUiFormat(value: unknown, pointer: string): void {
  if (isPlainObject(value) && Array.isArray(value.nodes) && Array.isArray(value.links)) {
    throw new InvalidInputError(
      `${pointer || 'job data'}: is a UI-format workflow (it has "nodes" and "links"); export it from ComfyUI with "Save (API Format)"`,
    );
  }
}

/** The links of a graph whose shape the schema already checked (own keys of the producer's object). */
function checkGraph(value: JsonObject, pointer: string): WorkflowGraph {
  const ids = Object.keys(value);
  if (ids.length === 0) throw new InvalidInputError(`${pointer || 'job data'}: has no nodes`);
  if (ids.length > MAX_NODES) {
    throw new InvalidInputError(
      `${pointer || 'job data'}: has ${ids.length} nodes, more than the ${MAX_NODES} allowed`,
    );
  }
  // Null prototype and own-key lookups only: node ids are the job's ("__proto__", "constructor").
  const graph = Object.create(null) as WorkflowGraph;
  for (const id of ids) {
    const node = value[id] as WorkflowNode;
    const inputs = node.inputs ?? {};
    for (const [name, input] of Object.entries(inputs)) {
      if (!Array.isArray(input)) continue;
      const where = `${pointer}${jsonPointer([id, 'inputs', name])}: node "${id}" (${node.class_type})`;
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
        throw new InvalidInputError(`${where}: a list must be a link ["<node id>", <output index>]`);
      }
      if (!Object.hasOwn(value, sourceId)) {
        throw new InvalidInputError(`${where} links to node "${sourceId}", which is not in the workflow`);
      }
    }
    Object.defineProperty(graph, id, {
      value: { ...node, class_type: node.class_type, inputs },
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return graph;
}
