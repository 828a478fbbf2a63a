/**
 * The packed package works from another project: `npm pack`, installed into an empty temp project,
 * runs the README's "Use it from code" example offline, and its types check under `tsc --strict`.
 * Tests reach no registry, so the temp project's dependencies are links to this checkout's installed
 * ones; the package itself is the tarball's content, exactly what `npm publish` would ship.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../support/cli.js';

/** The README's library example: the first ```js block after the "Use it from code" heading. */
function readmeExample(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it from code'));
  const match = /```js\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('README has no ```js example under "## Use it from code"');
  return match[1];
}

function installPacked(): string {
  const packDir = tempDir('de-pack-');
  const output = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: ROOT, encoding: 'utf8' });
  const [{ filename, files }] = JSON.parse(output) as { filename: string; files: { path: string }[] }[];
  const shipped = files.map((f) => f.path);
  expect(shipped).toContain('dist/src/index.js');
  expect(shipped).toContain('dist/src/index.d.ts');
  expect(shipped).toContain('bin/ingest.js');
  expect(shipped.filter((f) => f.startsWith('test/') || f.startsWith('dist/test/') || f.startsWith('dist/bench/') || f.startsWith('src/'))).toEqual([]);

  const project = tempDir('de-consumer-');
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const modules = path.join(project, 'node_modules');
  const target = path.join(modules, 'data-engine');
  fs.mkdirSync(target, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(packDir, filename), '-C', target, '--strip-components=1']);
  // Every installed package of this checkout, as the consumer's dependencies (and tsc, @types/node).
  for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (entry.startsWith('.') || entry === 'data-engine') continue;
    fs.symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(modules, entry));
  }
  return project;
}

describe('packed package', () => {
  it("installs into an empty project, runs the README example offline, and type-checks with tsc --strict", () => {
    const project = installPacked();
    const example = readmeExample();
    fs.writeFileSync(path.join(project, 'example.mjs'), example);
    const out = execFileSync(process.execPath, ['example.mjs'], { cwd: project, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    expect(out).toMatch(/AAPL/);
    expect(out).toMatch(/complete: true/);
    expect(fs.existsSync(path.join(project, 'data', 'equities_1day'))).toBe(true);

    fs.writeFileSync(path.join(project, 'example.ts'), example);
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', types: ['node'], skipLibCheck: false }, files: ['example.ts'] }),
    );
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' });

    // Consumers on TypeScript before 5.7 check these declarations too (without skipLibCheck): none
    // reachable from the entry point may use the typed arrays' generic form (`Uint8Array<ArrayBuffer>`).
    const reachable = new Set<string>();
    const pending = [path.join(project, 'node_modules', 'data-engine', 'dist', 'src', 'index.d.ts')];
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (reachable.has(file)) continue;
      reachable.add(file);
      for (const [, spec] of fs.readFileSync(file, 'utf8').matchAll(/(?:from |import\()'(\.[^']+)\.js'/g)) pending.push(path.join(path.dirname(file), `${spec}.d.ts`));
    }
    expect(reachable.size).toBeGreaterThan(10);
    expect([...reachable].filter((f) => /Uint8Array</.test(fs.readFileSync(f, 'utf8')))).toEqual([]);
  });
});
