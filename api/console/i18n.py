"""The console's two interface languages: its strings in Chinese and English, and which one a
request gets (the session's choice, else the browser's Accept-Language, else English)."""

from __future__ import annotations

from flask import request

__all__ = ["LANGUAGES", "STRINGS", "best_language", "translate"]

LANGUAGES = ("en", "zh")

#: key -> (English, Chinese)
STRINGS: dict[str, tuple[str, str]] = {
    "title": ("case-triage console", "case-triage 控制台"),
    "nav.triage": ("Triage", "分诊"),
    "nav.review": ("Review queue", "复核队列"),
    "nav.suggestions": ("Suggestions", "建议工单"),
    "nav.orders": ("Orders at risk", "风险订单"),
    "nav.models": ("Models", "模型"),
    "nav.monitoring": ("Monitoring", "监控"),
    "signin": ("Sign in", "登录"),
    "signout": ("Sign out", "退出"),
    "signin.key": ("API key", "API 密钥"),
    "signin.help": (
        "Sign in with your API key; the console keeps a session, not the key.",
        "使用 API 密钥登录；控制台只保存会话，不保存密钥。",
    ),
    "signin.wrong": (
        "The API key is unknown, malformed or revoked.",
        "API 密钥无效、格式错误或已被吊销。",
    ),
    "signed_in_as": ("Signed in as", "当前用户"),
    "role": ("role", "角色"),
    "language": ("中文", "English"),
    "triage.prompt": ("Case text", "工单内容"),
    "triage.placeholder": (
        "Paste or type a case in Chinese, English or both",
        "粘贴或输入工单（中文、英文或混合）",
    ),
    "triage.submit": ("Categorize", "分类"),
    "category": ("Category", "类别"),
    "confidence": ("Confidence", "置信度"),
    "needs_review": ("needs review", "需人工复核"),
    "confident": ("confident", "可自动分派"),
    "alternatives": ("Alternatives", "备选类别"),
    "terms": ("Terms that drove it", "关键词"),
    "entities": ("Entities", "识别出的信息"),
    "missing": ("Missing details", "缺少的信息"),
    "none": ("none", "无"),
    "team": ("Team", "处理团队"),
    "order": ("Order context", "订单信息"),
    "order.status": ("Status", "状态"),
    "order.purchased": ("Purchased", "下单时间"),
    "order.promised": ("Promised", "承诺送达"),
    "order.delivered": ("Delivered", "送达时间"),
    "order.last_event": ("Last scan", "最新物流"),
    "order.days_late": ("Days late", "延误天数"),
    "order.risk": ("Risk of delay", "延误风险"),
    "order.suggestion": ("Suggestion", "建议工单"),
    "order.text_only": ("From the text alone", "仅依据文本"),
    "order.evidence": ("Order evidence", "订单证据"),
    "review.filters": ("Filters", "筛选"),
    "review.all": ("all", "全部"),
    "review.since": ("since", "起始日期"),
    "review.apply": ("Apply", "应用"),
    "review.text": ("Text (redacted)", "内容（已脱敏）"),
    "review.predicted": ("Predicted", "预测"),
    "review.corrected": ("Corrected to", "已更正为"),
    "review.when": ("When", "时间"),
    "review.confirm": ("Confirm", "确认"),
    "review.correct": ("Correct to", "更正为"),
    "review.bulk": ("Confirm selected", "批量确认"),
    "review.keys": (
        "Keys: j/k move, 1-9 pick a category, Enter confirms the row's category.",
        "快捷键：j/k 上下移动，1-9 选择类别，Enter 确认。",
    ),
    "review.empty": ("Nothing to review.", "没有需要复核的预测。"),
    "review.done": ("Recorded", "已记录"),
    "language.col": ("Lang.", "语言"),
    "more": ("Older", "更早"),
    "newer": ("First page", "第一页"),
    "suggestions.empty": ("No open suggestions.", "没有待处理的建议工单。"),
    "risk": ("Risk", "风险"),
    "reasons": ("Reasons", "原因"),
    "timeline": ("Tracking", "物流轨迹"),
    "draft_zh": ("Chinese draft", "中文草稿"),
    "draft_en": ("English draft", "英文草稿"),
    "accept": ("Accept and open the case", "接受并创建工单"),
    "accept.lang": ("File in", "提交语言"),
    "dismiss": ("Dismiss", "忽略"),
    "accepted": ("Case opened", "工单已创建"),
    "dismissed": ("Dismissed", "已忽略"),
    "orders.carrier": ("Carrier", "承运商"),
    "orders.lane": ("Lane", "线路"),
    "orders.seller": ("Seller", "卖家"),
    "orders.empty": ("No open orders match.", "没有符合条件的未完成订单。"),
    "orders.not_scored": ("not scored", "未评分"),
    "orders.risk_note": (
        "Risk is the latest open suggestion's; orders without one were below the threshold "
        "when last scored.",
        "风险取自最新的待处理建议；没有建议的订单上次评分低于阈值。",
    ),
    "models.version": ("Version", "版本"),
    "models.status": ("Status", "状态"),
    "models.created": ("Created", "创建时间"),
    "models.metrics": ("Metrics", "指标"),
    "models.per_class": ("Per class", "分类别指标"),
    "models.confusion": ("Confusion matrix", "混淆矩阵"),
    "models.reliability": ("Reliability diagram", "可靠性图"),
    "models.promote": ("Promote", "设为生产版本"),
    "models.rollback": ("Roll back", "回滚"),
    "models.confirm": ("Confirm", "确认"),
    "models.cancel": ("Cancel", "取消"),
    "models.confirm_promote": ("Make this version the champion?", "确认将此版本设为生产版本？"),
    "models.confirm_rollback": (
        "Make the previous champion the champion again?",
        "确认回滚到上一个生产版本？",
    ),
    "models.no_report": ("No evaluation report for this version.", "此版本没有评估报告。"),
    "models.retraining": ("Last retraining", "最近一次再训练"),
    "models.report": ("Evaluation report", "评估报告"),
    "models.gate_passed": ("passed the gate", "通过发布门槛"),
    "models.gate_failed": ("held back by the gate", "未通过发布门槛"),
    "models.no_retraining": (
        "No retraining yet: `triage retrain cases` makes a challenger from the corrections.",
        "尚未再训练：`triage retrain cases` 会用更正记录训练候选模型。",
    ),
    "models.done": ("Done", "完成"),
    "monitoring.days": ("Days", "天数"),
    "monitoring.period": ("Period", "周期"),
    "monitoring.computed": (
        "Computed at {at} UTC; reused for a minute.",
        "计算于 {at} UTC，一分钟内复用。",
    ),
    "monitoring.none": ("No drift report: ", "无法生成漂移报告："),
    "error": ("Something went wrong", "出错了"),
    "error.back": ("Back", "返回"),
    "csrf": (
        "The form's security token is missing or out of date; reload the page and retry.",
        "表单的安全令牌缺失或已过期，请刷新页面后重试。",
    ),
    "forbidden": ("This page needs the {role} role.", "此页面需要 {role} 角色。"),
}


def translate(key: str, language: str, **values: str) -> str:
    """The string `key` in `language` ("en" or "zh"), with {placeholders} filled."""
    english, chinese = STRINGS[key]
    text = chinese if language == "zh" else english
    return text.format(**values) if values else text


def best_language(chosen: str | None) -> str:
    """The session's choice when it made one, else the browser's preference, else English."""
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default="en") or "en"
