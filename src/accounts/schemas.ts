import { z } from 'zod';

/** Input rules shared by the HTTP schemas (and so the OpenAPI document) and the services. */
export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(254, 'Email addresses are at most 254 characters.')
  .pipe(z.email('Enter a valid email address, like name@example.com.'));

export const passwordSchema = z
  .string()
  .min(10, 'Use at least 10 characters for your password.')
  .max(200, 'Passwords are at most 200 characters.');

export const displayNameSchema = z
  .string()
  .trim()
  .min(1, 'Tell us what to call you.')
  .max(80, 'Display names are at most 80 characters.');

export const signUpInput = z.object({ email: emailSchema, password: passwordSchema, displayName: displayNameSchema });
export const signInInput = z.object({ email: emailSchema, password: z.string().min(1, 'Enter your password.').max(200) });
export const createTokenInput = z.object({
  name: z.string().trim().min(1, 'Give the token a name so you can recognise it later.').max(80),
  expiresInDays: z.number().int().min(1).max(3650).optional(),
});

export type SignUpInput = z.infer<typeof signUpInput>;
export type SignInInput = z.infer<typeof signInInput>;
export type CreateTokenInput = z.infer<typeof createTokenInput>;
