"""The logs of a real `triage serve` (access log on) hold no secret, email or phone number of
anything a client sent, while the requests themselves are in them; the prediction log holds the
texts redacted."""

from __future__ import annotations

import base64
import sqlite3
import urllib.parse

from tests.test_security import EMAIL, FAKE_TOKEN, PHONE, _no_personal_data, _request
from triage.store import Store


def test_logs_hold_no_secrets_emails_or_phone_numbers(serve, tmp_path, served_models):
    data_dir = tmp_path / "var"
    store = Store(f"sqlite:///{data_dir / 'triage.db'}")
    store.migrate()
    keys = {role: store.create_key(role)[1] for role in ("predict", "analyst", "admin")}
    store.dispose()
    served = serve(served_models, data_dir, workers=1, access_log=True)
    bearer = {role: {"Authorization": f"Bearer {token}"} for role, token in keys.items()}
    text = f"订单 112-1234567-1234567 没收到, 我的邮箱 {EMAIL} 电话 {PHONE}, please call me"
    quoted_email = urllib.parse.quote(EMAIL)
    statuses = [
        _request(served.base, "POST", "/v1/cases/categorize", bearer["predict"], {"text": text}),
        _request(
            served.base,
            "POST",
            "/v1/cases/categorize",
            {"X-API-Key": keys["predict"], "User-Agent": f"crm-bot ({EMAIL})"},
            {"cases": [{"text": text}, {"text": f"call {PHONE} about my refund"}]},
        ),
        _request(
            served.base,
            "POST",
            "/v1/cases/categorize",
            {"Authorization": "Basic " + base64.b64encode(f"{keys['predict']}:".encode()).decode()},
            {"text": text},
        ),
        _request(served.base, "GET", f"/v1/predictions?before={quoted_email}", bearer["analyst"]),
        _request(served.base, "GET", f"/v1/predictions?api_key={keys['admin']}", bearer["analyst"]),
        _request(
            served.base,
            "POST",
            f"/v1/suggestions/{quoted_email}/accept",
            {**bearer["analyst"], "Referer": f"https://crm.example/?tel={PHONE}"},
        ),
        _request(
            served.base,
            "POST",
            "/v1/cases/categorize",
            {"Authorization": f"Bearer {FAKE_TOKEN}"},
            {"text": text},
        ),  # fmt: skip
        _request(served.base, "GET", "/v1/models", {"X-API-Key": keys["admin"][:-3] + "abc"}),
        _request(
            served.base,
            "POST",
            "/v1/feedback",
            bearer["analyst"],
            {"prediction_id": EMAIL, "category": "other"},
        ),  # fmt: skip
    ]
    assert statuses[0] == 200 and statuses[1] == 200, statuses
    assert all(status < 500 for status in statuses), statuses
    served.stop()
    log = served.log.read_text(encoding="utf-8", errors="replace")
    # the requests were logged (so that the checks below could fail) ...
    assert log.count("POST /v1/cases/categorize") >= 4 and "/v1/suggestions/" in log
    assert "[EMAIL]" in log and "[SECRET]" in log
    # ... with no contact detail and no secret of any token, valid or not
    assert _no_personal_data(log) == []
    for token in [*keys.values(), FAKE_TOKEN]:
        # ctk_<key id>_<secret>: the secret is URL-safe base64 and may itself hold "_"
        secret = token.split("_", 2)[2]
        assert len(secret) >= 20 and secret[:20] not in log
    with sqlite3.connect(data_dir / "triage.db") as db:
        texts = [row[0] for row in db.execute("SELECT text FROM predictions")]
    assert len(texts) == 3 and all("[EMAIL]" in t or "[PHONE]" in t for t in texts)
    assert _no_personal_data("\n".join(texts)) == []
