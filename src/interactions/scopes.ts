/** What each scope means, in the words the consent page uses. */
const descriptions: Record<string, string> = {
  openid: 'Confirm who you are',
  profile: 'Your name and username',
  email: 'Your email address',
  roles: 'The names of your roles',
  offline_access: 'Stay signed in to the application when you are away',
};

export function describeScope(scope: string): string {
  return descriptions[scope] ?? scope;
}
