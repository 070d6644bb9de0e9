"""The provider account of the phone-call tests' voice inbox (tests/calls/conftest.py)."""

AUTH_TOKEN = "voice-auth-token-0123456789"
BRAND_NUMBER = "+4721000000"
