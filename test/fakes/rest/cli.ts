import { option } from './http.js';
import { startFakeRest } from './server.js';

/**
 * `npm run fake:rest -- --port 8000`: the fake JSON REST service, for trying the `rest`
 * and `rest_async` connectors by hand. Env: FAKE_REST_PORT, FAKE_REST_API_KEY,
 * FAKE_REST_USERNAME, FAKE_REST_PASSWORD, FAKE_REST_LATENCY_MS.
 */
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const apiKey = option(argv, 'api-key', 'FAKE_REST_API_KEY', '');
  const username = option(argv, 'username', 'FAKE_REST_USERNAME', '');
  const password = option(argv, 'password', 'FAKE_REST_PASSWORD', '');
  const fake = await startFakeRest({
    port: Number(option(argv, 'port', 'FAKE_REST_PORT', '8000')),
    host: option(argv, 'host', 'FAKE_REST_HOST', '127.0.0.1'),
    latencyMs: Number(option(argv, 'latency-ms', 'FAKE_REST_LATENCY_MS', '0')),
    record: false,
    ...(apiKey ? { apiKey } : {}),
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
  });
  process.stdout.write(
    `fake REST service listening on ${fake.url} (POST /api/process; POST /api/submit, GET /api/status/{id}, GET /api/result/{id})\n`,
  );
  const stop = (): void => {
    void fake.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `fake REST service failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
