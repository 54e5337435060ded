import { ensureServices } from './services.ts';

export default async function setup(): Promise<void> {
  await ensureServices();
}
