/**
 * Preloaded into benchmarked CLI runs: records the process's peak RSS (KiB) and the CPU time of all
 * its threads (ms: JavaScript, libuv and DuckDB's workers) at exit, as JSON.
 *
 * On Linux this is VmHWM, the high-water mark of the process's own memory. getrusage's maxrss is
 * not: it keeps the RSS of the process it was forked from (the bench, holding the fake server's page
 * cache, ~480 MB), because the kernel carries the old mm's peak across exec.
 */
import fs from 'node:fs';

function peakRssKiB(): number {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]);
  } catch {
    // not Linux: fall back below
  }
  return process.resourceUsage().maxRSS;
}

process.on('exit', () => {
  const file = process.env.BENCH_RSS_FILE;
  const cpu = process.cpuUsage();
  if (file) fs.writeFileSync(file, JSON.stringify({ peakRssKiB: peakRssKiB(), cpuMs: (cpu.user + cpu.system) / 1000 }));
});
