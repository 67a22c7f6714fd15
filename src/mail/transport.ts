/**
 * The SMTP transport (nodemailer). `smtps://` speaks TLS from the first byte
 * (RFC 8314 §3.3, implicit TLS, preferred); `smtp://` upgrades with STARTTLS
 * (RFC 3207) when the server offers it, and with `requireTls` (the default
 * in production) refuses to send when it does not, so a stripped STARTTLS
 * cannot downgrade a reset link to clear text. Certificates are verified.
 */
import nodemailer from 'nodemailer';

export interface OutgoingMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface MailTransport {
  send(message: OutgoingMessage): Promise<void>;
  close(): void;
}

export interface TransportSettings {
  smtpUrl: string;
  from: string;
  requireTls: boolean;
}

/** Bounds one delivery, so the worker's lease (60 s) outlives every attempt. */
const timeoutMs = 20_000;

export function createSmtpTransport(settings: TransportSettings): MailTransport {
  const implicitTls = new URL(settings.smtpUrl).protocol === 'smtps:';
  const transporter = nodemailer.createTransport({
    url: settings.smtpUrl,
    secure: implicitTls,
    requireTLS: settings.requireTls && !implicitTls,
    tls: { rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  return {
    async send(message) {
      await transporter.sendMail({ from: settings.from, to: message.to, subject: message.subject, text: message.text, html: message.html });
    },
    close: () => transporter.close(),
  };
}
