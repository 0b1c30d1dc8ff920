"""psledger's HTTP app: signed webhooks in; invoices, history, approvals out.

app.py              the app factory (create_app) and its lifespan
service.py          the shared Wiring and the one thread that calls it
config.py           tokens, webhook secrets and limits (the TOML format)
auth.py             bearer tokens and the role matrix
signatures.py       Standard Webhooks signature verification
errors.py           every error as {"error": code, "detail": line}
models.py           request and response bodies (the OpenAPI schemas)
routes_webhooks.py  POST /webhooks/{crm|hr|erp}
routes_queries.py   GET /invoices..., /entities...
routes_finance.py   POST /contracts/.../approve, /billing-runs
routes_operator.py  GET /quarantine..., POST .../replay, .../discard
"""

from psledger.http.app import create_app

__all__ = ["create_app"]
