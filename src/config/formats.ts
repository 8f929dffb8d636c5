import convict from 'convict';

/** Names of the custom convict formats this project registers. */
export const formats = {
  positiveInt: 'positive-int',
  optionalPositiveInt: 'optional-positive-int',
  positiveSeconds: 'positive-seconds',
  optionalPort: 'optional-port',
  redisUrl: 'redis-url',
  httpUrl: 'http-url',
  boolean: 'strict-boolean',
  hostPortList: 'host-port-list',
  listenHost: 'listen-host',
} as const;

/** One `host:port` of a list such as REDIS_SENTINELS. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses `host:port,host:port` (IPv6 hosts in brackets: `[::1]:26379`); empty text is an
 * empty list. Throws naming the first malformed entry.
 */
export function parseHostPorts(text: string): HostPort[] {
  if (text.trim() === '') return [];
  return text.split(',').map(raw => {
    const entry = raw.trim();
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[2]);
    if (!match?.[1] || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`entry "${entry}" is not host:port (e.g. 10.0.0.5:26379, [::1]:26379)`);
    }
    return { host: match[1].replace(/^\[|\]$/g, ''), port };
  });
}

/** A format's check: throws an Error whose message says what the value must be. */
export type FormatCheck = (value: unknown) => void;

/** The checks of every format registered through {@link addFormat}, by name. */
const namedChecks = new Map<string, FormatCheck>();

/**
 * Registers a named format with convict and keeps its check, so that `loadConfig` can
 * run it per key and build messages from its own words (src/config/validate.ts).
 */
export function addFormat(format: {
  name: string;
  validate: FormatCheck;
  coerce?: (value: unknown) => unknown;
}): void {
  namedChecks.set(format.name, format.validate);
  convict.addFormat(format);
}

/**
 * The check of a named format: ours (see {@link addFormat}) or convict's built-ins this
 * project uses (`nat`, `int`, `port`), with our wording. Undefined for other names.
 */
export function namedFormatCheck(name: string): FormatCheck | undefined {
  return namedChecks.get(name) ?? BUILT_IN_CHECKS[name];
}

const BUILT_IN_CHECKS: Readonly<Record<string, FormatCheck>> = {
  nat(value) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new Error('must be a whole number of 0 or more');
    }
  },
  int(value) {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw new Error('must be a whole number');
  },
  port(value) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
      throw new Error('must be a TCP port from 0 to 65535');
    }
  },
};

let registered = false;

/** Registers the project's convict formats once per process (convict's format table is global). */
export function registerFormats(): void {
  if (registered) return;
  registered = true;
  addFormat({
    name: formats.positiveInt,
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
        throw new Error('must be a whole number of 1 or more');
      }
    },
    coerce: (value: unknown) =>
      typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value,
  });
  addFormat({
    name: formats.optionalPositiveInt,
    validate(value: unknown) {
      if (value === null) return;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
        throw new Error('must be a whole number of 1 or more, or empty for none');
      }
    },
    coerce: (value: unknown) => {
      if (typeof value !== 'string') return value;
      if (value.trim() === '') return null;
      return /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
    },
  });
  addFormat({
    name: formats.positiveSeconds,
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
        throw new Error('must be a number of seconds greater than 0');
      }
    },
    coerce: (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? Number(value) : value),
  });
  addFormat({
    name: formats.optionalPort,
    validate(value: unknown) {
      if (value === null) return;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
        throw new Error('must be a TCP port from 0 to 65535 (0 picks a free port), or empty to disable');
      }
    },
    coerce: (value: unknown) => {
      if (typeof value !== 'string') return value;
      if (value.trim() === '') return null;
      return /^\s*\d+\s*$/.test(value) ? Number(value) : value;
    },
  });
  addFormat({
    name: formats.listenHost,
    // An IP literal or a host name, nothing else (no port, no scheme).
    validate(value: unknown) {
      if (typeof value !== 'string' || !/^([0-9a-fA-F:.]+|[A-Za-z0-9.-]+)$/.test(value)) {
        throw new Error('must be an interface address such as 127.0.0.1, 0.0.0.0 or ::');
      }
    },
  });
  addFormat({
    name: formats.redisUrl,
    validate(value: unknown) {
      if (typeof value !== 'string') throw new Error('must be a redis:// or rediss:// URL');
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw new Error('must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379');
      }
      if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
        throw new Error('must start with redis:// or rediss://');
      }
      if (url.hostname === '') throw new Error('must name a host, e.g. redis://127.0.0.1:6379');
    },
  });
  addFormat({
    name: formats.hostPortList,
    validate(value: unknown) {
      if (typeof value !== 'string') throw new Error('must be a comma-separated list of host:port');
      parseHostPorts(value);
    },
  });
  addFormat({
    name: formats.httpUrl,
    validate(value: unknown) {
      if (typeof value !== 'string') throw new Error('must be an http:// or https:// URL');
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw new Error('must be an http:// or https:// URL, e.g. http://localhost:8000');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new Error('must start with http:// or https://');
      }
    },
  });
  addFormat({
    name: formats.boolean,
    validate(value: unknown) {
      if (typeof value !== 'boolean') throw new Error('must be true or false');
    },
    coerce: (value: unknown) => {
      if (typeof value !== 'string') return value;
      const lower = value.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(lower)) return true;
      if (['false', '0', 'no', 'off', ''].includes(lower)) return false;
      return value;
    },
  });
}
