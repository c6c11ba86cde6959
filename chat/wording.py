"""What chat says, per language: short sentences for older residents, amounts in yuan, personal data masked.

Every reply is built here from a phrase and its fields, so no personal datum but the masked forms
(a plate's ends, an account's last four digits) ever reaches a message.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")

PHRASES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "welcome": "欢迎关注！直接发文字就能办：\n· 公积金：查余额\n· 挪车 浙A12345：请车主挪车\n"
        "· 挂号：预约门诊\n· 进度：看我的申请",
        "help": "您可以发送：\n· 公积金\n· 挪车 浙A12345\n· 挂号\n· 进度",
        "verify_first": "查公积金要先实名认证。\n请打开“城市服务”小程序，在“我的”里认证，再发“公积金”。",
        "balance": "您的公积金余额：{balance} 元。\n账户 {account}，{status}。\n每月缴存 {monthly} 元。",
        "account_open": "正常缴存",
        "account_sealed": "已封存",
        "account_closed": "已销户",
        "no_fund_account": "没有查到您在本市的公积金账户。",
        "plate_please": "请发送车牌号，例如：挪车 浙A12345",
        "location_please": "收到车牌 {plate}。\n请发送您的位置（点“+”，再点“位置”），我们就通知车主。",
        "car_move_sent": "已请车主挪车，车牌 {plate}。\n编号 {request}。\n发“进度”可以看结果。",
        "location_kept": "收到您的位置。\n要挪车，请发：挪车 车牌号",
        "bad_plate": "车牌号不对。\n例如：挪车 浙A12345",
        "no_such_car": "没有查到这辆车。\n请核对车牌号再发。",
        "quota_used": "您本月的挪车次数已用完。",
        "plate_cooling": "这辆车刚有人申请挪车。\n请过 10 分钟再试。",
        "owner_complained": "车主已投诉，这辆车暂时不能申请挪车。",
        "outpatient_link": "请在“城市服务”小程序里挂号：\n{link}",
        "outpatient_plain": "请打开“城市服务”小程序挂号。",
        "progress_none": "您还没有申请。",
        "progress_head": "您最近的申请：",
        "progress_car_move": "· 挪车 {plate}：{status}（{at}）",
        "progress_appointment": "· 挂号 {hospital} {department}：{status}（{at}）",
        "closed": "该服务现在不开放，请稍后再试。",
        "busy": "系统有点忙，请稍后再试。",
        "unavailable": "暂时办不了，请稍后再试。",
        "awaiting_owner": "等车主回应",
        "submitting": "正在提交",
        "notified": "已通知车主",
        "acknowledged": "车主已回应",
        "moved": "车已挪走",
        "unreachable": "联系不上车主",
        "cancelled": "已取消",
        "failed": "没有办成",
        "holding": "正在预约",
        "held": "待支付",
        "confirmed": "已预约",
        "expired": "已过期",
    },
    "en": {
        "welcome": "Welcome! Just send a word:\n· housing fund: your balance\n"
        "· move car 浙A12345: ask a driver to move\n· appointment: see a doctor\n· progress: your requests",
        "help": "You can send:\n· housing fund\n· move car 浙A12345\n· appointment\n· progress",
        "verify_first": "Please verify your real name first.\nOpen the City Services mini-program, then send "
        '"housing fund" again.',
        "balance": "Your housing fund balance: {balance} yuan.\nAccount {account}, {status}.\nPaid in each month: "
        "{monthly} yuan.",
        "account_open": "active",
        "account_sealed": "sealed",
        "account_closed": "closed",
        "no_fund_account": "We found no housing fund account of yours in this city.",
        "plate_please": "Please send the plate, e.g. move car 浙A12345",
        "location_please": "Plate {plate} noted.\nPlease send your location, then we tell the owner.",
        "car_move_sent": "We asked the owner to move, plate {plate}.\nRequest {request}.\nSend progress to follow it.",
        "location_kept": "Location noted.\nTo ask a driver to move, send: move car <plate>",
        "bad_plate": "That is not a plate.\nFor example: move car 浙A12345",
        "no_such_car": "We found no such car.\nPlease check the plate and send it again.",
        "quota_used": "You have used this month's car-move requests.",
        "plate_cooling": "Someone just asked this car to move.\nPlease try again in 10 minutes.",
        "owner_complained": "The owner complained; this car cannot be asked for now.",
        "outpatient_link": "Book in the City Services mini-program:\n{link}",
        "outpatient_plain": "Please book in the City Services mini-program.",
        "progress_none": "You have no requests yet.",
        "progress_head": "Your latest requests:",
        "progress_car_move": "· Car move {plate}: {status} ({at})",
        "progress_appointment": "· Appointment {hospital} {department}: {status} ({at})",
        "closed": "This service is closed now. Please try later.",
        "busy": "We are busy. Please try again soon.",
        "unavailable": "We cannot do this now. Please try later.",
        "awaiting_owner": "waiting for the owner",
        "submitting": "being sent",
        "notified": "owner told",
        "acknowledged": "owner answered",
        "moved": "car moved",
        "unreachable": "owner not reached",
        "cancelled": "cancelled",
        "failed": "not done",
        "holding": "being booked",
        "held": "to be paid",
        "confirmed": "booked",
        "expired": "expired",
    },
}


def say(language: str, phrase: str, **fields: str) -> str:
    """A phrase in the language (zh-CN when it has none), its fields filled in."""
    phrases = PHRASES.get(language, PHRASES["zh-CN"])
    return phrases.get(phrase, PHRASES["zh-CN"][phrase]).format(**fields)


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals and thousands separated: 1,234,567.89."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def when(moment: datetime, language: str) -> str:
    """A moment in Beijing time, as a resident reads it."""
    local = moment.astimezone(BEIJING)
    return f"{local.month}月{local.day}日 {local:%H:%M}" if language == "zh-CN" else f"{local:%d %b %H:%M}"
