/**
 * The settings group of self-service sign-up (issue 19 §5, docs/account.md
 * "Sign-up"), a row group of the one settings table (settings.ts places it).
 */
import { z } from 'zod';

import { duration, threshold } from './formats.js';
import { setting, type SettingGroup } from './setting.js';

export const signupSettings = {
  mode: setting('GATEHOUSE_SIGNUP', 'off', z.enum(['off', 'open', 'invite']),
    'Self-service sign-up: `off` (operators create every account), `open` (a "Create an account" link on the sign-in page; the address is verified by email, so it needs `GATEHOUSE_SMTP_URL`), or `invite` (only through a link an operator sends with `gatehouse users invite` or POST /admin/v1/invitations).'),
  invitationTtlSeconds: setting('GATEHOUSE_INVITATION_TTL', '7d', duration,
    'Lifetime of an invitation link; it also stops working once used.'),
  perAddress: setting('GATEHOUSE_SIGNUP_LIMIT_ADDRESS', '3/1h', threshold,
    'Sign-up requests that send a message per email address in a window; past it the page answers the same and nothing is sent or created.'),
  perIp: setting('GATEHOUSE_SIGNUP_LIMIT_IP', '10/1h', threshold,
    'Sign-up form submissions per client IP address in a window; past it the page answers 429 with `Retry-After`.'),
} satisfies SettingGroup;
