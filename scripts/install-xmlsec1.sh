#!/usr/bin/env bash
# The SAML tests' local identity provider (tests/support/saml_idp.py, pysaml2) signs its
# assertions with Debian's xmlsec1 binary. Teamline itself does not need it: its SAML service
# provider (python3-saml) uses the `xmlsec` wheel.
set -euo pipefail
if command -v xmlsec1 >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's xmlsec1 for the SAML tests…"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends xmlsec1 >/dev/null || {
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends xmlsec1 >/dev/null; }
else
  echo "xmlsec1 is missing: install it (e.g. sudo apt-get install xmlsec1) to run the SAML tests" >&2
  exit 1
fi
