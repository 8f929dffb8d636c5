import type { Schema } from 'convict';
import {
  commonConnectorSchema,
  connectorEnv,
  nonEmptyString,
  serviceAuthSchema,
  type CommonConnectorConfig,
  type ServiceAuthConfig,
} from '../../../config/connector-schema.js';
import { formats } from '../../../config/formats.js';

/** Settings every WebSocket-speaking connector has (HOST, PORT, USE_SSL, auth; docs/configuration.md). */
export interface WebSocketServiceConfig extends CommonConnectorConfig, ServiceAuthConfig {
  /** Host name or IP of the service. */
  host: string;
  /** TCP port of the service. */
  port: number;
  /** wss/https instead of ws/http. */
  useSsl: boolean;
  /** Seconds to open the socket (TCP + TLS + upgrade) before giving up. */
  connectTimeout: number;
  /** Seconds between keep-alive pings; a ping unanswered by the next one drops the socket. */
  pingInterval: number;
  /** Seconds one HTTP request to the service may take. */
  requestTimeout: number;
}

/** The host, port, TLS, auth and socket-timing keys of a WebSocket connector, with its defaults. */
export function webSocketServiceSchema(
  connector: string,
  defaults: { concurrency: number; timeoutSeconds: number; host: string; port: number },
): Schema<WebSocketServiceConfig> {
  return {
    ...commonConnectorSchema(connector, defaults),
    ...serviceAuthSchema(connector),
    host: {
      doc: `Host name or IP of the ${connector} service.`,
      format: nonEmptyString,
      default: defaults.host,
      env: connectorEnv(connector, 'HOST'),
    },
    port: {
      doc: `TCP port of the ${connector} service.`,
      format: 'port',
      default: defaults.port,
      env: connectorEnv(connector, 'PORT'),
    },
    useSsl: {
      doc: `Use wss:// and https:// to reach ${connector}.`,
      format: formats.boolean,
      default: false,
      env: connectorEnv(connector, 'USE_SSL'),
    },
    connectTimeout: {
      doc: `Seconds to open the WebSocket to ${connector} (TCP, TLS and upgrade) before the attempt fails.`,
      format: formats.positiveSeconds,
      default: 10,
      env: connectorEnv(connector, 'CONNECT_TIMEOUT'),
    },
    pingInterval: {
      doc: `Seconds between WebSocket keep-alive pings to ${connector}; a ping unanswered by the next one drops and reopens the socket.`,
      format: formats.positiveSeconds,
      default: 15,
      env: connectorEnv(connector, 'PING_INTERVAL'),
    },
    requestTimeout: {
      doc: `Seconds one HTTP request to ${connector} may take.`,
      format: formats.positiveSeconds,
      default: 30,
      env: connectorEnv(connector, 'REQUEST_TIMEOUT'),
    },
  };
}
