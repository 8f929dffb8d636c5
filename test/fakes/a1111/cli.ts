import { option } from '../rest/http.js';
import { startFakeA1111 } from './server.js';

/**
 * `npm run fake:a1111 -- --port 7860`: the fake AUTOMATIC1111 API, for trying the `a1111`
 * connector by hand. Env: FAKE_A1111_PORT, FAKE_A1111_USERNAME/PASSWORD (like --api-auth),
 * FAKE_A1111_STEP_MS, FAKE_A1111_IMAGE_BYTES (base64 size of each image).
 */
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const username = option(argv, 'username', 'FAKE_A1111_USERNAME', '');
  const password = option(argv, 'password', 'FAKE_A1111_PASSWORD', '');
  const imageBytes = Number(option(argv, 'image-bytes', 'FAKE_A1111_IMAGE_BYTES', '0'));
  const fake = await startFakeA1111({
    port: Number(option(argv, 'port', 'FAKE_A1111_PORT', '7860')),
    host: option(argv, 'host', 'FAKE_A1111_HOST', '127.0.0.1'),
    stepMs: Number(option(argv, 'step-ms', 'FAKE_A1111_STEP_MS', '50')),
    ...(imageBytes > 0 ? { imageBase64Bytes: imageBytes } : {}),
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
  });
  process.stdout.write(
    `fake A1111 listening on ${fake.url} (POST /sdapi/v1/txt2img, GET /sdapi/v1/progress, POST /sdapi/v1/interrupt)\n`,
  );
  const stop = (): void => {
    void fake.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`fake A1111 failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
