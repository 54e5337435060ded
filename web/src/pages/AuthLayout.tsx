import type { ReactNode } from 'react';
import { Link } from 'react-router';
import { Logo } from '../components/Logo.tsx';
import { SkipLink } from '../components/AppShell.tsx';

/** Sign in and sign up: the form beside a short pitch of what the product does. */
export function AuthLayout({ children }: { children: ReactNode }) {
  return (
    <div className="auth">
      <SkipLink />
      <aside className="auth__pitch" aria-label="About The Way">
        <Link to="/signin" className="brand brand--inverse">
          <Logo size={32} />
          <span className="brand__name">The Way</span>
        </Link>
        <div className="auth__pitch-body">
          <p className="auth__tagline">Your images. Your model.</p>
          <p>Turn 15–20 good photos into a custom image model, then generate new images of your subject or style.</p>
          <ol className="auth__steps">
            <li>Describe your model</li>
            <li>Upload 15–20 training images</li>
            <li>Pick training settings and start</li>
            <li>Generate with your model</li>
          </ol>
        </div>
      </aside>
      <main id="main" className="auth__main" tabIndex={-1}>
        <div className="auth__card">{children}</div>
      </main>
    </div>
  );
}
