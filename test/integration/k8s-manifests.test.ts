import fs from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { buildSchema } from '../../src/config/schema.js';
import { connectorSchemas, loadConfigWithConnectors as loadConfig } from '../../src/connectors/registry.js';
import { fallbackEnvName } from '../../src/config/index.js';

/** The YAML blocks of the Kubernetes section of docs/deployment.md, parsed. */
function manifests(): Array<Record<string, unknown>> {
  const doc = fs.readFileSync('docs/deployment.md', 'utf8');
  const section = doc.slice(
    doc.indexOf('## Kubernetes'),
    doc.indexOf('\n## ', doc.indexOf('## Kubernetes') + 3),
  );
  const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map(match => match[1] ?? '');
  expect(blocks.length).toBeGreaterThan(0);
  return blocks.flatMap(block =>
    parseAllDocuments(block).map(document => {
      expect(document.errors).toEqual([]);
      return document.toJS() as Record<string, unknown>;
    }),
  );
}

/** Every env variable the worker, board and CLI read (including the `<NAME>_` fallbacks). */
function knownVariables(): Set<string> {
  const names = new Set<string>();
  const walk = (node: unknown, keyPath: string): void => {
    if (typeof node !== 'object' || node === null) return;
    const entry = node as Record<string, unknown>;
    if ('default' in entry) {
      if (typeof entry.env === 'string') {
        names.add(entry.env);
        const fallback = fallbackEnvName(keyPath, entry.env);
        if (fallback) names.add(fallback);
      }
      return;
    }
    for (const [key, child] of Object.entries(entry)) walk(child, keyPath ? `${keyPath}.${key}` : key);
  };
  walk(buildSchema(connectorSchemas), '');
  return names;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: EnvVar[];
  ports?: Array<{ name: string; containerPort: number }>;
  startupProbe?: { httpGet: { path: string; port: string } };
  livenessProbe?: { httpGet: { path: string; port: string } };
  readinessProbe?: { httpGet: { path: string; port: string } };
}
interface Deployment {
  kind: 'Deployment';
  metadata: { name: string };
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: { terminationGracePeriodSeconds?: number; containers: Container[] };
    };
  };
}

function byKind<T>(all: Array<Record<string, unknown>>, kind: string): T[] {
  return all.filter(item => item.kind === kind) as T[];
}

/** The plain values of a container's env, as the worker would see them. */
function plainEnv(container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
  }
  return env;
}

describe('Kubernetes manifests in docs/deployment.md', () => {
  const all = manifests();
  const deployments = byKind<Deployment>(all, 'Deployment');
  const worker = deployments.find(d => d.metadata.name === 'emp-worker-comfyui');
  const board = deployments.find(d => d.metadata.name === 'emp-bull-board');

  test('valid YAML: a worker Deployment, a board Deployment and Service, a KEDA ScaledObject', () => {
    expect(all.map(item => item.kind).sort()).toEqual([
      'Deployment',
      'Deployment',
      'ScaledObject',
      'Service',
    ]);
    for (const deployment of deployments) {
      expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    }
  });

  test('every variable is one emp-worker reads, and the worker config they make is valid', () => {
    const known = knownVariables();
    const containers = [worker, board].flatMap(d => d?.spec.template.spec.containers ?? []);
    const ours = containers.filter(c => c.name === 'worker' || c.name === 'board');
    expect(ours).toHaveLength(2);
    for (const container of ours) {
      for (const variable of container.env ?? []) {
        expect({
          container: container.name,
          variable: variable.name,
          known: known.has(variable.name),
        }).toEqual({
          container: container.name,
          variable: variable.name,
          known: true,
        });
      }
      // Secrets come from the cluster; a stand-in makes the rest loadable.
      const env = {
        ...plainEnv(container),
        REDIS_PASSWORD: 'from-secret',
        BULL_BOARD_PASSWORD: 'from-secret',
      };
      expect(() => loadConfig(env)).not.toThrow();
    }
  });

  test('the worker: probes on its HTTP port, a grace period longer than SHUTDOWN_TIMEOUT', () => {
    const spec = worker?.spec.template.spec;
    const container = spec?.containers.find(c => c.name === 'worker');
    expect(container).toBeDefined();
    const env = plainEnv(container as Container);
    const config = loadConfig({ ...env, REDIS_PASSWORD: 'from-secret' });
    const http = container?.ports?.find(port => port.name === 'http');
    expect(http?.containerPort).toBe(config.http.port);
    // Probes come from the kubelet, over the pod's address.
    expect(env.WORKER_HTTP_HOST).toBe('0.0.0.0');
    expect(container?.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container?.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container?.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(spec?.terminationGracePeriodSeconds).toBeGreaterThan(config.shutdownTimeout);
    expect(config.enabledConnectors).toEqual(['comfyui']);
  });

  test('the board runs the board entry point on its port, behind its Service', () => {
    const container = board?.spec.template.spec.containers.find(c => c.name === 'board');
    expect(container?.command).toEqual(['node', 'dist/bull-board/server.js']);
    expect(fs.existsSync('bull-board/server.ts')).toBe(true);
    const config = loadConfig({
      ...plainEnv(container as Container),
      REDIS_PASSWORD: 'x',
      BULL_BOARD_PASSWORD: 'x',
    });
    expect(container?.ports?.find(port => port.name === 'http')?.containerPort).toBe(config.board.port);
    expect(plainEnv(container as Container).BULL_BOARD_HOST).toBe('0.0.0.0');
    const service = byKind<{ spec: { selector: Record<string, string> } }>(all, 'Service')[0];
    expect(board?.spec.template.metadata.labels).toMatchObject(service?.spec.selector ?? { missing: true });
  });

  test("KEDA scales the worker Deployment to zero on its queue's BullMQ wait list", () => {
    const scaled = byKind<{
      spec: {
        scaleTargetRef: { name: string };
        minReplicaCount: number;
        triggers: Array<{ type: string; metadata: Record<string, string> }>;
      };
    }>(all, 'ScaledObject')[0];
    expect(scaled?.spec.scaleTargetRef.name).toBe(worker?.metadata.name);
    expect(scaled?.spec.minReplicaCount).toBe(0);
    const container = worker?.spec.template.spec.containers.find(c => c.name === 'worker') as Container;
    const config = loadConfig({ ...plainEnv(container), REDIS_PASSWORD: 'x' });
    const jobType = (config.connectors.comfyui as { jobType: string }).jobType;
    const trigger = scaled?.spec.triggers[0];
    expect(trigger?.type).toBe('redis');
    expect(trigger?.metadata.listName).toBe(`${config.queuePrefix}:${jobType}:wait`);
    expect(`redis://${trigger?.metadata.address ?? ''}`).toBe(config.redis.url);
    // KEDA reads the password from the target container's env.
    expect(container.env?.some(variable => variable.name === trigger?.metadata.passwordFromEnv)).toBe(true);
  });
});
