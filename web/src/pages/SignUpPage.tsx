import { useRef, useState, type FormEvent } from 'react';
import { Link, useLocation } from 'react-router';
import { useSignUp } from '../auth/session.tsx';
import { TextField } from '../components/Field.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { FormAlert } from '../components/States.tsx';
import { hasErrors, toFormErrors, type FormErrors } from '../lib/field-errors.ts';
import { AuthLayout } from './AuthLayout.tsx';
import { focusFirstInvalid } from '../lib/focus.ts';

type Field = 'displayName' | 'email' | 'password';
const FIELDS: Field[] = ['displayName', 'email', 'password'];
export const MIN_PASSWORD_LENGTH = 10;

export function SignUpPage() {
  const signUp = useSignUp();
  const location = useLocation();
  const [displayName, setDisplayName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<FormErrors<Field>>({ fields: {} });
  const formRef = useRef<HTMLFormElement>(null);

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const fields: FormErrors<Field>['fields'] = {};
    if (!displayName.trim()) fields.displayName = 'Tell us what to call you.';
    if (!email.trim()) fields.email = 'Enter your email address.';
    else if (!/^[^\s@]+@[^\s@]+$/.test(email.trim())) fields.email = 'Enter a valid email address, like name@example.com.';
    if (password.length < MIN_PASSWORD_LENGTH) fields.password = `Use at least ${MIN_PASSWORD_LENGTH} characters for your password.`;
    if (hasErrors(fields)) {
      setErrors({ fields });
      focusFirstInvalid(formRef.current);
      return;
    }
    setErrors({ fields: {} });
    signUp.mutate(
      { email: email.trim(), password, displayName: displayName.trim() },
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
      <PageHeading title="Create your account">Create your account</PageHeading>
      <p className="auth__lead">Start training your own image models.</p>
      <FormAlert message={errors.form} />
      <form ref={formRef} className="form" onSubmit={onSubmit} noValidate>
        <TextField
          label="Display name"
          name="displayName"
          autoComplete="name"
          hint="Shown to others on your public models."
          value={displayName}
          onChange={(e) => setDisplayName(e.target.value)}
          error={errors.fields.displayName}
          maxLength={80}
          required
        />
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
          autoComplete="new-password"
          hint={`At least ${MIN_PASSWORD_LENGTH} characters.`}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={errors.fields.password}
          minLength={MIN_PASSWORD_LENGTH}
          required
        />
        <button type="submit" className="button button--primary button--block" disabled={signUp.isPending}>
          {signUp.isPending ? 'Creating your account…' : 'Create account'}
        </button>
      </form>
      <p className="auth__switch">
        Already have an account? <Link to={{ pathname: '/signin', search: location.search }}>Sign in</Link>
      </p>
    </AuthLayout>
  );
}
