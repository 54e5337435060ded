import type { Migration } from 'kysely/migration';
import * as m0001 from './0001_foundation.ts';
import * as m0002 from './0002_datasets.ts';
import * as m0003 from './0003_trainings.ts';
import * as m0004 from './0004_user_webhooks.ts';
import * as m0005 from './0005_generations.ts';
import * as m0007 from './0007_generation_sharing.ts';
import * as m0006 from './0006_generation_usage.ts';
import * as m0008 from './0008_rate_limit_counters.ts';
import * as m0009 from './0009_generation_links.ts';
import * as m0010 from './0010_sliding_rate_limits.ts';

/** Every migration, in order. Append only: a released migration never changes. */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
  '0002_datasets': m0002,
  '0003_trainings': m0003,
  '0004_user_webhooks': m0004,
  '0005_generations': m0005,
  '0006_generation_usage': m0006,
  '0007_generation_sharing': m0007,
  '0008_rate_limit_counters': m0008,
  '0009_generation_links': m0009,
  '0010_sliding_rate_limits': m0010,
};
