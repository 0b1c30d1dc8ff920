"""An invoice's states and kinds, as data (domain/invoice.py has the rules).
Apart from the aggregate so that a read that only names them needs no more."""

from __future__ import annotations

DRAFT, ISSUED, POSTED, REJECTED = "draft", "issued", "posted", "rejected"
KINDS = ("invoice", "credit_note", "reissue")
