import { describe, expect, test } from '@jest/globals';
import { ConfigError, loadConfig, redactedConfig, secretValues } from '../../src/config/index.js';

describe('board settings in the one configuration schema', () => {
  test('defaults: port 3000, user admin, no password (generated at start-up), writable, rescan every 10 s, served at /', () => {
    expect(loadConfig({}).board).toEqual({
      port: 3000,
      host: '127.0.0.1',
      username: 'admin',
      password: '',
      readOnly: false,
      rescanInterval: 10,
      basePath: '/',
    });
  });

  test('every setting comes from its BULL_BOARD_* variable', () => {
    const config = loadConfig({
      BULL_BOARD_PORT: '8081',
      BULL_BOARD_HOST: '0.0.0.0',
      BULL_BOARD_USERNAME: 'ops',
      BULL_BOARD_PASSWORD: 'pw-123',
      BULL_BOARD_READ_ONLY: 'true',
      BULL_BOARD_RESCAN_INTERVAL: '2.5',
      BULL_BOARD_BASE_PATH: '/admin/queues',
    });
    expect(config.board).toEqual({
      port: 8081,
      host: '0.0.0.0',
      username: 'ops',
      password: 'pw-123',
      readOnly: true,
      rescanInterval: 2.5,
      basePath: '/admin/queues',
    });
  });

  test('the password is sensitive: masked in the printed config and scrubbed from logs', () => {
    const config = loadConfig({ BULL_BOARD_PASSWORD: 'pw-123' });
    expect(JSON.stringify(redactedConfig(config))).not.toContain('pw-123');
    expect(secretValues(config)).toContain('pw-123');
  });

  test.each([
    [{ BULL_BOARD_PORT: 'eighty' }, /BULL_BOARD_PORT="eighty" \(board\.port\)/],
    [
      { BULL_BOARD_READ_ONLY: 'maybe' },
      /BULL_BOARD_READ_ONLY="maybe" \(board\.readOnly\): must be true or false/,
    ],
    [
      { BULL_BOARD_RESCAN_INTERVAL: '0' },
      /BULL_BOARD_RESCAN_INTERVAL="0" \(board\.rescanInterval\): must be a number of seconds/,
    ],
    [
      { BULL_BOARD_BASE_PATH: 'admin' },
      /BULL_BOARD_BASE_PATH="admin" \(board\.basePath\): must be a path starting with "\/"/,
    ],
    [
      { BULL_BOARD_USERNAME: 'a:b' },
      /BULL_BOARD_USERNAME="a:b" \(board\.username\): must be a non-empty name without ":"/,
    ],
  ])('a bad value (%o) is refused naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
