"""The pool of real texts the development set was labelled from, drawn reproducibly.

    .venv/bin/python benchmarks/realdev/pool.py OUT.jsonl [--datasets ../shared/datasets]

Reads ../shared/datasets/realtext (never copied into the repository), drops exact duplicates and
writes one JSON object per line (file, sha1, lang, text) to OUT, outside the repository: the
texts stay where their writers' terms keep them. What was drawn, with seed 0:

- English: every text of the three English sources (eBay community, subreddits, tweets).
- Chinese: JD.com chat turns of at least 5 characters (600 at random, plus every turn naming a
  seller-side matter: 下架, 侵权, 上架, 审核, 入驻, 违规, 扣分, 品牌, 授权, 店铺); Taobao turns of at least
  4 characters (150 at random); Alipay questions (150 at random, plus 80 of those naming an
  identity, login or freezing matter, the sources' only account_verification texts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
SELLER_ZH = re.compile(r"下架|侵权|上架|审核|入驻|违规|扣分|品牌|授权|店铺")
ACCOUNT_ZH = re.compile(r"认证|实名|冻结|身份|登录|登陆|密码|绑定|注册|验证")


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def read(folder: Path, name: str) -> pd.DataFrame:
    frame = pd.read_csv(folder / name, dtype=str, keep_default_na=False)
    frame = frame[frame["text"].str.strip() != ""].copy()
    frame["file"] = name
    frame["sha1"] = frame["text"].map(sha1)
    return frame.drop_duplicates("sha1")


def draw(folder: Path, seed: int = 0) -> pd.DataFrame:
    parts = [
        read(folder, name)
        for name in (
            "en_ebay_community_posts.csv",
            "en_reddit_marketplace_posts.csv",
            "en_twcs_amazonhelp_labelled.csv",
        )
    ]
    jd = read(folder, "zh_jddc_user_turns.csv")
    jd = jd[jd["text"].str.replace(r"\[[^\]]*\]", "", regex=True).str.len() >= 5]
    seller = jd[jd["text"].str.contains(SELLER_ZH)]
    parts += [seller, jd.drop(seller.index).sample(600, random_state=seed)]
    taobao = read(folder, "zh_ecd_taobao_customer_turns.csv")
    taobao = taobao[taobao["text"].str.replace(" ", "").str.len() >= 4]
    parts.append(taobao.sample(min(150, len(taobao)), random_state=seed))
    alipay = read(folder, "zh_atec_alipay_questions.csv")
    account = alipay[alipay["text"].str.contains(ACCOUNT_ZH)]
    parts += [
        account.sample(80, random_state=seed),
        alipay.drop(account.index).sample(150, random_state=seed),
    ]
    pool = pd.concat(parts, ignore_index=True).drop_duplicates("sha1")
    pool["lang"] = pool["file"].str[:2]
    return pool[["file", "sha1", "lang", "text"]].reset_index(drop=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    args = parser.parse_args()
    folder = args.datasets / "realtext"
    if not folder.is_dir():
        print(f"skipped: {folder} is absent (the real texts are not in the repository)")
        return 0
    pool = draw(folder)
    with args.out.open("w", encoding="utf-8") as handle:
        for row in pool.to_dict("records"):
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(pool)} texts ({pool['lang'].value_counts().to_dict()}) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
