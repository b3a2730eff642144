export { runCli, buildProgram } from './program.js';
export { memoryIo, processIo, type Io } from './io.js';
export { loadScenarioFile, parseScenario, ScenarioError } from './scenario/load.js';
export { runScenario, type ScenarioReport, type StepReport } from './scenario/runner.js';
export { listBuiltinScenarios } from './scenario/builtins.js';
