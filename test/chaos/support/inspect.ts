import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { lakeTempPrefix } from '../../../shared/domain/paths.js';
import { sha256 } from './workloads.js';

/**
 * What the crash suite measures on disk between kills: torn files, files replaced by an
 * identical copy (an upload or transfer done twice), results recorded twice in a history, and
 * jobs launched twice. Everything is read from the files themselves, never from the host.
 */

async function* files(root: string): AsyncGenerator<string> {
  let entries;
  try {
    entries = await readdir(root, { recursive: true, withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.isFile()) yield path.join(entry.parentPath, entry.name);
  }
}

/** Temp names of the state store (`.<name>.<uuid>.tmp`), the lake and the instance store. */
function isTempName(name: string): boolean {
  return (
    name.startsWith(lakeTempPrefix) ||
    /^\..+\.tmp$/.test(name) ||
    name.startsWith('.tmp-') ||
    /\.tmp-(\d+-)?[0-9a-f-]{36}$/.test(name)
  );
}

export interface TornReport {
  /** Documents or history lines that do not parse (a torn last line counted apart). */
  torn: string[];
  /** history/inbox files whose last line is cut (expected right after a kill, repaired on load). */
  tornTails: string[];
  /** Temp files of unfinished writes (expected right after a kill; swept or harmless later). */
  temps: string[];
  /**
   * `host/host.json`, the running host's address, unreadable: `baton up` writes it in place
   * (not via a temp file), so a kill can leave it empty. Readers take that as "no host".
   */
  tornAdverts: string[];
}

/**
 * Every JSON document the host and its job supervisors keep must parse whole, at any moment:
 * they are written to a temp file and renamed. Histories and inboxes are appended, so their
 * last line may be cut by a kill (the engine drops and truncates it on load); any other line
 * that does not parse is torn.
 */
export async function scanTorn(stateDir: string): Promise<TornReport> {
  const report: TornReport = { torn: [], tornTails: [], temps: [], tornAdverts: [] };
  for await (const file of files(stateDir)) {
    const name = path.basename(file);
    const relative = path.relative(stateDir, file);
    if (isTempName(name)) {
      report.temps.push(relative);
      continue;
    }
    // A file seen whole before and not touched since is whole still (scans run after each kill).
    const info = await stat(file).catch(() => undefined);
    if (info === undefined) continue;
    const version = `${info.ino}:${info.mtimeMs}:${info.size}`;
    if (verifiedWhole.get(file) === version) continue;
    const before = report.torn.length + report.tornTails.length;
    if (name.endsWith('.jsonl') && relative.startsWith(`durable${path.sep}`)) {
      const text = await readFile(file, 'utf8');
      const lines = text.split('\n');
      const tail = lines.pop() ?? '';
      if (tail !== '') report.tornTails.push(relative);
      lines.forEach((line, i) => {
        try {
          JSON.parse(line);
        } catch {
          report.torn.push(`${relative}:${i + 1}`);
        }
      });
      if (report.torn.length + report.tornTails.length === before) verifiedWhole.set(file, version);
      continue;
    }
    const isDocument =
      name.endsWith('.json') &&
      !relative.startsWith(`lake${path.sep}`) &&
      !relative.startsWith(`databanks${path.sep}`);
    if (isDocument || name === 'orca_model_state.json') {
      try {
        JSON.parse(await readFile(file, 'utf8'));
      } catch {
        (relative === path.join('host', 'host.json') ? report.tornAdverts : report.torn).push(
          relative,
        );
      }
    }
    if (report.torn.length + report.tornTails.length === before) verifiedWhole.set(file, version);
  }
  return report;
}

const verifiedWhole = new Map<string, string>();

export interface FileFacts {
  ino: number;
  mtimeMs: number;
  size: number;
  sha: string;
}

export type Snapshot = Map<string, FileFacts>;

const hashed = new Map<string, FileFacts>();

/** Published files below the roots (temp files are not published, so not listed). */
export async function snapshotFiles(roots: Record<string, string>): Promise<Snapshot> {
  const out: Snapshot = new Map();
  for (const [label, root] of Object.entries(roots)) {
    for await (const file of files(root)) {
      if (isTempName(path.basename(file))) continue;
      try {
        const info = await stat(file);
        const known = hashed.get(file);
        const same =
          known !== undefined &&
          known.ino === info.ino &&
          known.mtimeMs === info.mtimeMs &&
          known.size === info.size;
        const facts = same
          ? known
          : {
              ino: info.ino,
              mtimeMs: info.mtimeMs,
              size: info.size,
              sha: sha256(await readFile(file)),
            };
        hashed.set(file, facts);
        out.set(`${label}/${path.relative(root, file)}`, facts);
      } catch {
        // removed meanwhile (a job cleaning up): not a replacement
      }
    }
  }
  return out;
}

/**
 * Files that a later snapshot shows replaced (new inode or mtime). Replaced by the same content:
 * the upload or transfer was done twice. Replaced by other content: a file the product rewrites
 * on purpose (a state file, a log), reported apart.
 */
export function replacedFiles(
  before: Snapshot,
  after: Snapshot,
  ignore: RegExp[] = [],
): { same: string[]; changed: string[] } {
  const same: string[] = [];
  const changed: string[] = [];
  for (const [key, was] of before) {
    const now = after.get(key);
    if (!now || ignore.some((r) => r.test(key))) continue;
    if (now.ino === was.ino && now.mtimeMs === was.mtimeMs) continue;
    (now.sha === was.sha ? same : changed).push(key);
  }
  return { same, changed };
}

interface Episode {
  generation: number;
  events: Array<{
    EventType: number;
    EventId: number;
    TaskScheduledId?: number;
    TimerId?: number;
  }>;
}

/**
 * Results recorded more than once: per instance and generation, each task, sub-orchestration
 * and timer completes at most once, and no id is scheduled twice. The engine's promise.
 */
export async function duplicateHistoryResults(stateDir: string): Promise<string[]> {
  const found: string[] = [];
  const root = path.join(stateDir, 'durable');
  let instances: string[] = [];
  try {
    instances = (await readdir(root)).filter((n) => !n.startsWith('.'));
  } catch {
    return found;
  }
  for (const instance of instances) {
    let text: string;
    try {
      text = await readFile(path.join(root, instance, 'history.jsonl'), 'utf8');
    } catch {
      continue;
    }
    const seen = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let episode: Episode;
      try {
        episode = JSON.parse(line) as Episode;
      } catch {
        continue; // a torn tail, counted by scanTorn
      }
      for (const e of episode.events) {
        const key =
          e.EventType === 4 || e.EventType === 7 || e.EventType === 10
            ? `scheduled ${e.EventId}`
            : [5, 6, 8, 9].includes(e.EventType)
              ? `completed ${e.TaskScheduledId}`
              : e.EventType === 11
                ? `fired ${e.TimerId}`
                : undefined;
        if (key === undefined) continue;
        const full = `${episode.generation}:${key}`;
        seen.set(full, (seen.get(full) ?? 0) + 1);
      }
    }
    for (const [key, n] of seen) if (n > 1) found.push(`${instance} ${key} ×${n}`);
  }
  return found;
}

export interface JournalLine {
  jobId: string;
  pid: number;
  cwd: string;
  argv: string[];
}

export async function readJournal(file: string): Promise<JournalLine[]> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as JournalLine);
}

/** Job ids launched more than once, and launches that no supervisor owned. */
export function duplicateLaunches(lines: JournalLine[]): { twice: string[]; unowned: number } {
  const counts = new Map<string, number>();
  let unowned = 0;
  for (const line of lines) {
    if (line.jobId === 'unknown') unowned++;
    else counts.set(line.jobId, (counts.get(line.jobId) ?? 0) + 1);
  }
  return {
    twice: [...counts].filter(([, n]) => n > 1).map(([id, n]) => `${id} ×${n}`),
    unowned,
  };
}
