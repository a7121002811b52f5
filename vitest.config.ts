import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'shared/src/**/*.test.ts', 'server/src/**/*.test.ts', 'client/src/**/*.test.ts'],
    pool: 'forks',
    // automerge-repo's throttle hands setTimeout a negative wait when a call comes late; Node then runs
    // it at once, as meant, and prints a warning for every such call. It is the library's, not ours.
    execArgv: ['--disable-warning=TimeoutNegativeWarning'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
})
