/* The Teamline-origin passkey window (widget/passkey_views.py): the widget on a brand's own
 * domain opens it, because a passkey belongs to the domain that runs its ceremony. Posts the
 * ticket for the WebAuthn options, runs navigator.credentials, posts the answer back, tells the
 * widget (postMessage: only "saved" or "verified", nothing secret) and closes. */
(function () {
  "use strict";
  var main = document.getElementById("main");
  var button = document.getElementById("passkey-go");
  var status = document.getElementById("passkey-status");
  if (!main || !button || !status) return;
  var ticket = main.getAttribute("data-ticket") || "";
  var purpose = main.getAttribute("data-purpose") || "";

  function b64urlToBytes(value) {
    var base64 = String(value).replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function bytesToB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function credentialJson(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: bytesToB64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults
        ? credential.getClientExtensionResults()
        : {},
      response: { clientDataJSON: bytesToB64url(response.clientDataJSON) },
    };
    if (response.attestationObject) {
      out.response.attestationObject = bytesToB64url(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = bytesToB64url(response.authenticatorData);
      out.response.signature = bytesToB64url(response.signature);
      if (response.userHandle) out.response.userHandle = bytesToB64url(response.userHandle);
    }
    return out;
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.detail || "That did not work.");
        return data;
      });
    });
  }

  function described(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: b64urlToBytes(c.id) });
    });
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    status.textContent = "Use your device's screen lock…";
    post("/widget/passkey/options", { ticket: ticket })
      .then(function (data) {
        var options = data.options;
        var publicKey = Object.assign({}, options, { challenge: b64urlToBytes(options.challenge) });
        if (purpose === "register") {
          publicKey.user = Object.assign({}, options.user, { id: b64urlToBytes(options.user.id) });
          publicKey.excludeCredentials = described(options.excludeCredentials);
          return navigator.credentials.create({ publicKey: publicKey });
        }
        publicKey.allowCredentials = described(options.allowCredentials);
        return navigator.credentials.get({ publicKey: publicKey });
      })
      .then(function (credential) {
        return post("/widget/passkey/finish", { ticket: ticket, credential: credentialJson(credential) });
      })
      .then(function (data) {
        status.textContent =
          data.done === "saved"
            ? "Passkey saved. You can close this window."
            : "Verified. You can close this window.";
        if (window.opener) window.opener.postMessage({ teamline: "passkey." + data.done }, "*");
        setTimeout(function () { window.close(); }, 1200);
      })
      .catch(function (error) {
        button.disabled = false;
        status.textContent = (error && error.message) || "The passkey was not used. You can try again.";
      });
  });
})();
