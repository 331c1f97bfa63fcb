"""A minimal DRF project, the baseline beside Quorum's single-report intake in
`make bench` (scenario `minimal_drf`): one model, one serializer, one INSERT
per request, the same request body and gunicorn settings as Quorum.

What it leaves out, on purpose: authentication beyond comparing the bearer
token with a setting (Quorum looks the key up and rate-limits it in Redis),
de-duplication into cases, routing, the audit trail. It answers what "Django
and DRF with nothing else" cost on this machine, so that Quorum's figure can
be read against it. It lives in bench/ only and is never deployed."""
