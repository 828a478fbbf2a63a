/** The folder layout is the architecture: dependencies point one way, down, and only the CLI talks to the terminal. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(__dirname, '..', '..', 'src');

/** Higher ranks may import lower ones, never the reverse; equal ranks may not import each other. */
const RANK: Record<string, number> = {
  cli: 7,
  'index.ts': 6,
  run: 5,
  config: 4,
  plan: 3,
  sources: 3,
  quality: 2.5,
  lake: 2,
  universe: 2,
  net: 1,
  shared: 0,
};

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => path.join(dir, f));
}

function topFolder(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0];
}

function localImports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/^(?:import|export)[^'"]*from\s+'(\.[^']+)'/gm)].map((m) => m[1]);
  return specs.map((s) => path.resolve(path.dirname(file), s.replace(/\.js$/, '.ts')));
}

const files = sourceFiles(SRC);

describe('architecture', () => {
  it('every source file sits in a ranked folder', () => {
    expect(files.map(topFolder).filter((f) => !(f in RANK))).toEqual([]);
  });

  it('imports point down only: no folder imports a folder above it or beside it', () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = topFolder(file);
      for (const target of localImports(file)) {
        const to = topFolder(target);
        if (to === from) continue;
        if (!(RANK[to] < RANK[from])) violations.push(`${path.relative(SRC, file)} → ${path.relative(SRC, target)}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('the CLI uses the library facade and nothing else', () => {
    const outside = files
      .filter((f) => topFolder(f) === 'cli')
      .flatMap((f) => localImports(f).map((t) => [f, t] as const))
      .filter(([, t]) => topFolder(t) !== 'cli' && topFolder(t) !== 'index.ts')
      .map(([f, t]) => `${path.relative(SRC, f)} → ${path.relative(SRC, t)}`);
    expect(outside).toEqual([]);
  });

  it('a provider is known only inside its own folder and the registry', () => {
    const providers = fs.readdirSync(path.join(SRC, 'sources'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    const leaks: string[] = [];
    for (const file of files) {
      const rel = path.relative(SRC, file);
      for (const target of localImports(file)) {
        const t = path.relative(SRC, target).split(path.sep);
        if (t[0] !== 'sources' || !providers.includes(t[1])) continue;
        const inside = rel.startsWith(`sources${path.sep}${t[1]}${path.sep}`) || rel === path.join('sources', 'registry.ts');
        if (!inside) leaks.push(`${rel} → ${t.join('/')}`);
      }
    }
    expect(leaks).toEqual([]);
  });

  it('nothing below the CLI prints, exits or reads the command line', () => {
    const offenders = files
      .filter((f) => topFolder(f) !== 'cli')
      .filter((f) => /process\.(exit|argv|stdout|stderr)\b|console\.(log|error|warn|info)/.test(fs.readFileSync(f, 'utf8')))
      .map((f) => path.relative(SRC, f));
    expect(offenders).toEqual([]);
  });
});
