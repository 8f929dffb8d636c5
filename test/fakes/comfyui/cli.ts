import { parseArgs } from 'node:util';
import { FakeComfyUI } from './server.js';

/**
 * `npm run fake:comfyui [-- --port 8188 --username u --password p --legacy]`: a fake
 * ComfyUI for trying the worker without a GPU. Prints its URL; Ctrl-C stops it.
 */
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8188' },
    host: { type: 'string', default: '127.0.0.1' },
    username: { type: 'string' },
    password: { type: 'string' },
    token: { type: 'string' },
    legacy: { type: 'boolean', default: false },
    'node-delay-ms': { type: 'string', default: '0' },
  },
});

const auth =
  values.username !== undefined || values.password !== undefined || values.token !== undefined
    ? { username: values.username, password: values.password, token: values.token }
    : undefined;
const fake = new FakeComfyUI({ auth, legacy: values.legacy, nodeDelayMs: Number(values['node-delay-ms']) });
const url = await fake.start(Number(values.port), values.host);
process.stdout.write(
  `fake ComfyUI listening on ${url} (WebSocket ${url.replace(/^http/, 'ws')}/ws)${auth ? ' with auth' : ''}${values.legacy ? ', legacy protocol' : ''}\n` +
    `try: WORKER_COMFYUI_HOST=${values.host} WORKER_COMFYUI_PORT=${fake.port} CONNECTORS=comfyui npm start\n`,
);
const stop = (): void => {
  fake.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
