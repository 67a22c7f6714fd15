/**
 * The settings groups for outbound mail and outbound fetches (SMTP, Client ID
 * Metadata Documents) and the test-only overrides of their guards, as rows of
 * the one settings table (settings.ts places them; README order is its order).
 */
import { z } from 'zod';

import { duration, integer, listOf, text, threshold } from './formats.js';
import { hostPatternList, resolveOverrides, resourceIndicatorList } from './outbound-formats.js';
import { setting, type SettingGroup } from './setting.js';

export const mailSettings = {
  smtpUrl: setting('GATEHOUSE_SMTP_URL', undefined, z.url({ protocol: /^smtps?$/ }),
    'SMTP server that password-reset, email-verification and security-notice messages go through (docs/email.md): `smtps://user:pass@host:465` (TLS from the start) or `smtp://host:587` (STARTTLS). Unset: Gatehouse sends no mail, and the sign-in page offers no password reset.'),
  from: setting('GATEHOUSE_MAIL_FROM', undefined, z.string().trim().min(3).max(254).regex(/^[^\r\n]+@[^\r\n]+$/, 'must be an address, optionally with a display name: `Gatehouse <id@example.com>`'),
    'The `From` of every message; required with `GATEHOUSE_SMTP_URL`.'),
  requireTls: setting('GATEHOUSE_SMTP_REQUIRE_TLS', 'auto', z.enum(['auto', 'true', 'false']),
    'Refuse to send over an SMTP connection that is not encrypted (`smtps://`, or `smtp://` that must upgrade with STARTTLS) and not verified: `true`, `false`, or `auto` (true when `NODE_ENV=production`). Reset links are credentials; they never travel in clear by default.'),
  attempts: setting('GATEHOUSE_MAIL_ATTEMPTS', '6', integer(1, 20),
    'Delivery attempts of one message before it is given up (audited as `mail.failed`); its recipient and body are then erased.'),
  retryDelaySeconds: setting('GATEHOUSE_MAIL_RETRY', '30s', duration,
    'Wait before the first retry of a message the SMTP server did not take; each further retry waits twice as long.'),
  pollIntervalSeconds: setting('GATEHOUSE_MAIL_POLL', '10s', duration,
    'How often each node looks for messages that are due (new ones are sent at once, on a notification).'),
  resetTtlSeconds: setting('GATEHOUSE_PASSWORD_RESET_TTL', '20m', duration,
    'Lifetime of a password-reset link; it also stops working once used or once a newer link is sent.'),
  verificationTtlSeconds: setting('GATEHOUSE_EMAIL_VERIFICATION_TTL', '24h', duration,
    'Lifetime of an email-verification link.'),
  resetPerAccount: setting('GATEHOUSE_PASSWORD_RESET_LIMIT_ACCOUNT', '3/1h', threshold,
    'Reset requests that send a message per account (or per name typed, when it matches none) in a window; past it the page answers the same and nothing is sent.'),
  resetPerIp: setting('GATEHOUSE_PASSWORD_RESET_LIMIT_IP', '20/1h', threshold,
    'Reset requests per client IP address in a window, across all names.'),
} satisfies SettingGroup;

export const clientMetadataDocumentsSettings = {
  hosts: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_HOSTS', undefined, hostPatternList,
    'Hosts whose https URLs may be used as a `client_id` (OAuth Client ID Metadata Documents, docs/mcp.md): comma-separated names, `*.example.com` for the subdomains of one. Unset: the feature is off and URL client ids are unknown clients.'),
  resources: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_RESOURCES', '', resourceIndicatorList,
    'Resource indicators (RFC 8707, registered resource servers) a metadata-document client may ask tokens for, comma-separated; empty: none (sign-in only).'),
  scopes: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_SCOPES', 'openid,profile,email,offline_access', listOf(['openid', 'profile', 'email', 'offline_access']),
    'OpenID scopes a metadata document may list in its `scope`; a document asking for others is refused.'),
  maxBytes: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_MAX_BYTES', '5120', integer(512, 65_536),
    'Largest metadata document read; a longer one is refused (its `Content-Length`, or the bytes as they arrive).'),
  timeoutSeconds: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_TIMEOUT', '2s', duration,
    'Time allowed for fetching one metadata document, connection included (the library stops at 2.5 s in any case).'),
  cacheMinSeconds: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_CACHE_MIN', '30s', duration,
    'Shortest time a fetched document is kept, whatever its `Cache-Control: max-age` or `Expires` says (the default when it says nothing).'),
  cacheMaxSeconds: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_CACHE_MAX', '1h', duration,
    'Longest time a fetched document is kept in each node\'s cache (at most 100 documents), so a changed or withdrawn document takes effect within it.'),
  hostFetchesPerMinute: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_HOST_FETCHES_PER_MINUTE', '30', integer(1, 10_000),
    'Most metadata-document fetches one host gets from each node in any minute; beyond it its clients are refused (`invalid_client`) without a request.'),
  hostClients: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_HOST_CLIENTS', '20', integer(1, 1000),
    'Most distinct client ids of one host each node fetches within `…_CACHE_MAX`, so one host cannot fill the document cache; a further client id of that host is refused.'),
} satisfies SettingGroup;

export const testingSettings = {
  outboundResolve: setting('GATEHOUSE_TEST_OUTBOUND_RESOLVE', undefined, resolveOverrides,
    'Tests only, refused in production: fixed answers for host names fetched as metadata documents (`name=address,…`, like curl --resolve). A loopback answer is let through the address guard; any other answer is still checked.'),
  outboundCaFile: setting('GATEHOUSE_TEST_OUTBOUND_CA_FILE', undefined, text,
    'Tests only, refused in production: a PEM CA also trusted when fetching metadata documents (a test CA for a local TLS server).'),
} satisfies SettingGroup;
