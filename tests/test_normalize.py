import pytest

from triage.errors import InputError
from triage.text.normalize import normalize, to_halfwidth


@pytest.mark.parametrize(
    ("raw", "expected"),
    (
        ("ＡＳＩＮ：Ｂ０７ＸＹＺ", "asin:b07xyz"),
        ("訂單還沒到貨", "订单还没到货"),
        ("  Where   IS\tmy\n\nparcel?? ", "where is my parcel??"),
        ("退款！！！", "退款!!!"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("nul\x00byte", "nul byte"),
        ("ﬁne Straße", "fine strasse"),
    ),
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_traditional_conversion_is_optional():
    assert normalize("還沒到貨", simplified=False) == "還沒到貨"


def test_normalize_is_idempotent_on_samples():
    for text in ("Ｈｅｌｌｏ　世界！", "訂單 ＃１２３", "İstanbul ǅ", "A\u0301"):
        once = normalize(text)
        assert normalize(once) == once


def test_halfwidth_keeps_length():
    text = "ｏｒｄｅｒ　１２３－４５"
    assert len(to_halfwidth(text)) == len(text)
    assert to_halfwidth(text) == "order 123-45"


def test_rejects_non_text():
    with pytest.raises(InputError, match="must be a string"):
        normalize(None)  # type: ignore[arg-type]
