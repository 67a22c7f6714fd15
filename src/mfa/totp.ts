/**
 * TOTP (RFC 6238) with the parameters every authenticator app supports:
 * HMAC-SHA-1, six digits, 30-second steps. otplib does the arithmetic and the
 * constant-time comparison; this module fixes the parameters in one place.
 */
import { generateSecret, generateURI, verify } from 'otplib';

export const totpPeriodSeconds = 30;

/** 20 random bytes (160 bits, RFC 4226 §4's recommended length), base32 as authenticator apps expect. */
export function newSeed(): string {
  return generateSecret({ length: 20 });
}

/** Key Uri Format: `otpauth://totp/<issuer>:<account>?secret=…&issuer=<issuer>`. */
export function otpauthUri(options: { issuer: string; account: string; seed: string }): string {
  return generateURI({ issuer: options.issuer, label: options.account, secret: options.seed });
}

/**
 * The URI as a PNG data: URL, rendered here rather than by any outside
 * service (the seed must not leave the server), and as an <img> because the
 * CSP allows `img-src data:` but no inline style an SVG would carry.
 */
export async function qrDataUrl(uri: string): Promise<string> {
  return (await qrCodes()).toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2, width: 232 });
}

/** The QR code as text for a terminal (the CLI's enrolment). */
export async function qrText(uri: string): Promise<string> {
  return (await qrCodes()).toString(uri, { type: 'utf8', errorCorrectionLevel: 'M', margin: 2 });
}

/** Loaded at the first enrolment, not at start-up: ~6 MB most processes never need. */
const qrCodes = async () => (await import('qrcode')).default;

/** The seed in groups of four, easier to type into an app by hand. */
export function groupSeed(seed: string): string {
  return seed.replace(/(.{4})(?=.)/g, '$1 ');
}

/**
 * The time step `code` belongs to, if it is one of the current step or one
 * either side (RFC 6238 §5.2's allowance for clock drift and typing time) and
 * later than `afterStep`; undefined otherwise.
 */
export async function matchingStep(seed: string, code: string, afterStep?: number, now?: number): Promise<number | undefined> {
  try {
    const result = await verify({
      secret: seed,
      token: code,
      epochTolerance: totpPeriodSeconds,
      ...(afterStep === undefined ? {} : { afterTimeStep: afterStep }),
      ...(now === undefined ? {} : { epoch: now }),
    });
    // The functional API's result type covers HOTP too; only TOTP results carry a time step.
    return result.valid && 'timeStep' in result ? result.timeStep : undefined;
  } catch {
    // otplib throws on a malformed token; the form schema already refuses those, so this is only a backstop.
    return undefined;
  }
}
