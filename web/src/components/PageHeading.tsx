import { useEffect, useRef, type ReactNode } from 'react';

let firstPageShown = false;

/**
 * The page's one <h1>. After a client-side navigation it takes focus, so keyboard and screen
 * reader users land at the start of the new page instead of on a link that no longer exists.
 */
export function PageHeading({ children, title }: { children: ReactNode; title: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · The Way`;
  }, [title]);
  useEffect(() => {
    if (firstPageShown) ref.current?.focus({ preventScroll: false });
    firstPageShown = true;
  }, []);
  return (
    <h1 ref={ref} tabIndex={-1} className="page-heading">
      {children}
    </h1>
  );
}
