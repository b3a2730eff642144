import { defineConfig } from 'vitest/config';

export default defineConfig({
  oxc: { decorator: { legacy: true, emitDecoratorMetadata: true } } as never,
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Shared 2-core machines: a slow neighbour must not turn a correct test into a timeout.
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
