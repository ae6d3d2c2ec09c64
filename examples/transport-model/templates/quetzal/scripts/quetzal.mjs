// Stand-in for Quetzal: assigns the trips to the network and writes a (text) skim matrix; with
// --summary, a summary over all iterations. Fails with exit code 3 while a file named FAIL_QUETZAL
// sits in the databank (to try the error dump and the resume).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

if (existsSync('../FAIL_QUETZAL')) {
  console.error('quetzal: the network does not converge (FAIL_QUETZAL is present)');
  process.exit(3);
}
const state = JSON.parse(readFileSync('../orca_model_state.json', 'utf8'));
const iteration = state.current_iteration;
const trips = readFileSync('../activitysim/outputs/trips.csv', 'utf8').trim().split('\n').slice(1);
const volume = new Map();
for (const line of trips) {
  const [, , origin, destination] = line.split(',');
  const key = `${origin}-${destination}`;
  volume.set(key, (volume.get(key) ?? 0) + 1);
}
mkdirSync('outputs', { recursive: true });
if (process.argv.includes('--summary')) {
  writeFileSync('outputs/summary.csv', `iterations,trips\n${iteration},${trips.length}\n`);
  console.log(`quetzal summary: ${trips.length} trips after ${iteration} iterations`);
} else {
  const rows = [...volume].sort().map(([od, v]) => `${od},${v}`);
  writeFileSync(`outputs/assignment_iter${iteration}.omx`, `od,volume\n${rows.join('\n')}\n`);
  console.log(`quetzal iteration ${iteration}: ${volume.size} OD pairs loaded`);
}
