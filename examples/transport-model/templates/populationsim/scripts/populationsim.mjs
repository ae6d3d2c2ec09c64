// Stand-in for PopulationSim: synthesizes households per zone from the land-use table.
// Runs in the databank's populationsim/ folder; reads ../inputs/landuse/zones.csv.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const zones = readFileSync('../inputs/landuse/zones.csv', 'utf8').trim().split('\n').slice(1);
const rows = ['household,zone,persons'];
let id = 0;
for (const line of zones) {
  const [zone, households] = line.split(',');
  for (let i = 0; i < Number(households); i++) rows.push(`${++id},${zone},${1 + ((id * 7) % 4)}`);
}
mkdirSync('outputs', { recursive: true });
writeFileSync('outputs/households.csv', `${rows.join('\n')}\n`);
writeFileSync('scratch.tmp', 'intermediate data, removed by cleanup_patterns');
console.log(`populationsim: ${id} households in ${zones.length} zones`);
