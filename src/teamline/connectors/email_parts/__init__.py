"""Pieces of the email connector (teamline.connectors.email): MIME parsing, quote stripping and
HTML sanitising (parsing), IMAP polling (imap) and the built-in SMTP receiver (smtpd)."""
