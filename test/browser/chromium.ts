import { existsSync } from 'node:fs';

/**
 * The Chromium the browser suite drives: `BATON_CHROMIUM`, else Debian's package. Playwright's
 * own browser download is never used (it needs a network and a matching build); `.ci/run`
 * installs Debian's `chromium` instead.
 */
export const chromiumCandidates = (): string[] =>
  [
    process.env.BATON_CHROMIUM,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
  ].filter((p): p is string => typeof p === 'string' && p !== '');

export function findChromium(): string | undefined {
  return chromiumCandidates().find((p) => existsSync(p));
}

/**
 * Why the suite does not run here, or undefined when it must. Without a Chromium, a developer's
 * `npm test` skips only this suite and says so; CI (`CI=true`) never skips: the suite fails.
 */
export function browserSkipReason(): string | undefined {
  if (findChromium() !== undefined || process.env.CI === 'true') return undefined;
  return `browser suite skipped: no Chromium at ${chromiumCandidates().join(', ')} (apt-get install chromium, or set BATON_CHROMIUM)`;
}
