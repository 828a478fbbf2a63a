/** Preloaded into benchmarked CLI runs: records the process's peak RSS (KiB) at exit. */
import fs from 'node:fs';

process.on('exit', () => {
  const file = process.env.BENCH_RSS_FILE;
  if (file) fs.writeFileSync(file, String(process.resourceUsage().maxRSS));
});
