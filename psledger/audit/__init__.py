"""Proof for auditors: the journal's digest and verification, and
reconciliation of the ledger against the PSA it is fed from."""
