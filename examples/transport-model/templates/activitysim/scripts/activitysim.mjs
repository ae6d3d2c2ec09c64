// Stand-in for ActivitySim: one trip per person between zones, damped by the previous
// iteration's congestion. Runs in activitysim/; reads the households, the skims and the state.
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const args = process.argv.slice(2);
const limit = Number(args[args.indexOf('--households') + 1] ?? Infinity);
const state = JSON.parse(readFileSync('../orca_model_state.json', 'utf8'));
const iteration = state.current_iteration;
const households = readFileSync('../populationsim/outputs/households.csv', 'utf8')
  .trim()
  .split('\n')
  .slice(1, 1 + limit);
const skims = new Map(
  readFileSync('../inputs/networks/skims.csv', 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','))
    .map(([o, d, minutes]) => [`${o}-${d}`, Number(minutes)]),
);
const trips = ['trip,household,origin,destination,minutes'];
let n = 0;
for (const line of households) {
  const [household, zone, persons] = line.split(',');
  for (let p = 0; p < Number(persons); p++) {
    const destination = String(((Number(household) + p) % 3) + 1);
    const minutes = (skims.get(`${zone}-${destination}`) ?? 30) * (1 + 0.1 * (iteration - 1));
    trips.push(`${++n},${household},${zone},${destination},${minutes.toFixed(1)}`);
  }
}
// A model run takes a while; so does this one, long enough to be interrupted in tests.
const slow = Number(process.env.ACTIVITYSIM_SECONDS ?? '0');
if (slow > 0) await new Promise((r) => setTimeout(r, slow * 1000));
mkdirSync('outputs', { recursive: true });
writeFileSync('outputs/trips.csv', `${trips.join('\n')}\n`);
writeFileSync('temp_chunks.tmp', 'chunk cache');
// One line per model run of this step: how often it ran, for whoever audits the databank.
appendFileSync('runs.log', `iteration ${iteration} ${new Date().toISOString()}\n`);
console.log(`activitysim iteration ${iteration}: ${n} trips from ${households.length} households`);
