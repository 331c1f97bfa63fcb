"""Platform adapters: other platforms' report formats, turned into the same
intake call the REST API makes.

An adapter (see `base.Adapter`) verifies a platform's signed webhook, parses
its payload and returns Filings: bodies in the shape of `POST /api/v1/reports`
with an idempotency key each. The generic view (`views.py`) does the rest for
every platform: finds the API client's adapter configuration, validates each
body with the REST API's own serializer and files them all through
`reviews.intake.report_intake_batch`. A second platform is one new module
listed in `registry.PLATFORM_MODULES`.
"""
