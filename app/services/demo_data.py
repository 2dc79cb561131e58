"""The sample organisation and indicator system of the demo, from the domain brief."""

from __future__ import annotations

OFFICES = [
    ("P01", "某省文明办", "province", None),
    ("C01", "某市文明办", "city", "P01"),
    ("X01", "某县文明办", "county", "C01"),
]

# code, name, type, target level, held title level, title status, liaison user
UNITS = [
    ("hospital", "县人民医院", "hospital", "city", "city", "named"),
    ("school", "县第一中学", "school", "county", "county", "creating"),
    ("taxbureau", "县税务局", "government", "province", "province", "named"),
    ("bank", "某银行县支行", "enterprise", "county", "county", "yellow_card"),
    ("materials", "某新材料有限公司", "private_enterprise", "county", None, "applying"),
    ("community", "城关街道幸福社区", "community", "county", "county", "named"),
]

OFFICE_USERS = [
    ("province", "省文明办审核员", "P01"),
    ("city", "市文明办审核员", "C01"),
    ("county", "县文明办审核员", "X01"),
]

INDICATOR_SYSTEM = {
    "code": "WMDW",
    "name": "文明单位测评体系（2026版）",
    "bonus_cap": 10,
    "grade_thresholds": {"model": 95, "keep": 85},
    "categories": [
        {
            "code": "A",
            "name": "组织领导",
            "kind": "base",
            "indicators": [
                {
                    "code": "A1",
                    "name": "班子专题研究创建工作",
                    "points": 5,
                    "min_photos": 2,
                    "min_documents": 2,
                    "guidance": "至少2份会议纪要和2张照片",
                },
                {
                    "code": "A2",
                    "name": "年度创建计划（有文号）",
                    "points": 5,
                    "min_documents": 1,
                },
                {"code": "A3", "name": "创建档案规范有序", "points": 5},
            ],
        },
        {
            "code": "B",
            "name": "思想道德",
            "kind": "base",
            "indicators": [
                {"code": "B1", "name": "理论学习", "points": 8},
                {"code": "B2", "name": "道德讲堂", "points": 7},
                {"code": "B3", "name": "诚信建设", "points": 5},
                {
                    "code": "B4",
                    "name": "我们的节日",
                    "points": 5,
                    "min_photos": 2,
                    "min_chars": 200,
                },
            ],
        },
        {
            "code": "C",
            "name": "志愿服务",
            "kind": "base",
            "indicators": [
                {"code": "C1", "name": "志愿服务队伍", "points": 5},
                {
                    "code": "C2",
                    "name": "志愿服务时长（每人每月≥3小时）",
                    "points": 10,
                    "method": "online",
                },
                {"code": "C3", "name": "结对帮扶", "points": 5},
            ],
        },
        {
            "code": "D",
            "name": "业务与服务",
            "kind": "base",
            "indicators": [
                {
                    "code": "D1",
                    "name": "窗口服务",
                    "points": 10,
                    "method": "on_site",
                    "office_only": True,
                },
                {
                    "code": "D2",
                    "name": "群众满意度",
                    "points": 10,
                    "method": "questionnaire",
                    "office_only": True,
                },
            ],
        },
        {
            "code": "E",
            "name": "环境与文化",
            "kind": "base",
            "indicators": [
                {"code": "E1", "name": "环境卫生", "points": 8, "method": "on_site"},
                {"code": "E2", "name": "公益广告", "points": 6},
                {"code": "E3", "name": "文化体育活动", "points": 6},
            ],
        },
        {
            "code": "F",
            "name": "加分项",
            "kind": "bonus",
            "indicators": [
                {
                    "code": "F1",
                    "name": "受到表彰（县/市/省 +2/+4/+6，取最高）",
                    "points": 6,
                },
                {
                    "code": "F2",
                    "name": "媒体宣传报道（每次+1，最多4分）",
                    "points": 4,
                    "per_item": 1,
                },
            ],
        },
        {
            "code": "G",
            "name": "扣分项",
            "kind": "deduction",
            "indicators": [
                {
                    "code": "G1",
                    "name": "检查发现问题（每个−1）",
                    "points": 1,
                    "per_item": 1,
                },
                {
                    "code": "G2",
                    "name": "有效群众投诉（每起−2）",
                    "points": 2,
                    "per_item": 2,
                },
                {"code": "G3", "name": "负面事件未报告（扣分加倍）", "points": 0},
            ],
        },
        {
            "code": "V",
            "name": "一票否决",
            "kind": "veto",
            "indicators": [
                {"code": "V1", "name": "领导班子成员严重违纪违法"},
                {"code": "V2", "name": "3名以上职工被追究刑事责任"},
                {"code": "V3", "name": "发生重大安全或食品事故"},
                {"code": "V4", "name": "列入失信黑名单"},
                {"code": "V5", "name": "发生群体性事件"},
            ],
        },
    ],
}

DEMO_ACCOUNTS = [
    ("admin", "系统管理员 system administrator"),
    *((u, f"{name} reviewer and office administrator") for u, name, _ in OFFICE_USERS),
    *((code, f"{name}联络员 liaison") for code, name, *_ in UNITS),
]
