/** Trades and quotes: a unit's rows are gathered day by day, and its days replace the stored ones whole when its request is over. */
import type { TickColumns, TickKind } from '../lake/schema.js';
import type { TickWriter } from '../lake/tick-writer.js';
import type { Source } from '../sources/types.js';
import type { UnitExecutor } from './unit-runner.js';

export interface TickUnitOptions {
  source: Source;
  kind: TickKind;
  feed: string | undefined;
  writer: TickWriter;
}

export function tickUnits(options: TickUnitOptions): UnitExecutor {
  return async (unit, context) => {
    const { source, kind, feed, writer } = options;
    if (!source.fetchTicks) throw new Error(`source ${source.name} has no ${kind}`);
    const fetchTicks = source.fetchTicks.bind(source);
    const write = writer.beginUnit(unit.symbols, { start: unit.start, end: unit.end }, context.staging, {
      onDay: (day) => context.committed([day]),
      onDayRemoved: (key) => context.removed(key),
    });
    try {
      await context.fetching(async () => {
        const request = { kind, symbols: unit.symbols, start: unit.start, end: unit.end, feed, scratch: context.scratch };
        for await (const batch of fetchTicks(request, context.signal, () => write.pageColumns as TickColumns | undefined)) {
          context.received(batch.length);
          await write.append(batch);
        }
        await write.finish();
      });
    } finally {
      await write.release();
    }
  };
}
