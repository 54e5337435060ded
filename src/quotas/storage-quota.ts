import { AppError } from '../shared/errors.ts';
import type { StorageUsageRepository } from './storage-usage-repository.ts';

/** "1.2 GB", "340 MB", "12 KB" (binary units, named the way people read them). */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} bytes` : `${value >= 100 ? Math.round(value) : value.toFixed(1).replace(/\.0$/, '')} ${units[unit]}`;
}

/** The per-user storage cap (USER_STORAGE_LIMIT_MB), checked before accepting new files. */
export class StorageQuota {
  readonly #usage: StorageUsageRepository;
  readonly limitBytes: number;

  constructor(deps: { usage: StorageUsageRepository; limitBytes: number }) {
    this.#usage = deps.usage;
    this.limitBytes = deps.limitBytes;
  }

  async usage(ownerId: string): Promise<{ usedBytes: number; limitBytes: number }> {
    return { usedBytes: await this.#usage.usedBytes(ownerId), limitBytes: this.limitBytes };
  }

  /**
   * Refuses (413) when the user is at the cap, or when `incomingBytes` (an upload's size as sent;
   * what is stored is usually smaller) would take them past it.
   */
  async assertRoomFor(ownerId: string, incomingBytes: number): Promise<void> {
    const used = await this.#usage.usedBytes(ownerId);
    if (used + incomingBytes <= this.limitBytes && used < this.limitBytes) return;
    const standing = `You are using ${formatBytes(used)} of your ${formatBytes(this.limitBytes)} storage.`;
    const fix = 'Delete training images, generations or models you no longer need to free space.';
    const message = used >= this.limitBytes
      ? `${standing} ${fix}`
      : `This upload (${formatBytes(incomingBytes)}) does not fit: ${standing.charAt(0).toLowerCase()}${standing.slice(1)} ${fix} Or upload fewer files at once.`;
    throw new AppError('payload_too_large', message, { limit: 'storage_per_user', usedBytes: used, limitBytes: this.limitBytes, incomingBytes });
  }
}
