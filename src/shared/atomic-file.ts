/** Durable file publication: write a temp file, fsync it, rename it into place, fsync the directory. */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Whether a file exists; any error but its absence is thrown. */
export async function fileExists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}

export async function fsyncFile(file: string): Promise<void> {
  const handle = await fs.open(file, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  // Directories cannot be opened for fsync on Windows; durability there rests on the file fsync.
  if (process.platform === 'win32') return;
  await fsyncFile(dir);
}

/**
 * mkdir -p for many directories, then fsync the parent of every directory that was created —
 * each parent once, concurrently — so the new entries survive a power cut.
 */
export async function ensureDirsDurable(dirs: readonly string[]): Promise<void> {
  const parents = new Set<string>();
  for (const dir of new Set(dirs.map((d) => path.resolve(d)))) {
    // mkdir returns the first directory it had to create (undefined when all existed).
    const first = await fs.mkdir(dir, { recursive: true });
    if (first === undefined) continue;
    for (let d = dir; ; d = path.dirname(d)) {
      parents.add(path.dirname(d));
      if (d === path.resolve(first) || path.dirname(d) === d) break;
    }
  }
  await Promise.all([...parents].map((p) => fsyncDir(p)));
}

/**
 * Move already-written temp files over their targets, atomically and durably: every temp file is
 * fsynced before any rename (so a completed rename never exposes an empty file after a power cut),
 * then each target directory is fsynced once. The fsyncs run concurrently so the file system can
 * commit them together.
 */
export async function publishFiles(moves: readonly { temp: string; target: string }[]): Promise<void> {
  await Promise.all(moves.map((m) => fsyncFile(m.temp)));
  const dirs = [...new Set(moves.map((m) => path.dirname(m.target)))];
  await ensureDirsDurable(dirs);
  for (const m of moves) await fs.rename(m.temp, m.target);
  await Promise.all(dirs.map((dir) => fsyncDir(dir)));
}

let tempCounter = 0;

/** Write text to `target` atomically: readers see the old content or the new, never a part. */
export async function writeFileAtomic(target: string, content: string): Promise<void> {
  await ensureDirsDurable([path.dirname(target)]);
  // A dot-prefixed temp name beside the target, with a suffix no reader's glob matches.
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${++tempCounter}.tmp`);
  const handle = await fs.open(temp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, target);
  await fsyncDir(path.dirname(target));
}
