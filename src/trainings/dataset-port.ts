/**
 * What trainings need from a model's training images. Implemented by the datasets domain;
 * kept as a port so the trainings service does not reach into another domain's tables.
 */
export interface DatasetReadiness {
  imageCount: number;
  /** False when training must not start (e.g. fewer than 10 images); `reasons` says why. */
  canTrain: boolean;
  reasons: string[];
  triggerWord: string;
}

export interface TrainingPackage {
  key: string;
  size: number;
  sha256: string;
  imageCount: number;
}

export interface TrainingDatasets {
  readiness(modelId: string): Promise<DatasetReadiness>;
  /** Builds the trainer's zip for `resolution` into storage under `key`; idempotent. */
  buildPackage(modelId: string, resolution: number, key: string): Promise<TrainingPackage>;
}
