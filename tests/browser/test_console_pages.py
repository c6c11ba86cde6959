"""The admin console in a real browser: operators, scoping, CSRF and staff, with a screenshot of each main page."""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from typing import Any

import requests

from city_services.availability import CITY_TIME
from tests.browser.conftest import Server
from tests.browser.conftest import keep_screenshot
from tests.conftest import STAFF_PASSWORD


def log_in(page: Any, username: str) -> None:
    """Log in through the form, by its labels, as a person would."""
    page.goto("/admin/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/admin/")


def car_move_on_wechat(server: Server, city: str) -> dict[str, Any]:
    tiles = requests.get(f"{server.base}/api/v1/cities/{city}/services?channel=wechat", timeout=10).json()["tiles"]
    return next(tile for tile in tiles if tile["code"] == "car_move")


def test_an_operator_puts_a_service_into_maintenance_and_the_tiles_show_it(page: Any, server: Server) -> None:
    page.goto("/admin/login")
    keep_screenshot(page, "login")
    log_in(page, "hz-ops")
    keep_screenshot(page, "home-city-operator")
    assert car_move_on_wechat(server, "330100")["state"] == "available"
    page.get_by_role("navigation").get_by_role("link", name="城市服务目录").click()
    page.get_by_role("link", name="杭州市").click()
    keep_screenshot(page, "city-catalogue")
    page.locator("#offering-car_move-wechat").get_by_role("link", name="修改").click()
    now = datetime.now(CITY_TIME)
    page.get_by_label("开始", exact=True).fill((now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("结束", exact=True).fill((now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("给居民的中文提示").fill("交警系统升级，请稍后再试")
    page.get_by_label("变更原因（必填）").fill("Traffic police system upgrade tonight")
    keep_screenshot(page, "offering-form")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url("**/admin/cities/330100")
    assert page.get_by_role("status").inner_text() == "已保存。"
    assert page.locator("#offering-car_move-wechat").get_by_text("维护中").is_visible()
    tile = car_move_on_wechat(server, "330100")
    assert (tile["state"], tile["message"]) == ("maintenance", "交警系统升级，请稍后再试")
    page.goto("/admin/cities/330100/upstreams")
    keep_screenshot(page, "upstreams")


def test_an_operator_of_one_city_can_neither_see_nor_change_another(page: Any, server: Server) -> None:
    log_in(page, "sz-ops")
    page.goto("/admin/cities/")
    assert page.get_by_role("link", name="深圳市").is_visible()
    assert page.get_by_role("link", name="杭州市").count() == 0
    response = page.goto("/admin/cities/330100")
    assert response.status == 403
    assert "您无权管理该城市" in page.get_by_role("main").inner_text()
    response = page.goto("/admin/cities/330100/services/car_move/channels/alipay")
    assert response.status == 403
    assert car_move_on_wechat(server, "440300")["state"] == "available"


def test_a_form_without_its_csrf_token_is_refused(page: Any, server: Server) -> None:
    log_in(page, "root")
    page.goto("/admin/staff/new")
    page.get_by_label("用户名").fill("mallory")
    page.get_by_label("显示名称").fill("Mallory")
    page.get_by_label("初始密码（至少 12 个字符）").fill("a long enough password")
    page.get_by_label("变更原因（必填）").fill("Looks legitimate")
    page.locator("input[name=csrf_token]").evaluate_all("inputs => inputs.forEach(input => input.remove())")
    with page.expect_navigation() as sent:
        page.get_by_role("button", name="创建").click()
    assert sent.value.status == 400
    assert "此表单已过期" in page.get_by_role("main").inner_text()
    page.goto("/admin/staff/")
    assert page.get_by_text("mallory").count() == 0


def test_a_platform_admin_creates_a_staff_member_in_english(page: Any, server: Server) -> None:
    log_in(page, "root")
    page.get_by_role("button", name="English").click()
    page.get_by_role("navigation").get_by_role("link", name="Staff").click()
    page.get_by_role("link", name="New staff account").click()
    page.get_by_label("Username").fill("sz-finance")
    page.get_by_label("Display name").fill("Shenzhen finance")
    page.get_by_label("Initial password (at least 12 characters)").fill("a long enough password")
    page.get_by_label("Role").select_option("channel_admin")
    page.get_by_label("WeChat").check()
    page.get_by_label("Reason for the change (required)").fill("Finance team grows")
    keep_screenshot(page, "staff-new")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url("**/admin/staff/")
    assert page.get_by_role("row", name="sz-finance").is_visible()
    keep_screenshot(page, "staff-list")
    page.get_by_role("navigation").get_by_role("link", name="Audit log").click()
    assert page.get_by_text("Finance team grows").is_visible()
    keep_screenshot(page, "audit-log")
    page.get_by_role("navigation").get_by_role("link", name="Payments").click()
    keep_screenshot(page, "payments")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1
