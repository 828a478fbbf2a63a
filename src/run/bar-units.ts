/** Bars: a unit's batches are appended to the writer's buffers and merged into monthly or yearly partitions. */
import type { PartitionWriter } from '../lake/partition-writer.js';
import type { BarColumns, BARS_SCHEMA } from '../lake/schema.js';
import type { WorkUnit } from '../plan/planner.js';
import type { Timeframe } from '../shared/timeframe.js';
import type { Source } from '../sources/types.js';
import type { UnitContext, UnitExecutor } from './unit-runner.js';

export interface BarUnitOptions {
  source: Source;
  timeframe: Timeframe;
  feed: string | undefined;
  adjustment: string | undefined;
  writer: PartitionWriter<typeof BARS_SCHEMA>;
}

export function barUnits(options: BarUnitOptions): UnitExecutor {
  const batchesOf = (unit: WorkUnit, context: UnitContext, reuse: () => BarColumns | undefined): AsyncIterable<BarColumns> => {
    const { source, timeframe, feed, adjustment } = options;
    if (!unit.sessions) {
      if (!source.fetchBars) throw new Error(`source ${source.name} serves whole sessions only`);
      return source.fetchBars({ symbols: unit.symbols, timeframe, start: unit.start, end: unit.end, feed, adjustment }, context.signal, reuse);
    }
    if (!source.fetchSessionBars) throw new Error(`source ${source.name} cannot fetch whole sessions`);
    return source.fetchSessionBars({ symbols: unit.symbols, timeframe, sessions: unit.sessions, feed, adjustment, scratch: context.scratch }, context.signal, reuse);
  };
  return async (unit, context) => {
    const write = options.writer.beginUnit(unit.symbols, context.staging, (partitions) => context.committed(partitions));
    try {
      await context.fetching(async () => {
        for await (const batch of batchesOf(unit, context, () => write.pageColumns)) {
          write.append(batch);
          context.received(batch.length);
          await write.flushIfFull();
        }
      });
      await write.commit();
    } finally {
      await write.release();
    }
  };
}
