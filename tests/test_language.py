import pytest

from triage.text.language import detect_language, reply_language


@pytest.mark.parametrize(
    ("text", "expected"),
    (
        ("还没到货", "zh"),
        ("订单112-4839201-7734512还没到", "zh"),
        ("Where is my parcel?", "en"),
        ("买家开了A-to-Z说没收到", "mixed"),
        ("ASIN B0C7K2M9QX 被下架了", "mixed"),
        ("12345 !!!", "en"),
        ("", "en"),
    ),
)
def test_detect_language(text, expected):
    assert detect_language(text) == expected


def test_reply_language():
    assert [reply_language(x) for x in ("zh", "mixed", "en")] == ["zh", "zh", "en"]
