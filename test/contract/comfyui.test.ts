import { comfyuiConnector } from '../../src/connectors/services/comfyui/index.js';
import { connectorContract } from '../../src/testing/connector-contract.js';
import { FakeComfyUI } from '../fakes/comfyui/server.js';
import { buildConnector, jestFunctions } from './build.js';

const TOKEN = 'contract-comfy-token-5e02';

function workflow(steps: number, stepMs: number): unknown {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: steps } },
    '2': { class_type: 'FakeSampler', inputs: { images: ['1', 0], steps, step_ms: stepMs } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'contract' } },
  };
}

connectorContract(jestFunctions, {
  name: 'comfyui',
  startService: async () => {
    const fake = new FakeComfyUI({ auth: { token: TOKEN } });
    return { url: await fake.start(), close: () => fake.close() };
  },
  create: url => {
    const { hostname, port } = new URL(url);
    return buildConnector(comfyuiConnector, {
      WORKER_COMFYUI_HOST: hostname,
      WORKER_COMFYUI_PORT: port,
      WORKER_COMFYUI_API_KEY: TOKEN,
    });
  },
  validJob: workflow(5, 10),
  longJob: workflow(10_000, 100),
  secrets: [TOKEN],
});
