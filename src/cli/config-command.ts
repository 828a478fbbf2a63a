/** `ingest config`: the effective settings and where each value came from. */
import { SETTING_NAMES } from '../config/settings.js';
import { ExitCode } from '../errors.js';
import { settingsFromFlags, type CommandContext } from './ingest-command.js';

export function runConfigCommand(flags: { config?: string; out?: string; json?: boolean }, ctx: CommandContext): number {
  const settings = settingsFromFlags({ config: flags.config, out: flags.out }, ctx.env);
  if (flags.json) {
    ctx.io.out(JSON.stringify(settings, null, 2));
    return ExitCode.ok;
  }
  const width = Math.max(...SETTING_NAMES.map((k) => k.length));
  for (const key of SETTING_NAMES) ctx.io.out(`${key.padEnd(width)}  ${settings[key].value.padEnd(12)}  (${settings[key].where})`);
  const keyId = ctx.env.APCA_API_KEY_ID ? 'set' : 'not set';
  const secret = ctx.env.APCA_API_SECRET_KEY ? 'set' : 'not set';
  ctx.io.out(`${'credentials'.padEnd(width)}  APCA_API_KEY_ID ${keyId}, APCA_API_SECRET_KEY ${secret}`);
  return ExitCode.ok;
}
