/** Every source the engine knows. Adding a provider is a folder under sources/ and a line here. */
import { UsageError } from '../shared/errors.js';
import { alpacaSource } from './alpaca/source.js';
import { massiveFilesSource } from './massive/flat-files.js';
import { massiveSource } from './massive/rest.js';
import { syntheticSource } from './synthetic/source.js';
import type { SourceDefinition } from './types.js';

export const SOURCE_DEFINITIONS: readonly SourceDefinition[] = [alpacaSource, massiveSource, massiveFilesSource, syntheticSource];

export const SOURCE_NAMES: readonly string[] = SOURCE_DEFINITIONS.map((s) => s.name);

/** The source used when none is named. */
export const DEFAULT_SOURCE = 'alpaca';

export function sourceDefinition(name: string): SourceDefinition {
  const found = SOURCE_DEFINITIONS.find((s) => s.name === name.trim().toLowerCase());
  if (!found) throw new UsageError(`unknown source ${JSON.stringify(name)}; use ${SOURCE_NAMES.join(' or ')}`);
  return found;
}
