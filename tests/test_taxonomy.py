import pytest

from triage.errors import ConfigError
from triage.taxonomy import load_taxonomy, parse_taxonomy

EXPECTED = [
    "shipping_delay",
    "not_received",
    "product_quality",
    "return_refund",
    "order_issue",
    "payment_fee",
    "account_verification",
    "account_health",
    "listing_ip",
    "other",
]


def test_default_taxonomy_matches_design():
    taxonomy = load_taxonomy()
    assert taxonomy.ids == EXPECTED
    for category in taxonomy:
        assert category.name_zh and category.name_en and category.team
    assert taxonomy["shipping_delay"].name("zh") == "物流延误"
    assert [d.id for d in taxonomy["listing_ip"].required_details] == [
        "asin",
        "complaint_id",
        "authorization",
    ]


def _cat(cid, **extra):
    return {
        "id": cid,
        "name_zh": "中",
        "name_en": "en",
        "description_zh": "d",
        "description_en": "d",
        "team": "t",
        **extra,
    }


@pytest.mark.parametrize(
    ("document", "message"),
    (
        ([], "expected a mapping"),
        ({"categories": [_cat("a")]}, "at least two"),
        ({"categories": [_cat("a"), _cat("a")]}, "duplicate category ids"),
        ({"categories": [_cat("a"), _cat("Bad Id")]}, "lower-case"),
        ({"categories": [_cat("a"), {"id": "b"}]}, "name_zh"),
        (
            {
                "categories": [
                    _cat("a"),
                    _cat(
                        "b",
                        required_details=[
                            {"id": "x", "name_zh": "x", "name_en": "x", "entities": ["iban"]}
                        ],
                    ),
                ]
            },
            "unknown entity types",
        ),
    ),
)
def test_invalid_taxonomies(document, message):
    with pytest.raises(ConfigError, match=message):
        parse_taxonomy(document)


def test_other_taxonomy_file(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "categories:\n  - {id: a, name_zh: 甲, name_en: A, description_zh: x, description_en: x, team: t}\n"
        "  - {id: b, name_zh: 乙, name_en: B, description_zh: x, description_en: x, team: t}\n",
        encoding="utf-8",
    )
    assert load_taxonomy(path).ids == ["a", "b"]


def test_missing_taxonomy_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_taxonomy(tmp_path / "nope.yaml")
