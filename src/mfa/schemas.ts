import { z } from 'zod';

import { normaliseRecoveryCode } from './recovery-codes.js';

/** Inputs of the second-factor pages (and the CLI), parsed at the edge; the messages are what the page shows. */
export const totpCodeMessage = 'Enter the 6-digit code from your authenticator app.';
export const recoveryCodeMessage = 'Enter a recovery code: 10 letters and digits, like abcde-12345.';

/** Six digits; spaces are allowed because apps show codes as `123 456`. */
export const totpCodeSchema = z
  .string(totpCodeMessage)
  .max(32, totpCodeMessage)
  .transform((value) => value.replace(/\s/g, ''))
  .refine((value) => /^\d{6}$/.test(value), totpCodeMessage);

/** A recovery code in canonical form (see normaliseRecoveryCode). */
export const recoveryCodeSchema = z
  .string(recoveryCodeMessage)
  .max(64, recoveryCodeMessage)
  .transform((value, ctx) => {
    const code = normaliseRecoveryCode(value);
    if (code === undefined) {
      ctx.addIssue({ code: 'custom', message: recoveryCodeMessage });
      return z.NEVER;
    }
    return code;
  });

const csrf = z.string().min(1).max(200);

export const totpFormSchema = z.object({ csrf, code: totpCodeSchema });
export const recoveryFormSchema = z.object({ csrf, code: recoveryCodeSchema });
