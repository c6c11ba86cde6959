"""The hospitals each emulated outpatient system starts with (doctors' names are invented)."""

from __future__ import annotations

from datetime import datetime

from sandbox.outpatient_catalogue import Catalogue
from sandbox.outpatient_catalogue import Department
from sandbox.outpatient_catalogue import Doctor
from sandbox.outpatient_catalogue import Hospital

CHIEF, ASSOCIATE, ATTENDING, CLINIC = "主任医师", "副主任医师", "主治医师", "便民门诊"


def _department(code: str, name: str, *doctors: tuple[str, str, str]) -> Department:
    return Department(code, name, tuple(Doctor(*doctor) for doctor in doctors))


# 浙大一院 (Hangzhou): three campuses on one HIS.
ZHEYI_HOSPITALS = (
    Hospital(
        "ZY01",
        "浙江大学医学院附属第一医院（庆春院区）",
        "三级甲等",
        "上城区",
        (
            _department(
                "XHNK", "消化内科", ("D01", "陈立群", CHIEF), ("D02", "王海燕", ASSOCIATE), ("D03", "李志强", ATTENDING)
            ),
            _department("XXGNK", "心血管内科", ("D01", "赵文静", CHIEF), ("D02", "刘建华", ATTENDING)),
            _department("PFK", "皮肤科", ("D01", "周晓明", ASSOCIATE), ("D02", "吴国栋", ATTENDING)),
            _department("BMMZ", "便民门诊", ("C01", "便民配药门诊", CLINIC)),
        ),
    ),
    Hospital(
        "ZY02",
        "浙江大学医学院附属第一医院（之江院区）",
        "三级甲等",
        "西湖区",
        (
            _department("HXNK", "呼吸内科", ("D01", "孙丽娟", CHIEF), ("D02", "郑伟", ATTENDING)),
            _department("GK", "骨科", ("D01", "黄敏", ASSOCIATE), ("D02", "徐凯", ATTENDING)),
        ),
    ),
    Hospital(
        "ZY03",
        "浙江大学医学院附属第一医院（余杭院区）",
        "三级甲等",
        "余杭区",
        (
            _department("XHNK", "消化内科", ("D01", "朱慧", ASSOCIATE), ("D02", "马骏", ATTENDING)),
            _department("BMMZ", "便民门诊", ("C01", "便民配药门诊", CLINIC)),
        ),
    ),
)

# 健康深圳 platform (Shenzhen): one platform in front of several hospitals' systems.
SHENZHEN_HOSPITALS = (
    Hospital(
        "440301001",
        "深圳市人民医院",
        "三级甲等",
        "罗湖区",
        (
            _department("1001", "心血管内科", ("100101", "胡晓峰", CHIEF), ("100102", "林静", ATTENDING)),
            _department("1002", "消化内科", ("100201", "何斌", ASSOCIATE), ("100202", "高远", ATTENDING)),
            _department("1009", "便民门诊", ("100901", "便民门诊", CLINIC)),
        ),
    ),
    Hospital(
        "440301002",
        "北京大学深圳医院",
        "三级甲等",
        "福田区",
        (
            _department("1001", "心血管内科", ("200101", "罗琳", CHIEF), ("200102", "邓志伟", ATTENDING)),
            _department("1003", "内分泌科", ("200301", "许文博", ASSOCIATE), ("200302", "谢婷", ATTENDING)),
        ),
    ),
    Hospital(
        "440301003",
        "香港大学深圳医院",
        "三级甲等",
        "福田区",
        (_department("1004", "家庭医学科", ("300401", "梁嘉欣", ATTENDING), ("300402", "家庭医学便民门诊", CLINIC)),),
    ),
    Hospital(
        "440301004",
        "深圳市儿童医院",
        "三级甲等",
        "福田区",
        (
            _department("2001", "小儿呼吸科", ("400101", "韩雪", CHIEF), ("400102", "冯磊", ATTENDING)),
            _department("2002", "小儿消化科", ("400201", "曹颖", ASSOCIATE), ("400202", "彭涛", ATTENDING)),
        ),
    ),
)


def zheyi_slot_id(hospital: Hospital, department: Department, doctor: Doctor, start: datetime) -> str:
    """ZY01-XHNK-D01-20250102-0800: the HIS names a slot by where, who and when."""
    return f"{hospital.code}-{department.code}-{doctor.code}-{start:%Y%m%d-%H%M}"


def shenzhen_schedule_id(hospital: Hospital, department: Department, doctor: Doctor, start: datetime) -> str:
    """202501021001010800: the platform's doctor codes are unique, so date, doctor and hour suffice."""
    return f"{start:%Y%m%d}{doctor.code}{start:%H%M}"


def zheyi_catalogue() -> Catalogue:
    """The zheyi_his hospitals and their slots."""
    return Catalogue(ZHEYI_HOSPITALS, zheyi_slot_id)


def shenzhen_catalogue() -> Catalogue:
    """The shenzhen_health_platform hospitals and their schedules."""
    return Catalogue(SHENZHEN_HOSPITALS, shenzhen_schedule_id)
