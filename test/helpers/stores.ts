import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import S3rver from 's3rver';
import accounts from 's3rver/lib/models/account.js';

/** Key pair the tests register with s3rver (it checks the key id against its own list). */
export const S3_KEY_ID = 'emp-test-key';
export const S3_SECRET = 'emp-test-secret-9f8e7d';

/** A running s3rver (an S3-protocol server from npm) in this process. */
export interface S3Server {
  endpoint: string;
  bucket: string;
  /** OUTPUT_* settings pointing at it. */
  env: Record<string, string>;
  client: S3Client;
  /** An object's bytes. */
  read(key: string): Promise<Buffer>;
  close(): Promise<void>;
}

/** An s3rver on a free loopback port with one bucket and the tests' key pair, storing under `directory`. */
export async function runS3rver(
  directory: string,
  bucket: string,
): Promise<{ server: S3rver; port: number }> {
  accounts.DUMMY_ACCOUNT.createKeyPair(S3_KEY_ID, S3_SECRET);
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const address = await server.run();
  return { server, port: address.port };
}

/** An AWS S3 client for s3rver: path-style, checksums only where required, no SDK retries. */
export function s3TestClient(endpoint: string): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_KEY_ID, secretAccessKey: S3_SECRET },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
}

/** The worker settings (`OUTPUT_*`) for an s3rver bucket. */
export function s3WorkerEnv(endpoint: string, bucket: string): Record<string, string> {
  return {
    OUTPUT_STORE: 's3',
    OUTPUT_S3_BUCKET: bucket,
    OUTPUT_S3_ENDPOINT: endpoint,
    OUTPUT_S3_FORCE_PATH_STYLE: 'true',
    OUTPUT_S3_ACCESS_KEY_ID: S3_KEY_ID,
    OUTPUT_S3_SECRET_ACCESS_KEY: S3_SECRET,
  };
}

export async function startS3(bucket = 'emp-outputs'): Promise<S3Server> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'emp-s3rver-'));
  const { server, port } = await runS3rver(directory, bucket);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = s3TestClient(endpoint);
  return {
    endpoint,
    bucket,
    client,
    env: s3WorkerEnv(endpoint, bucket),
    async read(key) {
      const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from((await answer.Body?.transformToByteArray()) ?? []);
    },
    async close() {
      client.destroy();
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** Azurite's published development account. */
const AZURE_ACCOUNT = 'devstoreaccount1';
const AZURE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A running azurite blob service (Microsoft's Azure Storage emulator), in a child process. */
export interface AzureServer {
  connectionString: string;
  container: string;
  env: Record<string, string>;
  read(name: string): Promise<Buffer>;
  close(): Promise<void>;
}

export async function startAzurite(container = 'emp-outputs'): Promise<AzureServer> {
  const require = createRequire(import.meta.url);
  const main = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist/src/blob/main.js');
  const location = fs.mkdtempSync(path.join(os.tmpdir(), 'emp-azurite-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [
      main,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      '--location',
      location,
      '--silent',
      '--loose',
      '--skipApiVersionCheck',
      '--disableTelemetry',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
      if (match?.[1]) resolve(Number(match[1]));
    });
    child.once('exit', code => reject(new Error(`azurite exited with ${code}: ${text}`)));
  });
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${AZURE_ACCOUNT};AccountKey=${AZURE_KEY};BlobEndpoint=http://127.0.0.1:${port}/${AZURE_ACCOUNT};`;
  const service = BlobServiceClient.fromConnectionString(connectionString);
  await service.getContainerClient(container).createIfNotExists();
  return {
    connectionString,
    container,
    env: {
      OUTPUT_STORE: 'azure',
      OUTPUT_AZURE_CONNECTION_STRING: connectionString,
      OUTPUT_AZURE_CONTAINER: container,
    },
    async read(name) {
      return service.getContainerClient(container).getBlockBlobClient(name).downloadToBuffer();
    },
    async close() {
      const exited = new Promise(resolve => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(location, { recursive: true, force: true });
    },
  };
}

/** The Azure account key, for asserting it never shows up anywhere. */
export const AZURE_ACCOUNT_KEY = AZURE_KEY;

/** One PUT the presigned-URL server accepted. */
export interface ReceivedPut {
  path: string;
  contentType: string | undefined;
  contentLength: string | undefined;
  sha256: string;
  size: number;
}

/**
 * A plain HTTP server standing in for presigned PUT URLs: it accepts a PUT only with a
 * valid `sig` (HMAC of the path) and a `Content-Length`, like S3 (411 without one), and
 * records the bytes' sha256.
 */
export interface PutServer {
  /** A signed URL for `name`. */
  urlFor(name: string): string;
  /** The signature part of a URL (to check it never leaks). */
  signatureOf(name: string): string;
  received: Map<string, ReceivedPut>;
  /** Status to answer for the next N PUTs (then normal again). */
  failNext(status: number, count?: number): void;
  close(): Promise<void>;
}

export async function startPutServer(): Promise<PutServer> {
  const secret = 'put-server-secret';
  const sign = (pathname: string): string => createHmac('sha256', secret).update(pathname).digest('hex');
  const received = new Map<string, ReceivedPut>();
  let failures: { status: number; count: number } | undefined;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://put');
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (failures && failures.count > 0) {
        failures.count--;
        res.writeHead(failures.status).end('<Error><Code>InjectedFailure</Code></Error>');
        return;
      }
      if (req.method !== 'PUT') return void res.writeHead(405).end();
      if (url.searchParams.get('sig') !== sign(url.pathname)) {
        return void res.writeHead(403).end('<Error><Code>SignatureDoesNotMatch</Code></Error>');
      }
      if (req.headers['content-length'] === undefined) {
        return void res.writeHead(411).end('<Error><Code>MissingContentLength</Code></Error>');
      }
      const body = Buffer.concat(chunks);
      received.set(url.pathname, {
        path: url.pathname,
        contentType: req.headers['content-type'],
        contentLength: req.headers['content-length'],
        sha256: createHash('sha256').update(body).digest('hex'),
        size: body.length,
      });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    urlFor: name =>
      `http://127.0.0.1:${port}/uploads/${name}?X-Amz-Expires=600&sig=${sign(`/uploads/${name}`)}`,
    signatureOf: name => sign(`/uploads/${name}`),
    received,
    failNext(status, count = 1) {
      failures = { status, count };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>(resolve => server.close(() => resolve()));
    },
  };
}

/** A plain HTTP server serving fixed files by path (input URLs), with redirects and statuses. */
export interface FileServer {
  url(pathname: string): string;
  port: number;
  close(): Promise<void>;
}

export async function startFileServer(
  routes: Record<string, { status?: number; type?: string; body?: Buffer; location?: string }>,
): Promise<FileServer> {
  const server = http.createServer((req, res) => {
    const route = routes[new URL(req.url ?? '/', 'http://files').pathname];
    if (!route) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    const headers: Record<string, string | number> = { 'content-type': route.type ?? 'image/png' };
    if (route.location) headers.location = route.location;
    if (route.body) headers['content-length'] = route.body.length;
    res.writeHead(route.status ?? 200, headers).end(route.body);
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: pathname => `http://127.0.0.1:${port}${pathname}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>(resolve => server.close(() => resolve()));
    },
  };
}
