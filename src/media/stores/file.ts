import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { OutputConfig } from '../../config/media.js';
import { storeError } from './errors.js';
import { joinUrl, type OutputStore, type PutMeta, type StoreProbe } from './store.js';

/**
 * A folder (a mounted volume, a network share served by a web server): each file is
 * written to a temporary name and renamed into place, so a reader never sees half a file
 * and a retried upload replaces the earlier one.
 */
export class FileStore implements OutputStore {
  readonly kind = 'file';
  private readonly root: string;

  constructor(private readonly config: OutputConfig) {
    this.root = path.resolve(config.fileDir);
  }

  describe(): string {
    return `file folder ${this.root}`;
  }

  async put(key: string, body: Readable, meta: PutMeta): Promise<string> {
    const target = path.resolve(this.root, key);
    // Keys are built from sanitised segments; this is the last line of defence.
    if (!target.startsWith(`${this.root}${path.sep}`)) throw new Error(`key "${key}" leaves ${this.root}`);
    const temporary = `${target}.${process.pid}.${Date.now()}.part`;
    try {
      await fs.promises.mkdir(path.dirname(target), { recursive: true });
      await pipeline(body, fs.createWriteStream(temporary), { signal: meta.signal });
      await fs.promises.rename(temporary, target);
    } catch (error) {
      body.destroy();
      await fs.promises.rm(temporary, { force: true });
      throw storeError(`folder ${this.root}`, error, meta.signal);
    }
    return this.config.publicBaseUrl ? joinUrl(this.config.publicBaseUrl, key) : pathToFileURL(target).href;
  }

  async probe(): Promise<StoreProbe> {
    try {
      await fs.promises.mkdir(this.root, { recursive: true });
      await fs.promises.access(this.root, fs.constants.W_OK);
      return { ok: true, detail: `${this.describe()} is writable` };
    } catch (error) {
      return {
        ok: false,
        detail: `${this.describe()}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      };
    }
  }

  close(): void {}
}
