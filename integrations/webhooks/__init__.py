"""Outbound webhooks: the audit log as transactional outbox, tailed into
deliveries (outbox), signed (signing) and sent over HTTP with SSRF checks
(addresses, transport) by leased, compare-and-swap senders (sender).
See docs/webhooks.md for what platforms receive."""
