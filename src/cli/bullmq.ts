import { createRequire } from 'node:module';
import type * as BullMQ from 'bullmq';

// BullMQ's index loads every class it has (Worker, FlowProducer, sandboxed processors, …):
// about a third of the CPU time of `emp-worker cancel` (bench/cli-startup.ts). The CLI uses
// two classes, so it loads just their files from the same package: the same classes the
// index exports (one module cache), typed by the public API. A BullMQ release that moves
// them fails every CLI test at once.
const requireCjs = createRequire(import.meta.url);

/** BullMQ's `Queue`. */
export const { Queue } = requireCjs('bullmq/dist/cjs/classes/queue.js') as { Queue: typeof BullMQ.Queue };
/** BullMQ's `QueueEvents`. */
export const { QueueEvents } = requireCjs('bullmq/dist/cjs/classes/queue-events.js') as {
  QueueEvents: typeof BullMQ.QueueEvents;
};
/** Instance types, for annotations. */
export type Queue = BullMQ.Queue;
export type QueueEvents = BullMQ.QueueEvents;
