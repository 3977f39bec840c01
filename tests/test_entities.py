import pytest

from triage.text.entities import extract_entities, mask_entities, redact


def found(text):
    return [(e.type, e.value) for e in extract_entities(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    (
        ("订单112-4839201-7734512还没到", [("order_id", "112-4839201-7734512")]),
        ("order # 7781923345 never came", [("order_id", "7781923345")]),
        ("ASIN是B0C7K2M9QX的商品", [("asin", "B0C7K2M9QX")]),
        ("ups 1Z9A38F70312847765", [("tracking_number", "1Z9A38F70312847765")]),
        ("USPS 9400111899223345678190", [("tracking_number", "9400111899223345678190")]),
        ("运单号LX482910375CN", [("tracking_number", "LX482910375CN")]),
        ("燕文YT2309213402118847卡住了", [("tracking_number", "YT2309213402118847")]),
        ("tracking number: 7731234599812", [("tracking_number", "7731234599812")]),
        ("2024年3月12日发货", [("date", "2024-03-12")]),
        ("shipped on March 3rd, 2024", [("date", "2024-03-03")]),
        ("arrived 5 Mar", [("date", "--03-05")]),
        ("3月5号到的", [("date", "--03-05")]),
        ("上周五签收", [("date", "上周五")]),
        ("paid $39.99", [("money", "39.99 USD")]),
        ("扣了199元", [("money", "199 CNY")]),
        ("charged €18 and £12.40", [("money", "18 EUR"), ("money", "12.40 GBP")]),
        ("¥2,980 JPY", [("money", "2980 JPY")]),
        ("¥1500", [("money", "1500 CNY")]),
        ("mail me at Jo.Smith@example.com", [("email", "jo.smith@example.com")]),
        ("call +1 415-555-0137", [("phone", "+14155550137")]),
        ("手机13812345678", [("phone", "13812345678")]),
        ("电话 138 1234 5678", [("phone", "13812345678")]),
        ("call 86-138-1234-5678 pls", [("phone", "8613812345678")]),
        ("the order is late", []),
    ),
)
def test_entity_types(text, expected):
    assert found(text) == expected


def test_offsets_index_the_original_text():
    text = "ｏｒｄｅｒ １１２－４８３９２０１－７７３４５１２ refund 25.50 USD"
    for entity in extract_entities(text):
        assert text[entity.start : entity.end] == entity.text
    assert found(text)[0] == ("order_id", "112-4839201-7734512")


def test_order_id_wins_over_phone():
    assert found("205-8817362-0042951") == [("order_id", "205-8817362-0042951")]


def test_redact_removes_emails_and_phones_only():
    text = "Order 112-4839201-7734512, email jo@example.com, phone 13812345678"
    out = redact(text)
    assert "jo@example.com" not in out and "13812345678" not in out
    assert "[EMAIL]" in out and "[PHONE]" in out and "112-4839201-7734512" in out


def test_mask_replaces_entities_and_digits():
    out = mask_entities("订单112-4839201-7734512等了3天, ASIN B0C7K2M9QX")
    assert "ordernum" in out and "asincode" in out and "0天" in out
    assert not any(ch.isdigit() and ch != "0" for ch in out)


@pytest.mark.timeout(30)  # a hang guard, not a benchmark: linear scans take well under a second
@pytest.mark.parametrize(
    "text",
    ("a" * 65536, "1" * 65536, "$1," * 21000, "1-" * 32000, "a@" * 32000, "B0C7K2M9QX " * 6000),
    ids=("letters", "digits", "money", "dashes", "ats", "asins"),
)
def test_long_hostile_texts_are_scanned_in_linear_time(text):
    for entity in extract_entities(text):
        assert text[entity.start : entity.end] == entity.text
