import { z } from 'zod';

import { emailSchema, passwordSchema, usernameSchema } from '../accounts/schemas.js';

/** What the open sign-up form may carry (the password's rules are the accounts service's, password-rules.ts). */
export const signupSchema = z.object({
  username: usernameSchema,
  email: emailSchema,
  password: passwordSchema,
});

export type SignupInput = z.output<typeof signupSchema>;

/** The invitation form: the address is the invited one, never typed. */
export const invitationSignupSchema = signupSchema.omit({ email: true });
