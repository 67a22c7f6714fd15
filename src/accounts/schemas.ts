import { z } from 'zod';

/** Input shapes for accounts, parsed at the edge (CLI, forms) before the service sees them. */
export const usernameSchema = z
  .string()
  .trim()
  .min(3, 'username must be 3 to 64 characters')
  .max(64, 'username must be 3 to 64 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'username may hold letters, digits, dot, dash and underscore, starting with a letter or digit');

// The shape only: the upper bound keeps argon2 input (and a request body)
// bounded. Length, the blocklist and the account's own identifiers are the
// service's rules (password-rules.ts), which know the configured minimum.
export const passwordSchema = z
  .string()
  .min(1, 'password must not be empty')
  .max(256, 'password must be at most 256 characters');

export const emailSchema = z.string().trim().pipe(z.email().max(254));

export const newAccountSchema = z.object({
  username: usernameSchema,
  email: z.email().max(254).optional(),
  emailVerified: z.boolean().default(false),
  name: z.string().trim().min(1).max(200).optional(),
  givenName: z.string().trim().min(1).max(100).optional(),
  familyName: z.string().trim().min(1).max(100).optional(),
  password: passwordSchema,
});

export type NewAccount = z.input<typeof newAccountSchema>;

/** What the login form may carry; sizes bound what reaches argon2 and the database. */
export const loginFormSchema = z.object({
  login: z.string().trim().min(1, 'Enter your username or email').max(254, 'Username or password is incorrect'),
  password: z.string().min(1, 'Enter your password').max(256, 'Username or password is incorrect'),
  csrf: z.string().min(1).max(200),
});
