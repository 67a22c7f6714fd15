/* global window, document */
// Passkey forms (views/mfa-passkey.njk, passkey-register.njk, login.njk): the
// server renders the ceremony's options into `data-options`; this script asks
// the browser for the credential through @simplewebauthn/browser and submits
// its JSON in the form's `response` field. No inline script: the CSP allows
// only this origin's files.
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;

  function optionsOf(form) {
    return JSON.parse(form.getAttribute('data-options'));
  }

  function submitWith(form, credential) {
    form.elements.namedItem('response').value = JSON.stringify(credential);
    form.submit();
  }

  function showError(form, error) {
    var box = document.getElementById(form.getAttribute('data-error-box'));
    if (!box) return;
    // NotAllowedError: the user cancelled, or the request timed out.
    box.textContent = error && error.name === 'NotAllowedError'
      ? 'The passkey request was cancelled or timed out. Try again.'
      : 'Your browser could not use a passkey here. Try again, or use another way to sign in.';
    box.hidden = false;
  }

  function start(form, autofill) {
    var kind = form.getAttribute('data-passkey');
    return kind === 'create'
      ? lib.startRegistration({ optionsJSON: optionsOf(form) })
      : lib.startAuthentication({ optionsJSON: optionsOf(form), useBrowserAutofill: autofill });
  }

  var forms = document.querySelectorAll('form[data-passkey]');
  Array.prototype.forEach.call(forms, function (form) {
    if (!lib || !lib.browserSupportsWebAuthn()) {
      showError(form, undefined);
      return;
    }
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      start(form, false).then(function (credential) { submitWith(form, credential); }, function (error) { showError(form, error); });
    });
    // Conditional mediation (WebAuthn L3 §5.1.4.1): passkeys offered in the username field's autofill.
    if (form.hasAttribute('data-autofill')) {
      lib.browserSupportsWebAuthnAutofill().then(function (supported) {
        if (!supported) return;
        start(form, true).then(function (credential) { submitWith(form, credential); }, function () { /* aborted by the button, or dismissed */ });
      });
    }
  });
})();
