/**
 * Messages from the templates in views/email/: a plain-text part and an HTML
 * part of one content (RFC 2046 multipart/alternative, built by the
 * transport). The HTML environment escapes every value; the text one does
 * not (nothing in a text part is markup), and neither is ever given a value
 * that could break a header: subjects are fixed strings from this table.
 */
import { fileURLToPath } from 'node:url';

import nunjucks from 'nunjucks';

/** Works from src/mail (tsx) and dist/mail (built). */
const viewsDir = fileURLToPath(new URL('../../views', import.meta.url));

export type NoticeKind =
  | 'notice_new_sign_in'
  | 'notice_password_changed'
  | 'notice_password_reset'
  | 'notice_factor_added'
  | 'notice_factor_removed'
  | 'notice_recovery_code_used';

/** Sign-up (src/signup/): the invitation link, and the two answers to a sign-up whose names are taken. */
export type SignupMessageKind = 'invitation' | 'signup_existing_account' | 'signup_username_taken';

export type MessageKind = 'password_reset' | 'email_verification' | SignupMessageKind | NoticeKind;

const subjects: Record<MessageKind, string> = {
  password_reset: 'Reset your password',
  email_verification: 'Confirm your email address',
  invitation: 'You are invited to create an account',
  signup_existing_account: 'You already have an account',
  signup_username_taken: 'Choose another username',
  notice_new_sign_in: 'New sign-in to your account',
  notice_password_changed: 'Your password was changed',
  notice_password_reset: 'Your password was reset',
  notice_factor_added: 'A second factor was added to your account',
  notice_factor_removed: 'A second factor was removed from your account',
  notice_recovery_code_used: 'A recovery code was used',
};

export interface RenderedMessage {
  subject: string;
  text: string;
  html: string;
}

export interface MessageTemplates {
  render(kind: MessageKind, data: { recipient: string; username: string } & Record<string, unknown>): RenderedMessage;
}

export function createMessageTemplates(issuer: string, dir = viewsDir): MessageTemplates {
  const loader = () => new nunjucks.FileSystemLoader(dir, { noCache: false });
  const html = new nunjucks.Environment(loader(), { autoescape: true, throwOnUndefined: false });
  const text = new nunjucks.Environment(loader(), { autoescape: false, throwOnUndefined: false });
  return {
    render(kind, data) {
      const subject = subjects[kind];
      const file = kind.startsWith('notice_') ? 'notice' : kind;
      const context = { ...data, kind, subject, headline: subject, issuer };
      return {
        subject,
        text: text.render(`email/${file}.txt.njk`, context).replace(/\n{3,}/g, '\n\n').trim() + '\n',
        html: html.render(`email/${file}.html.njk`, context),
      };
    },
  };
}
