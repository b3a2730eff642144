/**
 * dependency-cruiser configuration for `npm run check:imports` (issue 16 item 6), run from the
 * repository root by that script:
 *
 *   tools/import-check/node_modules/.bin/depcruise --config tools/import-check/.dependency-cruiser.cjs \
 *     --ignore-known tools/import-check/known-cycles.json packages examples
 *
 * One rule: no import cycle inside a package (its src/ and test/ alike). Type-only imports count
 * (tsPreCompilationDeps), since a cycle of types is still a cycle in the design. Imports between
 * packages go through package names along the package graph and cannot form a cycle, so the rule
 * looks only at arrows from a package into itself.
 *
 * The cycles allowed today are listed, exactly, in known-cycles.json (dependency-cruiser's
 * known-violations baseline): intel-vtd, arm-smmuv3 and power-tce only, none in core, conformance,
 * cli or the example. A cycle is matched by its set of modules, so a new import that closes a
 * different circle, even through files of an allowed one, fails. When a circle is removed, drop
 * its entries from the baseline (or regenerate it with `npm run check:imports:baseline` and review
 * the diff: the file may only ever shrink).
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular-in-package',
      severity: 'error',
      comment:
        'This import closes an import cycle inside one package (type-only imports count). Break it: move what both sides need into a ' +
        'module below them, or pass it in. Known cycles are listed in tools/import-check/known-cycles.json and may only be removed.',
      from: { path: '^(packages|examples)/([^/]+)/' },
      to: { circular: true, path: '^$1/$2/' },
    },
  ],
  options: {
    doNotFollow: { path: '(^|/)node_modules/' },
    exclude: { path: '(^|/)(node_modules|dist)/|\\.d\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.test.json' },
    enhancedResolveOptions: {
      // Workspace packages resolve to their TypeScript source, as vitest resolves them.
      conditionNames: ['source', 'import', 'types', 'default'],
      exportsFields: ['exports'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
    skipAnalysisNotInRules: true,
  },
};
