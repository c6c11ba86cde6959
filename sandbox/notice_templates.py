"""The notice templates each demo app has picked from the channels' template libraries.

A WeChat subscribe message must fill every keyword of its template, each within the rules of the
keyword's type (the name before its number: thing2 is a `thing`), or WeChat answers 47003. An
Alipay template message may only use its template's keywords (keyword1, keyword2, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# WeChat keyword types and what their values may be (WeChat's subscribe-message value rules).
_WECHAT_VALUE_RULES = {
    "thing": re.compile(r".{1,20}", re.S),
    "character_string": re.compile(r"[\x21-\x7e]{1,32}"),
    "car_number": re.compile(r".{1,8}", re.S),
    "phrase": re.compile(r"[\u4e00-\u9fff]{1,5}"),
    "time": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}(:[0-9]{2})?)?"),
    "amount": re.compile(r"[¥￥]?[0-9]{1,10}(\.[0-9]{1,2})?元?"),
}
_WECHAT_KEYWORD = re.compile(r"([a-z_]+?)[0-9]+")


@dataclass(frozen=True)
class NoticeTemplate:
    """One template: its id, its title and its keywords, in order."""

    template_id: str
    title: str
    keywords: tuple[str, ...]

    def describe(self) -> dict[str, object]:
        """JSON view for the helper API."""
        return {"template_id": self.template_id, "title": self.title, "keywords": list(self.keywords)}


# (channel, app_id) -> the app's templates.
NOTICE_TEMPLATES: dict[tuple[str, str], tuple[NoticeTemplate, ...]] = {
    ("wechat", "wx7c1b5d1e2f3a4b50"): (
        NoticeTemplate(
            "CarMoveOwnerNotice-2bQ9wL0xVt7pKs3Rj5Ym8NdA", "挪车通知", ("car_number1", "thing2", "time3", "thing4")
        ),
        NoticeTemplate(
            "AppointmentNotice_Hc4eT1uZo6WqGf2Lx9SbVr0mK",
            "预约成功通知",
            ("thing1", "thing2", "thing3", "time4", "character_string5"),
        ),
        NoticeTemplate(
            "PaymentNotice_kY7nJ3aRm5QeZ1tXw8CvLp2Ds4Bq7",
            "缴费成功通知",
            ("character_string1", "amount2", "thing3", "time4"),
        ),
    ),
    ("alipay", "2021004100000001"): (
        NoticeTemplate(
            "Y2l0eXRpbGVzOmNhci1tb3ZlLW93bmVyLW5vdGljZQ==", "挪车通知", ("keyword1", "keyword2", "keyword3", "keyword4")
        ),
        NoticeTemplate(
            "Y2l0eXRpbGVzOmFwcG9pbnRtZW50LW5vdGljZQ==",
            "预约成功通知",
            ("keyword1", "keyword2", "keyword3", "keyword4", "keyword5"),
        ),
        NoticeTemplate(
            "Y2l0eXRpbGVzOnBheW1lbnQtbm90aWNl", "缴费成功通知", ("keyword1", "keyword2", "keyword3", "keyword4")
        ),
    ),
}


def notice_template(channel: str, app_id: str, template_id: str) -> NoticeTemplate | None:
    """The app's template with this id, if it has one."""
    return next((t for t in NOTICE_TEMPLATES.get((channel, app_id), ()) if t.template_id == template_id), None)


def wechat_data_problem(template: NoticeTemplate, data: object) -> str | None:
    """Why WeChat would refuse data for template (its 47003 hint), or None."""
    if not isinstance(data, dict) or not data:
        return "data invalid"
    for key, item in data.items():
        if key not in template.keywords:
            return f"data.{key} invalid"
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            return f"data.{key}.value invalid"
    for keyword in template.keywords:
        value = data.get(keyword, {}).get("value", "")
        if not value:
            return f"data.{keyword}.value is empty"
        kind = _WECHAT_KEYWORD.fullmatch(keyword)
        rule = _WECHAT_VALUE_RULES.get(kind.group(1) if kind else "")
        if rule is not None and not rule.fullmatch(value):
            return f"data.{keyword}.value invalid"
    return None


def alipay_data_problem(template: NoticeTemplate, data: object) -> str | None:
    """Why Alipay would refuse data for template, or None."""
    if not isinstance(data, dict):
        return "data格式错误，应为{keyword:{value}}"
    for key, item in data.items():
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            return "data格式错误，应为{keyword:{value}}"
        if key not in template.keywords:
            return f"data中的{key}不是模板的关键词"
    return None
