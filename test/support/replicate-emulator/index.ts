/**
 * Replicate emulator for tests and benchmarks: `startReplicateEmulator(options)` starts an HTTP
 * server on 127.0.0.1 that behaves like Replicate's API (docs/replicate-contract.md).
 */
export {
  startReplicateEmulator,
  type EmulatedPrediction,
  type EmulatedTraining,
  type EmulatorOptions,
  type Fault,
  type FaultKind,
  type FaultMix,
  type InjectedFault,
  type PausedRequest,
  type RandomFaultOptions,
  type PredictionScript,
  type RecordedRequest,
  type ReplicateEmulator,
  type Route,
  type TrainingScript,
  type WebhookDelivery,
} from './emulator.ts';
export { createTar, fakeSafetensors, readTar, renderOutputImage } from './artifacts.ts';
export { generateTrainerLog, renderLogLines, type GeneratedLog, type TimedLogLine, type TrainerLogScript } from './log-generator.ts';
export { FLUX_TRAINER_INPUT, FLUX_VERSION_INPUT, SDXL_TRAINER_INPUT, SDXL_VERSION_INPUT, openApiSchemaFor, validateInput, type SchemaKind } from './schemas.ts';
