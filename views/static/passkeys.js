/* global window, document, fetch, URLSearchParams */
// Passkey forms (views/mfa-passkey.njk, passkey-register.njk, login.njk,
// account.njk): the ceremony's options come either rendered into
// `data-options`, or (the login page, which writes nothing when it is only
// viewed) from `data-options-url`, asked for with the form's CSRF token when
// the button or the autofill needs them. This script asks the browser for the
// credential through @simplewebauthn/browser and submits its JSON in the
// form's `response` field. No inline script: the CSP allows only this
// origin's files.
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;

  function optionsOf(form) {
    var url = form.getAttribute('data-options-url');
    if (!url) return Promise.resolve(JSON.parse(form.getAttribute('data-options')));
    var body = new URLSearchParams();
    body.set('csrf', form.elements.namedItem('csrf').value);
    return fetch(url, { method: 'POST', body: body, credentials: 'same-origin', headers: { Accept: 'application/json' } }).then(function (response) {
      if (!response.ok) throw new Error('options: HTTP ' + response.status);
      return response.json();
    });
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
    return optionsOf(form).then(function (options) {
      return kind === 'create'
        ? lib.startRegistration({ optionsJSON: options })
        : lib.startAuthentication({ optionsJSON: options, useBrowserAutofill: autofill });
    });
  }

  // Conditional mediation (WebAuthn L3 §5.1.4.1): passkeys offered in the
  // username field's autofill, started when that field is first focused (it
  // is autofocused on a fresh page), not merely because the page was loaded.
  function offerInAutofill(form) {
    var field = document.getElementById(form.getAttribute('data-autofill'));
    if (!field) return;
    lib.browserSupportsWebAuthnAutofill().then(function (supported) {
      if (!supported) return;
      var begin = function () {
        start(form, true).then(function (credential) { submitWith(form, credential); }, function () { /* aborted by the button, or dismissed */ });
      };
      if (document.activeElement === field) begin();
      else field.addEventListener('focus', begin, { once: true });
    });
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
    if (form.hasAttribute('data-autofill')) offerInAutofill(form);
  });
})();
