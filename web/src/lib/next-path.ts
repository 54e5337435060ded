/** Only lets a local path through, so `?next=` can never send anyone to another site. */
export function safeNextPath(next: string | null | undefined): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/models';
  return next;
}
