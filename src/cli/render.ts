/**
 * Terminal output. On a TTY: a progress bar and a coloured summary. Otherwise (cron) or with
 * --no-progress: plain lines without any escape codes, one per finished unit, and a progress line at
 * most every 10 s. --quiet keeps only errors and the summary; --json prints one summary object.
 */
import cliProgress from 'cli-progress';
import { Chalk, type ChalkInstance } from 'chalk';
import type { RunEvent, RunSummary } from '../run/events.js';
import type { WorkUnit } from '../plan/planner.js';
import { nyDateOf } from '../plan/time.js';

export type OutputMode = 'tty' | 'plain' | 'quiet' | 'json';

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

export const processOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

const PROGRESS_INTERVAL_MS = 10_000;

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

const num = (n: number): string => n.toLocaleString('en-US');

export function describeUnit(unit: WorkUnit): string {
  const names = unit.symbols.length <= 4 ? unit.symbols.join(',') : `${unit.symbols.slice(0, 3).join(',')},+${unit.symbols.length - 3} more`;
  return `${names} ${nyDateOf(unit.start)}..${nyDateOf(unit.end - 1)}`;
}

export class Renderer {
  private readonly chalk: ChalkInstance;
  private bar: cliProgress.SingleBar | undefined;
  private totalSymbols = 0;
  private doneSymbols = 0;
  private bars = 0;
  private started = Date.now();
  private lastProgress = Date.now();

  constructor(private readonly mode: OutputMode, private readonly io: Output, private readonly verbose: boolean) {
    this.chalk = new Chalk({ level: mode === 'tty' ? 1 : 0 });
  }

  /** A line for the log (stdout), suppressed in quiet and json modes. */
  private log(line: string): void {
    if (this.mode === 'quiet' || this.mode === 'json') return;
    if (this.bar) this.bar.stop();
    this.io.out(line);
    if (this.bar) this.restartBar();
  }

  private problem(line: string): void {
    if (this.bar) this.bar.stop();
    this.io.err(line);
    if (this.bar) this.restartBar();
  }

  private restartBar(): void {
    this.bar?.start(this.totalSymbols, this.doneSymbols, { bars: num(this.bars) });
  }

  private stamp(): string {
    return this.mode === 'tty' ? '' : `${new Date().toISOString().slice(0, 19)}Z `;
  }

  notice(level: 'info' | 'warning', message: string): void {
    if (level === 'warning') this.problem(`${this.stamp()}${this.chalk.yellow('warning:')} ${message}`);
    else this.log(`${this.stamp()}${message}`);
  }

  handle(event: RunEvent): void {
    switch (event.type) {
      case 'planned': {
        this.totalSymbols = event.symbols;
        this.doneSymbols = event.upToDate;
        this.started = Date.now();
        this.log(`${this.stamp()}plan: ${num(event.symbols)} symbols, ${num(event.upToDate)} already up to date, ${num(event.units)} units of work (≤ ${num(event.estimatedBars)} bars)`);
        if (this.mode === 'tty' && event.units > 0) {
          this.bar = new cliProgress.SingleBar(
            { format: 'symbols {value}/{total} |{bar}| {percentage}% | {bars} bars | {duration_formatted} elapsed | ETA {eta_formatted}', hideCursor: true, etaBuffer: 50, clearOnComplete: true, stream: process.stdout },
            cliProgress.Presets.shades_classic,
          );
          this.restartBar();
        }
        return;
      }
      case 'unit-started':
        if (this.verbose) this.log(`${this.stamp()}[w${event.worker}] ${describeUnit(event.unit)} started`);
        return;
      case 'unit-finished':
        this.bars += event.rows;
        if (this.mode !== 'tty') this.log(`${this.stamp()}[w${event.worker}] ${describeUnit(event.unit)} ok: ${num(event.rows)} bars, ${num(event.partitions)} partitions, ${formatDuration(event.durationMs)}`);
        this.bar?.update(this.doneSymbols, { bars: num(this.bars) });
        return;
      case 'unit-failed':
        this.problem(`${this.stamp()}${this.chalk.red('failed:')} [w${event.worker}] ${describeUnit(event.unit)}: ${event.reason}`);
        return;
      case 'symbol-finished':
        this.doneSymbols += 1;
        if (event.outcome === 'no_data') this.log(`${this.stamp()}[w${event.worker}] ${event.symbol}: no data in the requested range`);
        this.bar?.update(this.doneSymbols, { bars: num(this.bars) });
        this.maybeProgressLine();
        return;
      case 'request': {
        const r = event.request;
        if (r.failure) {
          // Every failed request is logged with its request id; a retried one is a warning that
          // --quiet and --json leave out.
          const line = `${this.stamp()}[request] ${r.failure.reason}${r.failure.willRetry ? `; retrying in ${formatDuration(r.failure.delayMs)}` : ''}`;
          if (!r.failure.willRetry || (this.mode !== 'quiet' && this.mode !== 'json')) this.problem(line);
        } else if (this.verbose) {
          this.log(`${this.stamp()}[request] ${r.status} ${r.durationMs} ms${r.requestId ? ` id ${r.requestId}` : ''}`);
        }
        return;
      }
      case 'notice':
        this.notice(event.level, event.message);
        return;
    }
  }

  private maybeProgressLine(): void {
    if (this.mode !== 'plain') return;
    const now = Date.now();
    if (now - this.lastProgress < PROGRESS_INTERVAL_MS) return;
    this.lastProgress = now;
    const fraction = this.totalSymbols ? this.doneSymbols / this.totalSymbols : 1;
    const elapsed = now - this.started;
    const eta = fraction > 0 ? (elapsed / fraction) * (1 - fraction) : NaN;
    this.log(`${this.stamp()}progress ${Math.floor(fraction * 100)}% (${num(this.doneSymbols)}/${num(this.totalSymbols)} symbols), ${num(this.bars)} bars, elapsed ${formatDuration(elapsed)}, ETA ${formatDuration(eta)}`);
  }

  finish(summary: RunSummary): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = undefined;
    }
    if (this.mode === 'json') {
      this.io.out(JSON.stringify(summary));
      return;
    }
    const c = this.chalk;
    const lines: string[] = [];
    lines.push(c.bold(`summary: ${summary.dataset} (${summary.source}, feed ${summary.feed}, adjustment ${summary.adjustment}) in ${summary.storage}`));
    lines.push(`  ${c.green(`succeeded ${num(summary.succeeded)}`)}, ${summary.failed ? c.red(`failed ${num(summary.failed)}`) : 'failed 0'}, no data ${num(summary.noData)}, up to date ${num(summary.upToDate)}${summary.notAttempted ? c.red(`, not attempted ${num(summary.notAttempted)}`) : ''}`);
    lines.push(`  ${num(summary.bars)} bars, ${num(summary.partitions)} partitions written, ${num(summary.requests)} requests (${num(summary.retries)} retried), ${formatDuration(summary.durationMs)}`);
    for (const s of summary.symbols) {
      if (s.outcome === 'failed') lines.push(`  ${c.red('failed')} ${s.symbol}: ${s.reason}`);
    }
    const noData = summary.symbols.filter((s) => s.outcome === 'no_data').map((s) => s.symbol);
    if (noData.length) lines.push(`  ${c.yellow('no data')}: ${noData.join(', ')}`);
    const notAssets = summary.symbols.filter((s) => s.outcome === 'not_asset').map((s) => s.symbol);
    if (notAssets.length) lines.push(`  ${c.yellow('not an Alpaca asset (skipped)')}: ${notAssets.join(', ')}`);
    if (summary.inactive.length) lines.push(`  inactive (delisted, history kept): ${summary.inactive.join(', ')}`);
    const skipped = summary.symbols.filter((s) => s.outcome === 'not_attempted').map((s) => s.symbol);
    if (skipped.length) lines.push(`  ${c.red('not attempted')}: ${skipped.join(', ')}`);
    if (summary.aborted) lines.push(`  ${c.red('stopped')}: ${summary.aborted.message}${summary.aborted.hint ? ` — hint: ${summary.aborted.hint}` : ''}`);
    lines.push(`  exit ${summary.exitCode}`);
    this.io.out(lines.join('\n'));
  }
}
