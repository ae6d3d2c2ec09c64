// Rules for orchestrator files: they are replayed, so they must not read the clock, draw random
// numbers, schedule timers, touch the file system or network, or read the environment. Shared by
// eslint.config.js and the test that proves the rules catch each of these.
export const orchestratorDeterminismRules = {
  'no-restricted-globals': [
    'error',
    { name: 'Date', message: 'Orchestrators replay: use context.df.currentUtcDateTime.' },
    { name: 'setTimeout', message: 'Orchestrators replay: use context.df.createTimer.' },
    { name: 'setInterval', message: 'Orchestrators replay: use context.df.createTimer.' },
    { name: 'setImmediate', message: 'Orchestrators must not schedule work outside the context.' },
    { name: 'fetch', message: 'Orchestrators must not do I/O: call an activity.' },
    {
      name: 'process',
      message: 'Orchestrators must not read the environment: pass it in the input.',
    },
    { name: 'performance', message: 'Orchestrators replay: no clocks.' },
    { name: 'crypto', message: 'Orchestrators replay: use context.df.newGuid.' },
    {
      name: 'globalThis',
      message: 'Orchestrators must not reach around these rules through globalThis.',
    },
  ],
  'no-restricted-properties': [
    'error',
    {
      object: 'Math',
      property: 'random',
      message: 'Orchestrators replay: use context.df.newGuid or pass randomness in the input.',
    },
  ],
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          group: [
            'node:*',
            'fs',
            'fs/*',
            'path',
            'os',
            'http',
            'https',
            'net',
            'dgram',
            'child_process',
            'crypto',
            'timers',
            'timers/*',
          ],
          message: 'Orchestrators must not do I/O: call an activity.',
        },
        {
          group: ['@azure/*', 'axios', 'undici', 'node-fetch'],
          message: 'Orchestrators must not do network I/O: call an activity.',
        },
        {
          group: ['**/adapters/**', '**/app/services*'],
          message: 'Orchestrators must not reach ports: call an activity.',
        },
      ],
    },
  ],
};
