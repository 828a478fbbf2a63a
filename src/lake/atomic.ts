/** Durable file publication: write a temp file, fsync it, rename it into place, fsync the directory. */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

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
 * mkdir -p, fsyncing the parent of every directory it creates so the new entries survive a power cut.
 */
export async function ensureDirDurable(dir: string): Promise<void> {
  const missing: string[] = [];
  let current = path.resolve(dir);
  for (;;) {
    try {
      const stat = await fs.stat(current);
      if (!stat.isDirectory()) throw new Error(`${current} exists and is not a directory`);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      missing.push(current);
      const parent = path.dirname(current);
      if (parent === current) break;
      current = parent;
    }
  }
  for (const d of missing.reverse()) {
    await fs.mkdir(d).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    await fsyncDir(path.dirname(d));
  }
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
  for (const dir of dirs) await ensureDirDurable(dir);
  for (const m of moves) await fs.rename(m.temp, m.target);
  await Promise.all(dirs.map((dir) => fsyncDir(dir)));
}

let tempCounter = 0;

/** Write text to `target` atomically: readers see the old content or the new, never a part. */
export async function writeFileAtomic(target: string, content: string): Promise<void> {
  await ensureDirDurable(path.dirname(target));
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
