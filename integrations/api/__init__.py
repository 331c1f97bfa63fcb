"""REST API v1, one module per resource.

- `base`: the view base class (authentication, scope, rate limit), the shared
  error responses of the schema and the small input helpers every view uses;
- `pagination`: page sizes, the opaque cursors of every list and the page of
  a feed numbered by sequence (decisions, notices);
- `representation`: how a case, its subject and reports, a decision with its
  DSA statement and a notice look to a platform (the REST API and the
  webhook events render from it);
- `reports` (through trust.intake), `cases`, `decisions` (feed and appeals),
  `notices` (DSA notices feed), `audit`, `webhooks`:
  the views of each resource; `serializers`: their input and output shapes.

Views parse input, check the scope, call one service (or selector) and
render; no domain logic here. The URLs are in `integrations/urls.py`.
"""
