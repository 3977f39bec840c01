"""Security properties the other suites do not cover on their own.

- Logs (tests/system/test_security_logs.py): a real ``triage serve`` (access log on) is sent emails, phone numbers and API tokens in
  every place a client controls (body, path, query, user agent, referrer, Basic auth, bearer and
  X-API-Key headers, valid and invalid); its whole log holds none of them, while the requests
  themselves are in it. The prediction log in the database holds the texts redacted.
- Keys are compared in constant time: every authentication, right or wrong secret, goes through
  `hmac.compare_digest` on the stored hash.
- Artifacts are loaded only from the registry: admin requests naming versions and models by
  paths (traversal, absolute, encoded) never reach `joblib.load`, and a metadata.json that
  points its artifact outside its folder is refused before anything is unpickled.

The role matrix, rate limits, size limits and security headers are tested in test_api_auth.py,
test_hostile_http.py and test_schemathesis.py.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

import triage.registry as registry_module
from api.server import scrub
from tests.conftest import http
from triage.errors import IntegrityError
from triage.registry import Registry, load_model_dir

EMAIL = "li.wei.buyer@example.com"
PHONE = "+86 138 0013 8000"
PHONE_DIGITS = "13800138000"
FAKE_TOKEN = "ctk_0123456789ab_" + "Q" * 43


def _request(base: str, method: str, path: str, headers=None, body=None) -> int:
    return http(method, base + path, body=body, headers=headers)[0]


def _no_personal_data(text: str) -> list[str]:
    found = [EMAIL, EMAIL.split("@")[0] + "%40", PHONE, PHONE_DIGITS, "138 0013 8000"]
    return [needle for needle in found if needle in text]


def test_scrub_removes_contact_details_and_token_secrets():
    secret = "A" * 43
    line = (
        f"GET /v1/predictions?who={urllib.parse.quote(EMAIL)}&tel={urllib.parse.quote(PHONE)}"
        f"&key=ctk_0123456789ab_{secret} HTTP/1.1"
    )
    cleaned = scrub(line)
    assert "[EMAIL]" in cleaned and "[PHONE]" in cleaned
    assert secret not in cleaned and "ctk_0123456789ab_[SECRET]" in cleaned
    assert _no_personal_data(cleaned) == []
    assert scrub("POST /v1/cases/categorize HTTP/1.1") == "POST /v1/cases/categorize HTTP/1.1"


def test_keys_are_compared_in_constant_time(client, api_keys, monkeypatch):
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    token = api_keys["predict"]
    wrong_secret = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    body = {"text": "包裹一直没到"}
    assert client.post("/v1/cases/categorize", json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 200  # fmt: skip
    assert client.post("/v1/cases/categorize", json=body, headers={"Authorization": f"Bearer {wrong_secret}"}).status_code == 401  # fmt: skip
    # both the right and the wrong secret of a known key id went through compare_digest,
    # on hex SHA-256 digests of equal length (never the tokens themselves)
    assert len(compared) >= 2
    for a, b in compared[-2:]:
        assert re.fullmatch(r"[0-9a-f]{64}", a) and re.fullmatch(r"[0-9a-f]{64}", b)


@pytest.fixture
def models_app(make_app, two_versions):
    return make_app(models_dir=two_versions)


PATH_NAMES = ["..", "...", "../cases", "%2e%2e", "%2e%2e%2fcases", "cases%2f..%2f..", "x" * 300]
PATH_VERSIONS = [
    "../../../../etc/passwd",
    "/etc/passwd",
    "..",
    ".hidden",
    "v1/../v2",
    "v1\x00",
    "~/model",
    "v1%2f..%2f..",
    "C:\\evil\\model",
]


def test_no_artifact_is_loaded_from_a_path_a_request_names(
    models_app, auth, two_versions, tmp_path, monkeypatch
):
    client = models_app.test_client()
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "metadata.json").write_text("{}")
    loaded: list[Path] = []
    real = registry_module.joblib.load

    def spy(path, *args, **kwargs):
        loaded.append(Path(path).resolve())
        return real(path, *args, **kwargs)

    monkeypatch.setattr(registry_module.joblib, "load", spy)
    headers = auth("admin")
    statuses = []
    for name in PATH_NAMES:
        statuses.append(client.post(f"/v1/models/{name}/promote", json={"version": "v1"}, headers=headers).status_code)  # fmt: skip
        statuses.append(client.post(f"/v1/models/{name}/rollback", headers=headers).status_code)
    for version in [*PATH_VERSIONS, str(evil), "../../" + evil.name]:
        statuses.append(client.post("/v1/models/cases/promote", json={"version": version}, headers=headers).status_code)  # fmt: skip
    for body in ({"text": "包裹没到", "model": str(evil)}, {"text": "x", "model_dir": "../.."}):
        statuses.append(client.post("/v1/cases/categorize", json=body, headers=headers).status_code)  # fmt: skip
    assert all(400 <= status < 500 for status in statuses), statuses
    assert loaded == []  # nothing was unpickled for any of them
    assert Registry(two_versions).champion("cases") == "v2"
    # a request for a real version does load, and only from inside the registry
    assert client.post("/v1/models/cases/promote", json={"version": "v1"}, headers=headers).status_code == 200  # fmt: skip
    root = two_versions.resolve()
    assert loaded and all(root in path.parents for path in loaded)


def test_metadata_cannot_point_the_artifact_outside_its_folder(two_versions, tmp_path):
    folder = two_versions / "cases" / "v1"
    metadata = json.loads((folder / "metadata.json").read_text())
    outside = tmp_path / f"{uuid.uuid4().hex}.joblib"
    outside.write_bytes((folder / metadata["artifact"]["file"]).read_bytes())
    for pointer in ("../v2/model.joblib", str(outside), "/etc/passwd", ""):
        metadata["artifact"]["file"] = pointer
        (folder / "metadata.json").write_text(json.dumps(metadata))
        with pytest.raises(IntegrityError, match="not a file here"):
            load_model_dir(folder)


def test_every_client_written_atom_of_a_custom_access_log_format_is_scrubbed():
    import datetime as dt
    from types import SimpleNamespace

    from gunicorn.config import Config

    from api.server import RedactingLogger

    config = Config()
    config.set("accesslog", None)
    config.set("access_log_format", '%(m)s %(U)s ?%(q)s %(s)s "%({x-note}i)s" %(u)s %({x-api-key}i)s')  # fmt: skip
    logger = RedactingLogger(config)
    token = "ctk_0123456789ab_" + "Z" * 43
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/v1/x/{EMAIL}?tel={urllib.parse.quote(PHONE)}",
        "PATH_INFO": f"/v1/x/{EMAIL}",
        "QUERY_STRING": f"tel={urllib.parse.quote(PHONE)}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{token}:".encode()).decode(),
    }
    request = SimpleNamespace(headers=[("X-NOTE", f"call {PHONE}"), ("X-API-KEY", token)])
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    atoms = logger.atoms(response, request, environ, dt.timedelta(milliseconds=5))
    line = config.access_log_format % atoms
    assert "[EMAIL]" in line and line.count("[PHONE]") == 2, line
    assert _no_personal_data(line) == [] and "Z" * 20 not in line, line
