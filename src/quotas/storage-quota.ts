import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
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
    if (this.#fits(used, incomingBytes)) return;
    const message = used >= this.limitBytes
      ? `${this.#standing(used)} ${FREE_SPACE}`
      : `This upload (${formatBytes(incomingBytes)}) does not fit: ${lowerFirst(this.#standing(used))} ${FREE_SPACE} Or upload fewer files at once.`;
    throw new AppError('payload_too_large', message, { limit: 'storage_per_user', usedBytes: used, limitBytes: this.limitBytes, incomingBytes });
  }

  /**
   * The exact check, inside the transaction that records a new file of `bytes` (as stored): the
   * owner's other such transactions wait, so concurrent uploads that each passed `assertRoomFor`
   * cannot together pass the cap. Returns why the file does not fit, or null when it does.
   */
  async refusalWithin(trx: Kysely<Database>, ownerId: string, bytes: number, what: string): Promise<string | null> {
    await this.#usage.lockOwner(trx, ownerId);
    const used = await this.#usage.usedBytes(ownerId, trx);
    if (this.#fits(used, bytes)) return null;
    return `${what} (${formatBytes(bytes)}) does not fit: ${lowerFirst(this.#standing(used))} ${FREE_SPACE}`;
  }

  /** Refuses new work that would store files (a generation) once the user is at the cap. */
  async assertNotFull(ownerId: string): Promise<void> {
    const used = await this.#usage.usedBytes(ownerId);
    if (used < this.limitBytes) return;
    throw new AppError('payload_too_large', `${this.#standing(used)} ${FREE_SPACE}`, { limit: 'storage_per_user', usedBytes: used, limitBytes: this.limitBytes });
  }

  #fits(used: number, bytes: number): boolean {
    return used < this.limitBytes && used + bytes <= this.limitBytes;
  }

  #standing(used: number): string {
    return `You are using ${formatBytes(used)} of your ${formatBytes(this.limitBytes)} storage.`;
  }
}

const FREE_SPACE = 'Delete training images, generations or models you no longer need to free space.';
const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1);
