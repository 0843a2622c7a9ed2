// `npm run bench`: every side-by-side benchmark, in one run, reported as ratios.
// BENCH=spine,... selects; BENCH_RUNS sets repetitions.
const all = ['spine', 'startup', 'oci', 'cook', 'bake', 'engine', 'foreign'];
const chosen = (process.env.BENCH ?? all.join(',')).split(',');
for (const name of chosen) {
  await import(`./${name}.mjs`);
}
// docs/BENCH.md from bench/results.json, which the benchmarks above updated
await import('./table.mjs');
