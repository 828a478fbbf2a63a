/** Serializes writers of the same partition within this process (the run lock covers other processes). */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Run with all keys held; keys are taken in sorted order so overlapping callers cannot deadlock. */
  async runAll<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const step = (i: number): Promise<T> => (i === sorted.length ? task() : this.run(sorted[i], () => step(i + 1)));
    return step(0);
  }

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const tail = new Promise<void>((resolve) => (release = resolve));
    const chained = previous.then(() => tail);
    this.tails.set(key, chained);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.tails.get(key) === chained) this.tails.delete(key);
    }
  }
}

