import { useRef, useState, type FormEvent } from 'react';
import { Link, useLocation, useSearchParams } from 'react-router';
import { useSignIn } from '../auth/session.tsx';
import { TextField } from '../components/Field.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { FormAlert } from '../components/States.tsx';
import { hasErrors, toFormErrors, type FormErrors } from '../lib/field-errors.ts';
import { focusFirstInvalid } from '../lib/focus.ts';
import { AuthLayout } from './AuthLayout.tsx';

type Field = 'email' | 'password';
const FIELDS: Field[] = ['email', 'password'];

export function SignInPage() {
  const signIn = useSignIn();
  const location = useLocation();
  const [params] = useSearchParams();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<FormErrors<Field>>({ fields: {} });
  const formRef = useRef<HTMLFormElement>(null);
  const signedOut = (location.state as { signedOut?: boolean } | null)?.signedOut === true;
  const cameFromLink = Boolean(params.get('next'));

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const fields: FormErrors<Field>['fields'] = {};
    if (!email.trim()) fields.email = 'Enter your email address.';
    if (!password) fields.password = 'Enter your password.';
    if (hasErrors(fields)) {
      setErrors({ fields });
      focusFirstInvalid(formRef.current);
      return;
    }
    setErrors({ fields: {} });
    signIn.mutate(
      { email: email.trim(), password },
      {
        onError: (err) => {
          setErrors(toFormErrors(err, FIELDS));
          focusFirstInvalid(formRef.current);
        },
      },
    );
  };

  return (
    <AuthLayout>
      <PageHeading title="Sign in">Sign in to The Way</PageHeading>
      {signedOut && !errors.form && (
        <p className="alert alert--success" role="status">
          You've signed out.
        </p>
      )}
      {cameFromLink && !signedOut && !errors.form && (
        <p className="alert alert--info" role="status">
          Sign in to continue.
        </p>
      )}
      <FormAlert message={errors.form} />
      <form ref={formRef} className="form" onSubmit={onSubmit} noValidate>
        <TextField
          label="Email"
          type="email"
          name="email"
          autoComplete="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={errors.fields.email}
          required
        />
        <TextField
          label="Password"
          type="password"
          name="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={errors.fields.password}
          required
        />
        <button type="submit" className="button button--primary button--block" disabled={signIn.isPending}>
          {signIn.isPending ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p className="auth__switch">
        New to The Way? <Link to={{ pathname: '/signup', search: location.search }}>Create an account</Link>
      </p>
    </AuthLayout>
  );
}
