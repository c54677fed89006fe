// The WebAuthn ceremonies of the sign-in page, the second-factor page and
// the account's passkeys section. Served from /static/ (script-src 'self'); the pages work without
// it except for the ceremonies themselves. Each ceremony starts with a
// same-origin JSON POST carrying the page's CSRF token in X-CSRF-Token
// (the server answers the options and keeps the challenge), runs
// navigator.credentials, and ends by submitting the page's form with the
// credential as JSON, so the server's answer is an ordinary page or
// redirect.
"use strict";
(function () {
  const b64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const unb64url = (s) => {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer;
  };
  const descriptors = (list) => (list || []).map((d) => Object.assign({}, d, { id: unb64url(d.id) }));

  function showError(msg) {
    const el = document.getElementById("passkey-error");
    if (!el) return;
    el.textContent = msg;
    el.hidden = false;
  }

  // begin asks the server for a ceremony's options (WebAuthn §5.1.3,
  // §5.1.4 as JSON under "publicKey").
  async function begin(url, form) {
    const resp = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": form.elements._csrf.value },
      body: "{}",
    });
    if (!resp.ok) throw new Error(resp.status === 429 ? "Too many attempts. Wait a minute and try again." : "The passkey could not be started. Reload the page and try again.");
    return (await resp.json()).publicKey;
  }

  const extensions = (cred) => (cred.getClientExtensionResults ? cred.getClientExtensionResults() : {});

  function assertionJSON(cred) {
    const r = cred.response;
    return {
      id: cred.id, rawId: b64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: extensions(cred),
      response: {
        clientDataJSON: b64url(r.clientDataJSON), authenticatorData: b64url(r.authenticatorData),
        signature: b64url(r.signature), userHandle: r.userHandle ? b64url(r.userHandle) : undefined,
      },
    };
  }

  function attestationJSON(cred) {
    const r = cred.response;
    return {
      id: cred.id, rawId: b64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: extensions(cred),
      response: {
        clientDataJSON: b64url(r.clientDataJSON), attestationObject: b64url(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : [],
      },
    };
  }

  const aborted = (e) => e && e.name === "AbortError";

  // Sign-in: the button (modal) and the e-mail field's autofill
  // (conditional mediation). Both use a discoverable credential: no
  // e-mail address is sent.
  function setUpSignIn(form) {
    const button = document.getElementById("passkey-signin");
    let pending = null;
    async function signIn(conditional) {
      if (pending) pending.abort();
      const ctl = new AbortController();
      pending = ctl;
      const pk = await begin("/login/passkey/begin", form);
      pk.challenge = unb64url(pk.challenge);
      pk.allowCredentials = descriptors(pk.allowCredentials);
      const req = { publicKey: pk, signal: ctl.signal };
      if (conditional) req.mediation = "conditional";
      const cred = await navigator.credentials.get(req);
      if (!cred) return;
      form.elements.credential.value = JSON.stringify(assertionJSON(cred));
      form.submit();
    }
    button.hidden = false;
    button.addEventListener("click", () => {
      signIn(false).catch((e) => {
        if (!aborted(e)) showError(e.name === "NotAllowedError" ? "No passkey was used. Try again, or sign in another way." : e.message);
      });
    });
    // After a refused passkey the page does not offer it again by itself.
    if (form.dataset.autofill !== "off" && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((ok) => {
        if (ok) signIn(true).catch(() => {}); // autofill: a failure is silent
      });
    }
  }

  // The second step of a sign-in (after a password or an upstream): a
  // modal request for one of the person's passkeys, which the server
  // lists in allowCredentials (the begin takes the person from the
  // pending sign-in, not from the page).
  function setUpSecondFactor(form) {
    const button = document.getElementById("passkey-second-factor-button");
    button.hidden = false;
    button.addEventListener("click", () => {
      (async () => {
        const pk = await begin("/login/second-factor/passkey/begin", form);
        pk.challenge = unb64url(pk.challenge);
        pk.allowCredentials = descriptors(pk.allowCredentials);
        const cred = await navigator.credentials.get({ publicKey: pk });
        form.elements.credential.value = JSON.stringify(assertionJSON(cred));
        form.submit();
      })().catch((e) => {
        if (!aborted(e)) showError(e.name === "NotAllowedError" ? "No passkey was used. Try again, or confirm it is you another way." : e.message);
      });
    });
  }

  // Registration on the account page.
  function setUpRegistration(form) {
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      (async () => {
        const pk = await begin("/account/security/passkeys/begin", form);
        pk.challenge = unb64url(pk.challenge);
        pk.user = Object.assign({}, pk.user, { id: unb64url(pk.user.id) });
        pk.excludeCredentials = descriptors(pk.excludeCredentials);
        const cred = await navigator.credentials.create({ publicKey: pk });
        form.elements.credential.value = JSON.stringify(attestationJSON(cred));
        form.submit();
      })().catch((e) => {
        showError(e.name === "InvalidStateError" ? "This device already has a passkey for your account." :
          e.name === "NotAllowedError" ? "No passkey was created." : e.message);
      });
    });
  }

  if (!window.PublicKeyCredential) return;
  const login = document.getElementById("passkey-login");
  if (login) setUpSignIn(login);
  const second = document.getElementById("passkey-second-factor");
  if (second) setUpSecondFactor(second);
  const add = document.getElementById("passkey-add");
  if (add) setUpRegistration(add);
})();
