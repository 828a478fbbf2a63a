/**
 * Terminal output, rendered from the pipeline's events. On a TTY: a progress bar and a coloured
 * summary. Otherwise (cron) or with --no-progress: plain lines without any escape codes, one per
 * finished unit, and a progress line at most every 10 s. --quiet keeps only errors and the summary;
 * --json prints one summary object.
 */
import cliProgress from 'cli-progress';
import { Chalk, type ChalkInstance } from 'chalk';
import { type DataKind, type IngestionPipeline, type IngestResult, nyDateOf, type PlanReport, type ProgressEvent, type WorkUnit } from '../index.js';
import { estimateProgress, formatDuration } from './eta.js';

export type OutputMode = 'tty' | 'plain' | 'quiet' | 'json';

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

export const processOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** A reader that closed the pipe (`ingest status | head`) has all it wanted: stop quietly. */
export function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
  }
}

const PROGRESS_INTERVAL_MS = 10_000;
const BAR_STEPS = 1000;

const num = (n: number): string => n.toLocaleString('en-US');
/** `n` and the noun, singular for one (`1 request`, `2 requests`; `bars` → `1 bar`). */
const count = (n: number, plural: string): string => `${num(n)} ${n === 1 ? plural.replace(/s$/, '') : plural}`;

export function describeUnit(unit: WorkUnit): string {
  const names = unit.symbols.length <= 4 ? unit.symbols.join(',') : `${unit.symbols.slice(0, 3).join(',')},+${unit.symbols.length - 3} more`;
  return `${names} ${nyDateOf(unit.start)}..${nyDateOf(unit.end - 1)}`;
}

export function describePlan(plan: PlanReport): string[] {
  const units = `${count(plan.units, 'units')} of work`;
  const lines = [`plan: ${plan.dataset} from ${plan.source}, ${count(plan.symbols, 'symbols')}: ${num(plan.upToDate.length)} already up to date${plan.notListed.length ? `, ${num(plan.notListed.length)} not listed` : ''}`];
  if (plan.kind !== 'bars') {
    // How many ticks a day holds is not known before it is fetched.
    const requests = plan.dayFiles
      ? `${count(plan.estimatedRequests, 'day-file downloads')} (each serves every symbol)`
      : `≥ ${count(plan.estimatedRequests, 'requests')} (a liquid symbol-day takes hundreds)`;
    lines.push(`  ${units} (one New York day each), ${plan.rateLimitPerMinute === undefined ? 'no requests' : requests}`);
    if (plan.rateLimitPerMinute === undefined) lines.push('  the source makes no requests: time is local work only');
    else lines.push(`  at ${num(plan.rateLimitPerMinute)} requests/min those requests take ${plan.dayFiles ? '' : 'at least '}${formatDuration(plan.estimatedRequestTimeMs)}`);
    return lines;
  }
  lines.push(`  ${units}, ${plan.rateLimitPerMinute === undefined ? 'no requests' : `≤ ${count(plan.estimatedRequests, 'requests')}`}, ≤ ${count(plan.estimatedBars, 'bars')}`);
  if (plan.rateLimitPerMinute !== undefined) {
    lines.push(`  at ${num(plan.rateLimitPerMinute)} requests/min the requests take at most ${formatDuration(plan.estimatedRequestTimeMs)}`);
  } else {
    lines.push('  the source makes no requests: time is local work only');
  }
  if (plan.readjust.length) lines.push(`  re-adjust (whole history again, after a new corporate action): ${plan.readjust.join(', ')}`);
  return lines;
}

export class Renderer {
  private readonly chalk: ChalkInstance;
  private bar: cliProgress.SingleBar | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private latest: ProgressEvent | undefined;
  private started = Date.now();
  /** What the run's rows are: bars, trades or quotes (the data kind's name). */
  private noun: DataKind = 'bars';
  private lastProgressLine = Date.now();

  constructor(private readonly mode: OutputMode, private readonly io: Output, private readonly verbose: boolean) {
    this.chalk = new Chalk({ level: mode === 'tty' ? 1 : 0 });
  }

  /** Render everything the pipeline reports; returns a function that stops listening. */
  attach(pipeline: IngestionPipeline): () => void {
    const off = [
      pipeline.on('warning', (e) => this.notice('warning', e.message)),
      pipeline.on('info', (e) => this.notice('info', e.message)),
      pipeline.on('planned', (plan) => this.planned(plan)),
      pipeline.on('unit', (e) => {
        if (e.phase === 'started' && this.verbose) this.log(`${this.stamp()}[w${e.worker}] ${describeUnit(e.unit)} started`);
        if (e.phase === 'finished' && this.mode !== 'tty') {
          this.log(`${this.stamp()}[w${e.worker}] ${describeUnit(e.unit)} ok: ${count(e.rows, this.noun)}, ${count(e.partitions, this.noun === 'bars' ? 'partitions' : 'symbol-days')}, ${formatDuration(e.durationMs)}`);
        }
        if (e.phase === 'failed') this.problem(`${this.stamp()}${this.chalk.red('failed:')} [w${e.worker}] ${describeUnit(e.unit)}: ${e.reason ?? 'unknown reason'}`);
      }),
      pipeline.on('symbol', (e) => {
        if (e.outcome === 'no_data') this.log(`${this.stamp()}[w${e.worker}] ${e.symbol}: no data in the requested range`);
      }),
      pipeline.on('progress', (p) => this.progress(p)),
      pipeline.on('request', (r) => {
        if (r.failure) {
          // Every failed request is logged with its request id; a retried one is a warning that
          // --quiet and --json leave out.
          const line = `${this.stamp()}[request] ${r.failure.reason}${r.failure.willRetry ? `; retrying in ${formatDuration(r.failure.delayMs)}` : ''}`;
          if (!r.failure.willRetry || (this.mode !== 'quiet' && this.mode !== 'json')) this.problem(line);
        } else if (this.verbose) {
          this.log(`${this.stamp()}[request] ${r.status} ${r.durationMs} ms${r.requestId ? ` id ${r.requestId}` : ''}`);
        }
      }),
    ];
    return () => off.forEach((f) => f());
  }

  /** A line for the log (stdout), suppressed in quiet and json modes. */
  private log(line: string): void {
    if (this.mode === 'quiet' || this.mode === 'json') return;
    this.withBarHidden(() => this.io.out(line));
  }

  private problem(line: string): void {
    this.withBarHidden(() => this.io.err(line));
  }

  private withBarHidden(write: () => void): void {
    if (!this.bar) return write();
    const value = this.latest ? Math.round(estimateProgress({ ...this.latest, elapsedMs: Date.now() - this.started }).fraction * BAR_STEPS) : 0;
    this.bar.stop();
    write();
    this.bar.start(BAR_STEPS, value, this.barPayload());
  }

  private stamp(): string {
    return this.mode === 'tty' ? '' : `${new Date().toISOString().slice(0, 19)}Z `;
  }

  notice(level: 'info' | 'warning', message: string): void {
    if (level === 'warning') this.problem(`${this.stamp()}${this.chalk.yellow('warning:')} ${message}`);
    else this.log(`${this.stamp()}${message}`);
  }

  /** The plan of a --dry-run: printed whatever the mode (as JSON with --json). */
  dryRun(plan: PlanReport): void {
    if (this.mode === 'json') this.io.out(JSON.stringify({ ...plan, work: plan.work.map((u) => ({ ...u, start: new Date(u.start).toISOString(), end: new Date(u.end).toISOString() })) }));
    else for (const line of describePlan(plan)) this.io.out(line);
  }

  private planned(plan: PlanReport): void {
    this.started = Date.now();
    this.noun = plan.kind;
    this.lastProgressLine = this.started;
    for (const line of describePlan(plan)) this.log(`${this.stamp()}${line}`);
    if (this.mode === 'tty' && plan.units > 0) {
      this.bar = new cliProgress.SingleBar(
        { format: `|{bar}| {pct} | {symbols} symbols | {rows} ${this.noun} | {spent} elapsed | ETA {left}`, hideCursor: true, clearOnComplete: true, stream: process.stdout },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(BAR_STEPS, 0, this.barPayload());
      // Elapsed time and ETA move every second even while no page arrives.
      this.ticker = setInterval(() => this.redrawBar(), 1000);
      this.ticker.unref();
    }
  }

  private barPayload(): Record<string, string> {
    const elapsed = Date.now() - this.started;
    const p = this.latest;
    const estimate = p ? estimateProgress({ ...p, elapsedMs: elapsed }) : undefined;
    return {
      pct: `${((estimate?.fraction ?? 0) * 100).toFixed(1)}%`,
      symbols: p ? `${num(p.symbolsDone)}/${num(p.symbolsTotal)}` : '0',
      rows: num(p?.rowsCommitted ?? 0),
      // Not `eta`/`duration`: cli-progress fills those itself, over ours.
      spent: formatDuration(elapsed),
      left: formatDuration(estimate?.remainingMs),
    };
  }

  private redrawBar(): void {
    if (!this.bar) return;
    const fraction = this.latest ? estimateProgress({ ...this.latest, elapsedMs: Date.now() - this.started }).fraction : 0;
    this.bar.update(Math.round(fraction * BAR_STEPS), this.barPayload());
  }

  private progress(p: ProgressEvent): void {
    this.latest = p;
    if (this.mode === 'tty') return this.redrawBar();
    if (this.mode !== 'plain') return;
    const now = Date.now();
    if (now - this.lastProgressLine < PROGRESS_INTERVAL_MS) return;
    this.lastProgressLine = now;
    const { fraction, remainingMs } = estimateProgress(p);
    this.log(
      `${this.stamp()}progress ${(fraction * 100).toFixed(1)}% (${num(p.symbolsDone)}/${num(p.symbolsTotal)} symbols${p.estimatedRequests > 0 ? `, ${num(p.requests)}/≤${num(p.estimatedRequests)} requests` : ''}), ${num(p.rowsCommitted)} ${this.noun} written, elapsed ${formatDuration(p.elapsedMs)}, ETA ${formatDuration(remainingMs)}`,
    );
  }

  finish(result: IngestResult, exitCode: number): void {
    if (this.ticker) clearInterval(this.ticker);
    if (this.bar) {
      this.bar.stop();
      this.bar = undefined;
    }
    if (this.mode === 'json') {
      this.io.out(JSON.stringify({ ...result, exitCode }));
      return;
    }
    const c = this.chalk;
    const lines: string[] = [];
    const provenance = [result.source, result.feed && `feed ${result.feed}`, result.adjustment && `adjustment ${result.adjustment}`].filter(Boolean).join(', ');
    lines.push(c.bold(`summary: ${result.dataset} (${provenance}) in ${result.storage}`));
    lines.push(`  ${c.green(`succeeded ${num(result.succeeded)}`)}, ${result.failed ? c.red(`failed ${num(result.failed)}`) : 'failed 0'}, no data ${num(result.noData)}, up to date ${num(result.upToDate)}${result.notAttempted ? c.red(`, not attempted ${num(result.notAttempted)}`) : ''}`);
    lines.push(`  ${count(result.rows, result.kind)}, ${count(result.partitions, result.kind === 'bars' ? 'partitions' : 'symbol-days')} written, ${count(result.requests, 'requests')} (${num(result.retries)} retried), ${formatDuration(result.durationMs)}`);
    for (const s of result.symbols) {
      if (s.outcome === 'failed') lines.push(`  ${c.red('failed')} ${s.symbol}: ${s.reason}`);
    }
    const named = (outcome: string): string[] => result.symbols.filter((s) => s.outcome === outcome).map((s) => s.symbol);
    if (named('no_data').length) lines.push(`  ${c.yellow('no data')}: ${named('no_data').join(', ')}`);
    if (named('not_listed').length) lines.push(`  ${c.yellow(`not listed by ${result.source} (skipped)`)}: ${named('not_listed').join(', ')}`);
    if (result.inactive.length) lines.push(`  inactive (delisted, history kept): ${result.inactive.join(', ')}`);
    if (result.readjusted.length) lines.push(`  re-adjusted (whole history fetched again after a new corporate action): ${result.readjusted.join(', ')}`);
    if (named('not_attempted').length) lines.push(`  ${c.red('not attempted')}: ${named('not_attempted').join(', ')}`);
    if (result.stopped) lines.push(`  ${c.red('stopped')}: ${result.stopped.message}${result.stopped.hint ? ` — hint: ${result.stopped.hint}` : ''}`);
    lines.push(`  exit ${exitCode}`);
    this.io.out(lines.join('\n'));
  }
}
