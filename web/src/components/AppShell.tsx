import { useEffect, useId, useRef, useState } from 'react';
import { Link, NavLink, Outlet, useLocation } from 'react-router';
import { useCurrentUser, useSignOut } from '../auth/session.tsx';
import { useIsAdmin } from '../api/admin.ts';
import { Logo } from './Logo.tsx';

export function SkipLink() {
  return (
    <a className="skip-link" href="#main">
      Skip to content
    </a>
  );
}

/** Header with the main navigation and the account menu around every signed-in page. */
export function AppShell() {
  const isAdmin = useIsAdmin();
  return (
    <div className="app">
      <SkipLink />
      <header className="app-header">
        <div className="app-header__inner">
          <Link to="/models" className="brand" aria-label="The Way, home">
            <Logo />
            <span className="brand__name">The Way</span>
          </Link>
          <nav aria-label="Main" className="main-nav">
            <ul>
              <li>
                <NavLink to="/models" className="main-nav__link">
                  Models
                </NavLink>
              </li>
              <li>
                <NavLink to="/settings" className="main-nav__link">
                  Settings
                </NavLink>
              </li>
              {isAdmin && (
                <li>
                  <NavLink to="/admin" className="main-nav__link">
                    Admin
                  </NavLink>
                </li>
              )}
            </ul>
          </nav>
          <UserMenu />
        </div>
      </header>
      <main id="main" className="app-main" tabIndex={-1}>
        <Outlet />
      </main>
      <footer className="app-footer">
        <p>The Way · open-source and self-hosted · turn 15–20 images into your own image model</p>
      </footer>
    </div>
  );
}

function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0]![0], parts[parts.length - 1]![0]] : [parts[0]?.[0]];
  return letters.join('').toUpperCase() || '?';
}

function UserMenu() {
  const user = useCurrentUser();
  const signOut = useSignOut();
  const [open, setOpen] = useState(false);
  const menuId = useId();
  const buttonRef = useRef<HTMLButtonElement>(null);
  const wrapperRef = useRef<HTMLDivElement>(null);
  const location = useLocation();

  useEffect(() => setOpen(false), [location.pathname]);

  useEffect(() => {
    if (!open) return;
    const onPointer = (e: PointerEvent) => {
      if (!wrapperRef.current?.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setOpen(false);
        buttonRef.current?.focus();
      }
    };
    document.addEventListener('pointerdown', onPointer);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('pointerdown', onPointer);
      document.removeEventListener('keydown', onKey);
    };
  }, [open]);

  if (!user) return null;
  return (
    <div
      className="user-menu"
      ref={wrapperRef}
      onBlur={(e) => {
        // Tabbing out of the open menu closes it.
        if (open && !e.currentTarget.contains(e.relatedTarget as Node | null)) setOpen(false);
      }}
    >
      <button
        ref={buttonRef}
        type="button"
        className="user-menu__button"
        aria-expanded={open}
        aria-controls={menuId}
        onClick={() => setOpen((o) => !o)}
      >
        <span className="avatar" aria-hidden="true">
          {initials(user.displayName)}
        </span>
        <span className="user-menu__name">{user.displayName}</span>
        <span className="visually-hidden">, account menu</span>
        <span className="user-menu__chevron" aria-hidden="true">
          ▾
        </span>
      </button>
      <div id={menuId} className="user-menu__panel" hidden={!open}>
        <p className="user-menu__who">
          Signed in as
          <strong>{user.email}</strong>
        </p>
        <ul>
          <li>
            <Link to="/settings/tokens" className="user-menu__item">
              API tokens
            </Link>
          </li>
          <li>
            <button
              type="button"
              className="user-menu__item"
              onClick={() => signOut.mutate()}
              disabled={signOut.isPending}
            >
              {signOut.isPending ? 'Signing out…' : 'Sign out'}
            </button>
          </li>
        </ul>
        {signOut.isError && (
          <p className="field__error" role="alert">
            {signOut.error.message}
          </p>
        )}
      </div>
    </div>
  );
}
