import { describe, expect, test } from '@jest/globals';
import { InvalidInputError, ServiceFailedError } from '../../src/core/errors.js';
import { WorkflowProgress } from '../../src/connectors/services/comfyui/progress.js';
import {
  describePromptRejection,
  historyFailure,
  queueState,
} from '../../src/connectors/services/comfyui/protocol.js';
import { parseComfyJob } from '../../src/connectors/services/comfyui/workflow.js';

const graph = {
  '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 0 } },
  '2': { class_type: 'FakeSampler', inputs: { images: ['1', 0], steps: 10 } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'x' } },
};

describe('parseComfyJob: the three payload forms of docs/connectors/comfyui.md', () => {
  test('a bare graph', () => {
    expect(parseComfyJob(graph)).toEqual({ prompt: graph, extraData: undefined, images: [] });
  });
  test('{prompt, extra_data}', () => {
    const job = parseComfyJob({ prompt: graph, extra_data: { extra_pnginfo: { a: 1 } } });
    expect(job.prompt).toEqual(graph);
    expect(job.extraData).toEqual({ extra_pnginfo: { a: 1 } });
  });
  test('{workflow}', () => {
    expect(parseComfyJob({ workflow: graph }).prompt).toEqual(graph);
  });
  test('a bare graph whose node id is "prompt" is still a graph', () => {
    const odd = { prompt: { class_type: 'FakeText', inputs: { text: 'hi' } } };
    expect(parseComfyJob(odd).prompt).toEqual(odd);
  });

  test.each([
    ['not an object', 'hello', /^job data: expected object, got "hello"$/],
    ['an empty graph', {}, /^job data: has no nodes$/],
    [
      'a node without class_type',
      { '1': { inputs: {} } },
      /^\/1\/class_type: is required \(a non-empty string naming the node class/,
    ],
    [
      'inputs not an object',
      { '1': { class_type: 'X', inputs: [1] } },
      /^\/1\/inputs: expected object, got an array$/,
    ],
    [
      'a malformed link',
      { '1': { class_type: 'X', inputs: { a: ['2'] } } },
      /^\/1\/inputs\/a: node "1" \(X\): a list must be a link/,
    ],
    [
      'a dangling link',
      { '1': { class_type: 'X', inputs: { a: ['9', 0] } } },
      /^\/1\/inputs\/a: node "1" \(X\) links to node "9", which is not in the workflow$/,
    ],
    [
      'a UI-format workflow',
      { workflow: { nodes: [], links: [] } },
      /^\/workflow: is a UI-format workflow.*Save \(API Format\)/,
    ],
    [
      'unknown wrapper fields',
      { prompt: graph, client_id: 'x' },
      /^job data: unknown field "client_id" \(allowed: prompt, extra_data, images, webhook, upload_urls\)$/,
    ],
    [
      'extra_data not an object',
      { prompt: graph, extra_data: 3 },
      /^\/extra_data: expected object or null, got 3$/,
    ],
    ['a wrapped non-object', { prompt: 'x' }, /^\/prompt: expected object, got "x"$/],
  ])('rejects %s naming the place', (_label, data, message) => {
    expect(() => parseComfyJob(data)).toThrow(InvalidInputError);
    expect(() => parseComfyJob(data)).toThrow(message);
  });
});

describe('describePromptRejection: old and new ComfyUI error shapes', () => {
  test('node_errors name node ids, classes and messages', () => {
    const text = describePromptRejection(400, {
      error: {
        type: 'prompt_outputs_failed_validation',
        message: 'Prompt outputs failed validation',
        details: '',
        extra_info: {},
      },
      node_errors: {
        '1': {
          errors: [
            {
              type: 'value_smaller_than_min',
              message: 'Value 0 smaller than min of 1',
              details: 'width',
              extra_info: {},
            },
          ],
          dependent_outputs: ['2'],
          class_type: 'EmptyImage',
        },
      },
    });
    expect(text).toBe(
      'ComfyUI rejected the workflow (HTTP 400): Prompt outputs failed validation; node 1 (EmptyImage): value_smaller_than_min: Value 0 smaller than min of 1 [width]',
    );
  });
  test('invalid_prompt keeps its details (the node id)', () => {
    const text = describePromptRejection(400, {
      error: {
        type: 'invalid_prompt',
        message: 'Cannot execute because node Nope does not exist.',
        details: "Node ID '#4'",
        extra_info: {},
      },
      node_errors: {},
    });
    expect(text).toContain("Cannot execute because node Nope does not exist.: Node ID '#4'");
  });
  test('the old {error: "no prompt", node_errors: []} shape', () => {
    expect(describePromptRejection(400, { error: 'no prompt', node_errors: [] })).toBe(
      'ComfyUI rejected the workflow (HTTP 400): no prompt',
    );
  });
  test('a body that is not JSON', () => {
    expect(describePromptRejection(400, 'Bad Request')).toBe(
      'ComfyUI rejected the workflow (HTTP 400): Bad Request',
    );
  });
});

describe('history and queue readers', () => {
  test('an execution_error in history becomes a ServiceFailedError naming node, class and exception', () => {
    const error = historyFailure('p1', {
      status: {
        status_str: 'error',
        completed: false,
        messages: [
          ['execution_start', { prompt_id: 'p1' }],
          [
            'execution_error',
            {
              prompt_id: 'p1',
              node_id: '5',
              node_type: 'KSampler',
              exception_type: 'torch.OutOfMemoryError',
              exception_message: 'CUDA out of memory',
            },
          ],
        ],
      },
    });
    expect(error).toBeInstanceOf(ServiceFailedError);
    expect(error?.message).toBe(
      'ComfyUI execution error in node 5 (KSampler) of prompt p1: torch.OutOfMemoryError: CUDA out of memory',
    );
    expect(error?.retryable).toBe(false);
    expect(error).toMatchObject({ service: 'ComfyUI', nodeId: '5' });
  });
  test('an interrupted prompt says so', () => {
    const error = historyFailure('p1', {
      status: {
        status_str: 'error',
        completed: false,
        messages: [['execution_interrupted', { node_id: '3', node_type: 'FakeSampler' }]],
      },
    });
    expect(error?.message).toMatch(/prompt p1 was interrupted at node 3 \(FakeSampler\)/);
  });
  test('success, and old entries without status, are not failures', () => {
    expect(
      historyFailure('p', { status: { status_str: 'success', completed: true, messages: [] } }),
    ).toBeUndefined();
    expect(historyFailure('p', { outputs: {} })).toBeUndefined();
  });
  test('queueState finds running and pending prompts and counts those ahead', () => {
    const body = {
      queue_running: [[1, 'a', {}, {}, []]],
      queue_pending: [
        [3, 'c', {}, {}, []],
        [2, 'b', {}, {}, []],
      ],
    };
    expect(queueState(body, 'a')).toEqual({ state: 'running' });
    expect(queueState(body, 'c')).toEqual({ state: 'pending', ahead: 2 });
    expect(queueState(body, 'b')).toEqual({ state: 'pending', ahead: 1 });
    expect(queueState(body, 'z')).toEqual({ state: 'unknown' });
  });
});

describe('WorkflowProgress: across the whole workflow, never decreasing', () => {
  test('cached nodes, node starts and weighted sampler steps', () => {
    const progress = new WorkflowProgress(parseComfyJob(graph).prompt);
    const seen: number[] = [];
    seen.push(Number(progress.cached(['1']).progress));
    seen.push(Number(progress.executing('2').progress));
    for (let step = 1; step <= 10; step++) seen.push(Number(progress.steps(step, 10, '2').progress));
    const last = progress.executing('3');
    seen.push(Number(last.progress));
    seen.push(Number(progress.executed('3').progress));
    expect(seen[0]).toBeCloseTo(100 / 3);
    expect(seen[6]).toBeCloseTo(100 / 3 + 50 / 3);
    expect(last).toMatchObject({ node: '3', class_type: 'SaveImage' });
    expect(seen[seen.length - 1]).toBe(99);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1] ?? 0);
  });
  test('a step report carries node, class, step and total', () => {
    const progress = new WorkflowProgress(parseComfyJob(graph).prompt);
    expect(progress.steps(3, 10, '2')).toMatchObject({
      node: '2',
      class_type: 'FakeSampler',
      step: 3,
      total_steps: 10,
      status: 'sampling',
    });
  });
  test('a progress that goes back (a second sampler pass) never lowers the percent', () => {
    const progress = new WorkflowProgress(parseComfyJob(graph).prompt);
    const high = Number(progress.steps(9, 10, '2').progress);
    expect(Number(progress.steps(1, 10, '2').progress)).toBe(high);
  });
});

describe('WorkflowProgress ETA', () => {
  test('estimated from the speed since nodes started running, once there is a second of data', () => {
    let now = 1_000_000;
    const progress = new WorkflowProgress(parseComfyJob(graph).prompt, () => now);
    expect(progress.cached(['1']).eta).toBeUndefined();
    progress.executing('2');
    now += 500;
    expect(progress.steps(1, 10, '2').eta).toBeUndefined();
    now += 1500;
    // 2 s for half of node 2 = 1/6 of the work: the remaining 1/2 takes about 6 s.
    const update = progress.steps(5, 10, '2');
    expect(update.progress).toBeCloseTo(50);
    expect(update.eta).toBe(6);
  });
});
