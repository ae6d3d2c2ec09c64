import { CronExpressionParser } from 'cron-parser';
import type { Clock } from '../ports/clock.js';
import { functionsByTrigger, type RegisteredFunction } from './functionRegistry.js';
import { invocationContextFor, resolveAppSetting, stringOption } from './invocation.js';
import type { Logger } from './logger.js';

/**
 * Fires timer-triggered functions on their NCRONTAB schedules (six fields, seconds first, as
 * in Azure Functions; `%SETTING%` is resolved from the environment), with cron-parser doing
 * the calendar arithmetic.
 */
export interface TimerInfo {
  isPastDue: boolean;
  scheduleStatus: { last: string; next: string; lastUpdated: string };
}

export function nextOccurrence(schedule: string, after: Date): Date {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 6)
    throw new Error(
      `schedule "${schedule}" must have 6 fields (second minute hour day month weekday)`,
    );
  return CronExpressionParser.parse(schedule, { currentDate: after, tz: 'UTC' }).next().toDate();
}

const maxTimeoutMs = 2 ** 31 - 1;

export function startTimerTriggers(options: {
  logger: Logger;
  clock: Clock;
  env: Record<string, string | undefined>;
  inputs: () => Record<string, unknown>;
}): () => void {
  const handles = new Set<NodeJS.Timeout>();
  let stopped = false;
  for (const fn of functionsByTrigger('timerTrigger')) {
    const schedule = resolveAppSetting(stringOption(fn.trigger.schedule), options.env);
    nextOccurrence(schedule, options.clock.now()); // fail at start-up on a bad schedule
    let last = options.clock.now();
    const arm = (): void => {
      if (stopped) return;
      // From the later of now and the occurrence just fired: a timer that wakes a millisecond
      // early must not fire the same occurrence twice.
      const now = options.clock.now();
      const next = nextOccurrence(schedule, now > last ? now : last);
      const wait = (): void => {
        if (stopped) return;
        const remaining = next.getTime() - options.clock.now().getTime();
        // setTimeout takes at most 2^31-1 ms (about 24.8 days); a longer wait (a yearly
        // schedule) would fire at once. Sleep in steps until the occurrence is near.
        const handle = setTimeout(
          () => {
            handles.delete(handle);
            if (remaining > maxTimeoutMs) {
              wait();
              return;
            }
            void fire(fn, last, next).finally(() => {
              last = next;
              arm();
            });
          },
          Math.min(maxTimeoutMs, Math.max(0, remaining)),
        );
        handles.add(handle);
      };
      wait();
    };
    if (fn.trigger.runOnStartup === true) void fire(fn, last, nextOccurrence(schedule, last));
    arm();
    options.logger.info(`timer ${fn.name} on "${schedule}"`);
  }

  async function fire(fn: RegisteredFunction, last: Date, next: Date): Promise<void> {
    const now = options.clock.now();
    const info: TimerInfo = {
      isPastDue: now.getTime() - next.getTime() > 60_000,
      scheduleStatus: {
        last: last.toISOString(),
        next: next.toISOString(),
        lastUpdated: now.toISOString(),
      },
    };
    try {
      await fn.handler(
        info,
        invocationContextFor(fn, options.logger, { inputs: options.inputs() }),
      );
    } catch (error) {
      options.logger.error({ function: fn.name, err: error }, 'timer function failed');
    }
  }

  return () => {
    stopped = true;
    for (const h of handles) clearTimeout(h);
    handles.clear();
  };
}

/**
 * Runs a timer function now, outside its schedule (the local host does this for the job
 * watcher when its compute backend reports that jobs ended). Runs never overlap: a request
 * during a run makes one more run after it.
 */
export function onDemandTimer(options: {
  name: string;
  logger: Logger;
  inputs: () => Record<string, unknown>;
  clock: Clock;
}): (() => void) | undefined {
  const fn = functionsByTrigger('timerTrigger').find((f) => f.name === options.name);
  if (fn === undefined) return undefined;
  let running = false;
  let again = false;
  const run = async (): Promise<void> => {
    running = true;
    do {
      again = false;
      const now = options.clock.now().toISOString();
      const info: TimerInfo = {
        isPastDue: false,
        scheduleStatus: { last: now, next: now, lastUpdated: now },
      };
      try {
        await fn.handler(
          info,
          invocationContextFor(fn, options.logger, { inputs: options.inputs() }),
        );
      } catch (error) {
        options.logger.error({ function: fn.name, err: error }, 'timer function failed');
      }
    } while (again);
    running = false;
  };
  return () => {
    if (running) {
      again = true;
      return;
    }
    void run();
  };
}
