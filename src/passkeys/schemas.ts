/**
 * Inputs of the passkey pages, parsed at the edge: the browser's
 * `PublicKeyCredential.toJSON()` (WebAuthn L3 §5.1, as @simplewebauthn/browser
 * sends it) travels as one form field of JSON, and is bounded and shaped here
 * before the library looks at it.
 */
import { z } from 'zod';

export const passkeyFailedMessage = 'Your passkey could not be used. Try again, or use another way to sign in.';
export const passkeyNameMessage = 'Give the passkey a name of up to 64 characters.';

/** base64url without padding, as WebAuthn's JSON encodings use it. */
const b64url = (max: number) => z.string().max(max).regex(/^[A-Za-z0-9_-]*$/);

// Credential ids are at most 1023 bytes (§5.8.3): 1364 base64url characters.
const credentialId = b64url(1364).min(1);
const transports = z.array(z.enum(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'])).max(8);
const common = {
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()),
};

export const assertionSchema = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(4096),
    authenticatorData: b64url(4096),
    signature: b64url(1024),
    userHandle: b64url(128).optional(),
  }),
});

export const attestationSchema = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(4096),
    attestationObject: b64url(12_000),
    authenticatorData: b64url(4096).optional(),
    transports: transports.optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: b64url(2048).optional(),
  }),
});

/** The JSON text of one form field, parsed by `schema`; a refusal is one message for the page. */
function jsonField<T extends z.ZodType>(schema: T) {
  return z.string().max(15_000).transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: passkeyFailedMessage });
      return z.NEVER;
    }
  }).pipe(schema);
}

const csrf = z.string().min(1).max(200);

export const passkeyName = z.string(passkeyNameMessage).trim().min(1, passkeyNameMessage).max(64, passkeyNameMessage).regex(/^[^\p{Cc}]*$/u, passkeyNameMessage);

export const assertionFormSchema = z.object({ csrf, response: jsonField(assertionSchema) });
// The name field is optional on the page: left empty, the browser still sends it (as ''), which means "no name".
export const attestationFormSchema = z.object({ csrf, response: jsonField(attestationSchema), name: z.preprocess((v) => (v === '' ? undefined : v), passkeyName.optional()) });

export type AssertionJSON = z.infer<typeof assertionSchema>;
export type AttestationJSON = z.infer<typeof attestationSchema>;
