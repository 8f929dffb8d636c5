import type { ProgressUpdate } from '../../types.js';
import type { WorkflowGraph } from './workflow.js';

/**
 * Progress across the whole workflow, not per node: nodes finished (executed or served
 * from cache) out of the nodes that will run, plus the current node's sampler steps
 * (`progress` value/max) as a fraction of one node. It never goes backwards and stays
 * below 100 until ComfyUI says the prompt ended (the runtime writes the final 100).
 */
export class WorkflowProgress {
  private readonly done = new Set<string>();
  private current: string | undefined;
  private currentFraction = 0;
  private step: number | undefined;
  private totalSteps: number | undefined;
  private last = 0;
  private total: number;
  /** When nodes started running, and the percent at that moment (cached nodes do not count toward speed). */
  private runStart: { at: number; percent: number } | undefined;

  constructor(
    private readonly graph: WorkflowGraph,
    private readonly now: () => number = Date.now,
  ) {
    this.total = Math.max(1, Object.keys(graph).length);
  }

  /** Narrows the total to the nodes that will actually run, when known. */
  setTotal(nodes: number): void {
    if (nodes > 0) this.total = Math.max(nodes, this.done.size);
  }

  /** `execution_cached`: these nodes are done without running. */
  cached(nodes: readonly string[]): ProgressUpdate {
    for (const node of nodes) this.done.add(node);
    return this.update('running', `${nodes.length} node${nodes.length === 1 ? '' : 's'} served from cache`);
  }

  /** `executing {node}`: the previous node is done, this one starts. */
  executing(node: string): ProgressUpdate {
    this.runStart ??= { at: this.now(), percent: this.last };
    if (this.current !== undefined && this.current !== node) this.done.add(this.current);
    this.current = node;
    this.currentFraction = 0;
    this.step = undefined;
    this.totalSteps = undefined;
    return this.update(
      'running',
      `running node ${node}${this.classOf(node) ? ` (${this.classOf(node)})` : ''}`,
    );
  }

  /** `progress {value, max, node?}`: steps inside the current node. */
  steps(value: number, max: number, node: string | undefined): ProgressUpdate {
    if (node !== undefined && node !== this.current) this.executing(node);
    if (max > 0 && Number.isFinite(value)) {
      this.currentFraction = Math.min(1, Math.max(this.currentFraction, value / max));
      this.step = value;
      this.totalSteps = max;
    }
    const where =
      this.current !== undefined
        ? `node ${this.current}${this.classOf(this.current) ? ` (${this.classOf(this.current)})` : ''}`
        : 'sampling';
    return this.update('sampling', `${where}: step ${value} of ${max}`);
  }

  /** `executed {node}`: that node is done. */
  executed(node: string): ProgressUpdate {
    this.done.add(node);
    if (this.current === node) this.currentFraction = 0;
    return this.update(
      'running',
      `node ${node}${this.classOf(node) ? ` (${this.classOf(node)})` : ''} finished`,
    );
  }

  /** The percent shown now (for tests). */
  get percent(): number {
    return this.last;
  }

  /**
   * Seconds left at the speed seen since nodes started running (a straight-line guess:
   * sampler-heavy workflows are close to linear). None until there is a second of data.
   */
  private eta(): number | undefined {
    if (!this.runStart) return undefined;
    const elapsed = (this.now() - this.runStart.at) / 1000;
    const gained = this.last - this.runStart.percent;
    if (elapsed < 1 || gained < 2) return undefined;
    return Math.round((elapsed * (100 - this.last)) / gained);
  }

  private classOf(node: string): string | undefined {
    return this.graph[node]?.class_type;
  }

  private update(status: string, message: string): ProgressUpdate {
    const finished =
      this.done.size +
      (this.current !== undefined && !this.done.has(this.current) ? this.currentFraction : 0);
    const percent = Math.min(99, (finished / this.total) * 100);
    this.last = Math.max(this.last, percent);
    const classType = this.current !== undefined ? this.classOf(this.current) : undefined;
    const eta = this.eta();
    return {
      progress: this.last,
      ...(eta !== undefined ? { eta } : {}),
      status,
      message,
      ...(this.current !== undefined ? { node: this.current } : {}),
      ...(classType !== undefined ? { class_type: classType } : {}),
      ...(this.step !== undefined ? { step: this.step } : {}),
      ...(this.totalSteps !== undefined ? { total_steps: this.totalSteps } : {}),
    };
  }
}
