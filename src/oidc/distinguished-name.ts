/**
 * Distinguished names for `tls_client_auth_subject_dn` (RFC 8705 §2.1.2: the
 * registered value is "the expected subject distinguished name of the
 * certificate, in the format defined by RFC 4514").
 *
 * Order: RFC 4514 §2.1 writes the RDNs starting from the *last* element of the
 * ASN.1 RDNSequence, so a certificate whose subject sequence is O=Example then
 * CN=partner (what `openssl req -subj /O=Example/CN=partner` makes, and what
 * `openssl x509 -nameopt RFC2253` and nginx's `$ssl_client_s_dn` print as
 * `CN=partner,O=Example`) is `CN=partner,O=Example`. @peculiar/x509 reads and
 * prints names in sequence order, so the certificate's list is reversed here.
 *
 * Comparison: attribute types by OID (short names and dotted OIDs alike),
 * values after RFC 4514 unescaping (`\,`, `\2C`, `#` + BER hex), with
 * insignificant white space removed and case folded (caseIgnoreMatch, RFC
 * 4517 §4.2.11 with RFC 4518 §2.6.1 space handling), multi-valued RDNs as
 * sets. The canonical form is JSON, so an escaped `,` or `+` inside a value can
 * never read as a separator.
 */
// @peculiar/x509 resolves its parsers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import type * as x509 from '@peculiar/x509';

/** Attribute types by short name (RFC 4514 §3 and the ones certificates commonly carry), as OIDs. */
const attributeTypes: Record<string, string> = {
  cn: '2.5.4.3',
  sn: '2.5.4.4',
  serialnumber: '2.5.4.5',
  c: '2.5.4.6',
  l: '2.5.4.7',
  st: '2.5.4.8',
  street: '2.5.4.9',
  o: '2.5.4.10',
  ou: '2.5.4.11',
  title: '2.5.4.12',
  t: '2.5.4.12',
  givenname: '2.5.4.42',
  g: '2.5.4.42',
  initials: '2.5.4.43',
  i: '2.5.4.43',
  dc: '0.9.2342.19200300.100.1.25',
  uid: '0.9.2342.19200300.100.1.1',
  e: '1.2.840.113549.1.9.1',
  email: '1.2.840.113549.1.9.1',
  emailaddress: '1.2.840.113549.1.9.1',
};

type Rdn = Array<[type: string, value: string]>;

function attributeType(raw: string): string | undefined {
  const type = raw.trim();
  if (/^\d+(\.\d+)+$/.test(type)) return type;
  if (/^oid\.\d+(\.\d+)+$/i.test(type)) return type.slice(4);
  return attributeTypes[type.toLowerCase()];
}

/** caseIgnoreMatch: leading, trailing and repeated inner white space are insignificant, case is folded. */
function normaliseValue(value: string): string {
  return value.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

/** A `#`-prefixed value (RFC 4514 §2.4): the BER encoding of a string type, in hex. */
function berString(hex: string): string | undefined {
  if (!/^([0-9a-f]{2})+$/i.test(hex)) return undefined;
  const bytes = Buffer.from(hex, 'hex');
  const tag = bytes[0]!;
  let length = bytes[1] ?? 0;
  let offset = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 2) return undefined;
    length = bytes.readUIntBE(2, count);
    offset += count;
  }
  const content = bytes.subarray(offset);
  if (content.length !== length) return undefined;
  switch (tag) {
    case 0x0c: // UTF8String
      return new TextDecoder('utf-8', { fatal: true }).decode(content);
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x14: // TeletexString, read as Latin-1 as most software does
      return content.toString('latin1');
    case 0x1e: // BMPString, UTF-16BE
      return Buffer.from(content).swap16().toString('utf16le');
    default:
      return undefined;
  }
}

/**
 * Parses an RFC 4514 string (also tolerating RFC 1779 spacing around `,`,
 * `+` and `=`, and quoted values) into RDNs in the order written.
 */
export function parseDn(dn: string): Rdn[] | undefined {
  const rdns: Rdn[] = [];
  let rdn: Rdn = [];
  let i = 0;
  const n = dn.length;
  const skipSpace = () => {
    while (i < n && dn[i] === ' ') i += 1;
  };
  while (i < n) {
    skipSpace();
    const eq = dn.indexOf('=', i);
    if (eq < 0) return undefined;
    const type = attributeType(dn.slice(i, eq));
    if (!type) return undefined;
    i = eq + 1;
    skipSpace();
    let value: string;
    if (dn[i] === '#') {
      const end = /^#[0-9a-fA-F]*/.exec(dn.slice(i))![0];
      const decoded = berString(end.slice(1));
      if (decoded === undefined) return undefined;
      value = decoded;
      i += end.length;
    } else if (dn[i] === '"') {
      const close = dn.indexOf('"', i + 1);
      if (close < 0) return undefined;
      value = dn.slice(i + 1, close);
      i = close + 1;
    } else {
      const bytes: number[] = [];
      while (i < n && dn[i] !== ',' && dn[i] !== '+' && dn[i] !== ';') {
        if (dn[i] === '\\') {
          const pair = dn.slice(i + 1, i + 3);
          if (/^[0-9a-fA-F]{2}$/.test(pair)) {
            bytes.push(parseInt(pair, 16));
            i += 3;
          } else if (i + 1 < n) {
            bytes.push(...Buffer.from(dn[i + 1]!, 'utf8'));
            i += 2;
          } else {
            return undefined;
          }
        } else {
          const cp = dn.codePointAt(i)!;
          const ch = String.fromCodePoint(cp);
          bytes.push(...Buffer.from(ch, 'utf8'));
          i += ch.length;
        }
      }
      try {
        value = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
      } catch {
        return undefined;
      }
    }
    rdn.push([type, normaliseValue(value)]);
    skipSpace();
    if (i >= n) break;
    const separator = dn[i];
    i += 1;
    if (separator === ',' || separator === ';') {
      rdns.push(rdn);
      rdn = [];
    } else if (separator !== '+') {
      return undefined;
    }
    if (i >= n) return undefined; // a trailing separator
  }
  if (rdn.length === 0) return undefined;
  rdns.push(rdn);
  return rdns;
}

function canonical(rdns: Rdn[]): string {
  return JSON.stringify(rdns.map((rdn) => rdn.map(([type, value]) => `${type}=${value}`).sort()));
}

/** The canonical form of an operator's RFC 4514 string, or undefined when it is not one. */
export function canonicalDnString(dn: string): string | undefined {
  const rdns = parseDn(dn);
  return rdns ? canonical(rdns) : undefined;
}

/** The canonical form of a certificate's subject (or issuer) name, in RFC 4514 order. */
export function canonicalCertificateName(name: x509.Name): string | undefined {
  const rdns: Rdn[] = [];
  for (const rdn of name.toJSON()) {
    const attributes: Rdn = [];
    for (const [rawType, values] of Object.entries(rdn)) {
      const type = attributeType(rawType);
      if (!type) return undefined;
      for (const value of values) attributes.push([type, normaliseValue(String(value))]);
    }
    rdns.push(attributes);
  }
  if (rdns.length === 0) return undefined;
  return canonical(rdns.reverse());
}
