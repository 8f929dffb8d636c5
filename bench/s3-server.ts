/**
 * An s3rver in a process of its own, for bench/media.ts (so the worker and the AWS-client
 * baseline both reach the S3 server across processes). Usage: `node dist/bench/s3-server.js
 * <directory> <bucket>` (the tests' key pair, as test/helpers/stores.ts registers it); prints
 * `listening <port>`, stops on SIGTERM.
 */
import { runS3rver } from '../test/helpers/stores.js';

const [directory = '', bucket = ''] = process.argv.slice(2);
const { server, port } = await runS3rver(directory, bucket);
process.stdout.write(`listening ${port}\n`);
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
