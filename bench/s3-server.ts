/**
 * An s3rver in a process of its own, for bench/media.ts (so the worker and the AWS-client
 * baseline both reach the S3 server across processes). Usage: `node dist/bench/s3-server.js
 * <directory> <bucket>` (the tests' key pair); prints `listening <port>`, stops on SIGTERM.
 */
import S3rver from 's3rver';
import accounts from 's3rver/lib/models/account.js';

const [directory = '', bucket = '', keyId = '', secret = ''] = process.argv.slice(2);
accounts.DUMMY_ACCOUNT.createKeyPair(keyId, secret);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: [{ name: bucket }],
});
const address = await server.run();
process.stdout.write(`listening ${address.port}\n`);
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
