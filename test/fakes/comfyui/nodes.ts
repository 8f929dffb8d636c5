import { createHash, randomBytes } from 'node:crypto';
import { TINY_GIF, solidPng } from './png.js';

/** An input of a node class, as /object_info describes it. */
export interface InputSpec {
  type: 'INT' | 'STRING' | 'IMAGE' | 'FLOAT' | 'BOOLEAN';
  default?: number | string;
  min?: number;
  max?: number;
}

/** The fake's in-memory IMAGE value. */
export interface FakeImage {
  width: number;
  height: number;
  batch: number;
  color: number;
}

/** What a running node can do (mirrors ComfyUI's ProgressBar, interrupt checks and file saving). */
export interface RunContext {
  /** A ProgressBar update: checks the interrupt flag, then sends `progress`. */
  progress(value: number, max: number): void;
  /** A binary preview frame (type 1, PNG). */
  preview(png: Buffer): void;
  /** Waits, noticing an interrupt. */
  sleep(ms: number): Promise<void>;
  /** Writes a file that /view serves. */
  save(type: 'output' | 'temp', subfolder: string, filename: string, bytes: Buffer): void;
  /** Next free counter for files named `<prefix>_<counter>_` in a folder. */
  counter(subfolder: string, prefix: string): number;
  /** Reads a file of the input/output/temp folder (`sub/name.png` allowed), as LoadImage does. */
  load(type: 'input' | 'output' | 'temp', name: string): Buffer | undefined;
}

/** ComfyUI's exception for a node that raised (becomes `execution_error`). */
export class NodeException extends Error {
  constructor(
    readonly exceptionType: string,
    message: string,
  ) {
    super(message);
  }
}

/** One node class of the fake. */
export interface NodeClass {
  name: string;
  displayName: string;
  category: string;
  description: string;
  required: Record<string, InputSpec>;
  optional?: Record<string, InputSpec>;
  output: string[];
  outputNode: boolean;
  /** VALIDATE_INPUTS: a message when the literal inputs are unusable (`exists` looks into the folders). */
  validate?(
    inputs: Record<string, unknown>,
    exists: (type: 'input', name: string) => boolean,
  ): string | undefined;
  /** IS_CHANGED returns the time: never served from cache. */
  neverCached?: boolean;
  run(
    inputs: Record<string, unknown>,
    ctx: RunContext,
  ): Promise<{ result: unknown[]; ui?: Record<string, unknown[]> }>;
}

function asImage(value: unknown): FakeImage {
  return value as FakeImage;
}

/** `ComfyUI/sub/name` → subfolder `sub`, base `name` (folder_paths.get_save_image_path). */
function splitPrefix(prefix: string): { subfolder: string; base: string } {
  const index = prefix.lastIndexOf('/');
  return index < 0
    ? { subfolder: '', base: prefix }
    : { subfolder: prefix.slice(0, index), base: prefix.slice(index + 1) };
}

function saveImages(image: FakeImage, prefix: string, type: 'output' | 'temp', ctx: RunContext): unknown[] {
  const { subfolder, base } = splitPrefix(prefix);
  const files: unknown[] = [];
  for (let i = 0; i < image.batch; i++) {
    const counter = ctx.counter(subfolder, base);
    const filename = `${base}_${String(counter).padStart(5, '0')}_.png`;
    ctx.save(type, subfolder, filename, solidPng(image.width, image.height, image.color));
    files.push({ filename, subfolder, type });
  }
  return files;
}

const IMAGE_IN: InputSpec = { type: 'IMAGE' };

/** The node classes the fake knows: ComfyUI's model-free ones plus small test nodes. */
export const NODE_CLASSES: Record<string, NodeClass> = {
  EmptyImage: {
    name: 'EmptyImage',
    displayName: 'EmptyImage',
    category: 'image',
    description: '',
    required: {
      width: { type: 'INT', default: 512, min: 1, max: 16384 },
      height: { type: 'INT', default: 512, min: 1, max: 16384 },
      batch_size: { type: 'INT', default: 1, min: 1, max: 4096 },
      color: { type: 'INT', default: 0, min: 0, max: 0xffffff },
    },
    output: ['IMAGE'],
    outputNode: false,
    run: async inputs => ({
      result: [
        {
          width: Number(inputs.width),
          height: Number(inputs.height),
          batch: Number(inputs.batch_size),
          color: Number(inputs.color),
        },
      ],
    }),
  },
  SaveImage: {
    name: 'SaveImage',
    displayName: 'Save Image',
    category: 'image',
    description: 'Saves the input images to your ComfyUI output directory.',
    required: { images: IMAGE_IN, filename_prefix: { type: 'STRING', default: 'ComfyUI' } },
    output: [],
    outputNode: true,
    run: async (inputs, ctx) => ({
      result: [],
      ui: { images: saveImages(asImage(inputs.images), String(inputs.filename_prefix), 'output', ctx) },
    }),
  },
  PreviewImage: {
    name: 'PreviewImage',
    displayName: 'Preview Image',
    category: 'image',
    description: 'Saves the input images to your ComfyUI temp directory.',
    required: { images: IMAGE_IN },
    output: [],
    outputNode: true,
    run: async (inputs, ctx) => ({
      result: [],
      ui: {
        images: saveImages(
          asImage(inputs.images),
          `ComfyUI_temp_${randomBytes(3).toString('hex').slice(0, 5)}`,
          'temp',
          ctx,
        ),
      },
    }),
  },
  SaveImageWebsocket: {
    name: 'SaveImageWebsocket',
    displayName: 'SaveImageWebsocket',
    category: 'api node/image',
    description: '',
    required: { images: IMAGE_IN },
    output: [],
    outputNode: true,
    neverCached: true,
    run: async (inputs, ctx) => {
      const image = asImage(inputs.images);
      for (let i = 0; i < image.batch; i++) {
        // Observed: value counts from 0 and never reaches max; each update is followed by the image.
        ctx.progress(i, image.batch);
        ctx.preview(solidPng(image.width, image.height, image.color));
      }
      return { result: [] };
    },
  },
  LoadImage: {
    name: 'LoadImage',
    displayName: 'Load Image',
    category: 'image',
    description: 'Loads an image from the input folder (what POST /upload/image stored).',
    required: { image: { type: 'STRING' } },
    output: ['IMAGE', 'MASK'],
    outputNode: false,
    // ComfyUI's IS_CHANGED hashes the file: a new upload under the same name runs again.
    neverCached: true,
    validate: (inputs, exists) =>
      typeof inputs.image === 'string' && exists('input', inputs.image)
        ? undefined
        : `Invalid image file: ${String(inputs.image)}`,
    run: async (inputs, ctx) => {
      const bytes = ctx.load('input', String(inputs.image));
      if (!bytes) throw new NodeException('FileNotFoundError', `Invalid image file: ${String(inputs.image)}`);
      const isPng = bytes
        .subarray(0, 8)
        .equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      // The image's "colour" is taken from its hash, so outputs show which input was read.
      const color = createHash('sha256').update(bytes).digest().readUIntBE(0, 3);
      const image: FakeImage = {
        width: isPng && bytes.length >= 24 ? Math.min(bytes.readUInt32BE(16), 64) : 8,
        height: isPng && bytes.length >= 24 ? Math.min(bytes.readUInt32BE(20), 64) : 8,
        batch: 1,
        color,
      };
      return { result: [image, image] };
    },
  },
  FakeSaveNoise: {
    name: 'FakeSaveNoise',
    displayName: 'Fake Save Noise (test)',
    category: 'testing',
    description:
      'Saves one file of `bytes` random bytes (after a PNG signature) to the output folder: large outputs without large images.',
    required: {
      images: IMAGE_IN,
      bytes: { type: 'INT', default: 1048576, min: 16, max: 1 << 30 },
      filename_prefix: { type: 'STRING', default: 'noise' },
    },
    output: [],
    outputNode: true,
    run: async (inputs, ctx) => {
      const { subfolder, base } = splitPrefix(String(inputs.filename_prefix));
      const filename = `${base}_${String(ctx.counter(subfolder, base)).padStart(5, '0')}_.png`;
      const bytes = randomBytes(Number(inputs.bytes));
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes);
      ctx.save('output', subfolder, filename, bytes);
      return { result: [], ui: { images: [{ filename, subfolder, type: 'output' }] } };
    },
  },
  FakeSampler: {
    name: 'FakeSampler',
    displayName: 'Fake Sampler (test)',
    category: 'testing',
    description:
      'A model-free stand-in for KSampler: `steps` ProgressBar updates, `step_ms` apart, with a preview frame each.',
    required: {
      images: IMAGE_IN,
      steps: { type: 'INT', default: 20, min: 1, max: 10000 },
    },
    optional: { step_ms: { type: 'INT', default: 0, min: 0, max: 600000 } },
    output: ['IMAGE'],
    outputNode: false,
    run: async (inputs, ctx) => {
      const steps = Number(inputs.steps);
      const image = asImage(inputs.images);
      for (let step = 1; step <= steps; step++) {
        await ctx.sleep(Number(inputs.step_ms));
        ctx.progress(step, steps);
        if (step === steps || step % 10 === 0) ctx.preview(solidPng(8, 8, image.color));
      }
      return { result: [{ ...image, color: (image.color + 1) & 0xffffff }] };
    },
  },
  FakeError: {
    name: 'FakeError',
    displayName: 'Fake Error (test)',
    category: 'testing',
    description: 'Raises an exception when it runs.',
    required: { images: IMAGE_IN, message: { type: 'STRING', default: 'boom' } },
    output: ['IMAGE'],
    outputNode: false,
    run: async inputs => {
      throw new NodeException('RuntimeError', String(inputs.message));
    },
  },
  FakeText: {
    name: 'FakeText',
    displayName: 'Show Text (test)',
    category: 'testing',
    description: 'An output node with a `text` UI output.',
    required: { text: { type: 'STRING', default: '' } },
    output: [],
    outputNode: true,
    run: async inputs => ({ result: [], ui: { text: [String(inputs.text)] } }),
  },
  FakeVideoCombine: {
    name: 'FakeVideoCombine',
    displayName: 'Video Combine (test)',
    category: 'testing',
    description: 'Writes an animated GIF and reports it under `gifs`, like VHS_VideoCombine.',
    required: {
      images: IMAGE_IN,
      frame_rate: { type: 'INT', default: 8, min: 1, max: 120 },
      filename_prefix: { type: 'STRING', default: 'AnimateDiff' },
    },
    output: [],
    outputNode: true,
    run: async (inputs, ctx) => {
      const { subfolder, base } = splitPrefix(String(inputs.filename_prefix));
      const filename = `${base}_${String(ctx.counter(subfolder, base)).padStart(5, '0')}.gif`;
      ctx.save('output', subfolder, filename, TINY_GIF);
      return {
        result: [],
        ui: {
          gifs: [
            {
              filename,
              subfolder,
              type: 'output',
              format: 'image/gif',
              frame_rate: Number(inputs.frame_rate),
            },
          ],
        },
      };
    },
  },
};

/** `/object_info` for one class, in ComfyUI's shape. */
export function objectInfo(node: NodeClass): Record<string, unknown> {
  const spec = (inputs: Record<string, InputSpec>): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(inputs).map(([name, input]) => {
        const options: Record<string, unknown> = {};
        if (input.default !== undefined) options.default = input.default;
        if (input.min !== undefined) options.min = input.min;
        if (input.max !== undefined) options.max = input.max;
        return [name, Object.keys(options).length ? [input.type, options] : [input.type]];
      }),
    );
  return {
    input: { required: spec(node.required), ...(node.optional ? { optional: spec(node.optional) } : {}) },
    input_order: {
      required: Object.keys(node.required),
      ...(node.optional ? { optional: Object.keys(node.optional) } : {}),
    },
    output: node.output,
    output_is_list: node.output.map(() => false),
    output_name: node.output,
    name: node.name,
    display_name: node.displayName,
    description: node.description,
    python_module: node.category === 'testing' ? 'custom_nodes.fake' : 'nodes',
    category: node.category,
    output_node: node.outputNode,
  };
}
