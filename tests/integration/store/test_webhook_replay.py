"""A quarantined webhook replayed later answers its redelivery like any other."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from psledger.app import UnitOfWork
from psledger.bootstrap import bootstrap
from psledger.settings import Settings
from psledger.store.rows import QuarantineRow

REFERENCE = Path(__file__).resolve().parents[3] / "psledger" / "data" / "webhooks"


def test_a_replayed_webhook_redelivered_gets_the_replay_event_ids(tmp_path: Path) -> None:
    wiring = bootstrap(Settings(store=f"sqlite:///{tmp_path}/ledger.db"))
    try:
        body = (REFERENCE / "crm.sow.approved.json").read_bytes()
        held = UnitOfWork(wiring.app)  # an operator held the delivery back for review
        held.rows.quarantine.append(
            QuarantineRow(
                "held-1",
                "webhook:crm",
                0,
                0,
                "evt_crm_000184",
                body,
                "review",
                "held for review",
                datetime.now(UTC),
            )
        )
        held.commit()
        [row] = wiring.quarantine.list()
        replay = wiring.quarantine.replay(row.id)
        assert replay.applied == 1 and replay.events == 2

        again = wiring.ledger.apply_webhook(
            body, expected_source="crm", delivery_id="evt_crm_000184"
        )

        assert again.duplicate
        assert again.event_ids == ["customer:ACC-77@1", "contract:SOW-1042@1"]
        assert wiring.quarantine.list() == []
        assert wiring.app.recorder.max_notification_id() == 2
    finally:
        wiring.close()
