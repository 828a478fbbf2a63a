/** `ingest config`: the effective settings, where each value came from, and each source's variables (set or not, never their values). */
import { SETTING_NAMES, SOURCE_DEFINITIONS } from '../index.js';
import { ExitCode } from './exit-codes.js';
import { type CommandContext, settingsFromFlags } from './ingest-command.js';

export function runConfigCommand(flags: { config?: string; out?: string; json?: boolean }, ctx: CommandContext): number {
  const { settings, warnings } = settingsFromFlags({ config: flags.config, out: flags.out }, ctx.env);
  for (const warning of warnings) ctx.io.err(`warning: ${warning}`);
  const variables = SOURCE_DEFINITIONS.flatMap((d) => d.capabilities.environment.map((v) => ({ source: d.name, name: v.name, set: Boolean(ctx.env[v.name]?.trim()) })));
  if (flags.json) {
    ctx.io.out(JSON.stringify({ ...settings, environment: variables }, null, 2));
    return ExitCode.ok;
  }
  const width = Math.max(...SETTING_NAMES.map((k) => k.length));
  for (const key of SETTING_NAMES) {
    const value = settings[key].value;
    ctx.io.out(`${key.padEnd(width)}  ${(value === undefined ? '(source default)' : String(value)).padEnd(16)}  (${settings[key].where})`);
  }
  for (const d of SOURCE_DEFINITIONS) {
    const vars = d.capabilities.environment.map((v) => `${v.name} ${ctx.env[v.name]?.trim() ? 'set' : 'not set'}`);
    if (vars.length) ctx.io.out(`${`source ${d.name}`.padEnd(width)}  ${vars.join(', ')}`);
  }
  return ExitCode.ok;
}
