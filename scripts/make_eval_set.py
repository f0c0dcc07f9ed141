#!/usr/bin/env python3
"""Generate the bilingual (Chinese/English) retrieval evaluation set.

Writes a small BEIR-format dataset whose relevance judgements are known by
construction, for `zhishu eval --dataset tests/data/eval-zh-en`:

  tests/data/eval-zh-en/corpus.jsonl     {"_id", "title", "text"} per line
  tests/data/eval-zh-en/queries.jsonl    {"_id", "text", "kind"} per line
  tests/data/eval-zh-en/qrels/test.tsv   query-id <TAB> corpus-id <TAB> score
  tests/data/eval-zh-en/README.md        how it is built, what each kind tests

How it is built
---------------
The corpus is a fictional company knowledge base (travel, leave, IT
troubleshooting, passwords, product code names, departments, benefits, ...).
Every passage is rendered from a *fact*: one instance of a family (e.g. "hotel
limit" x "Shanghai") with slot values that are unique within the family (the
nightly limit, the partner hotel, ...).  Each fact is written in English or in
Chinese (about half each), and a few facts in both (translated twins).  The
other instances of the same family are the hard distractors: same wording,
different city / grade / system / code name.  The same entities also recur
across families (Shanghai has a hotel limit, an office and a shuttle bus; the
code name Kestrel has a product page and a project-workspace page), so the
topic words matter as much as the entity.

Each query is built from one fact, so its relevant passages are exactly the
passages rendered from that fact (one, or two for a twin), all with score 1.
Query kinds (prefix of the query id and the "kind" field):

  en-exact  English, shares the key terms of the passage
  en-para   English paraphrase: entity kept, topic words replaced by synonyms
  zh-exact  Chinese (no Latin letters), shares the key terms
  zh-para   Chinese paraphrase
  mixed     Chinese and English in one query; the key entity stays in the
            passage's language, the topic words are in the other language

Everything is deterministic (random.Random(SEED), no set iteration, sorted
output), standard library only.  Running it twice gives byte-identical files.

Usage (from the repository root):

    python3 scripts/make_eval_set.py [--out DIR] [--check]

--check additionally runs a tiny pure-Python BM25 (character bigrams for
Chinese, lowercased words for English) and prints nDCG@10 / Recall@10 /
MRR@10 per query kind.  It is a sanity baseline for the dataset only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
from dataclasses import dataclass, field

SEED = 20240611
QUERIES_PER_KIND = 18
KINDS = ["en-exact", "en-para", "zh-exact", "zh-para", "mixed"]
MAX_QUERIES_PER_FACT = 2
TWINS_PER_FAMILY = 1

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")


@dataclass
class Fact:
    """One unit of knowledge, renderable in English and/or Chinese."""

    fid: str
    family: str
    doc: dict  # lang -> (title, text)
    queries: dict = field(default_factory=dict)  # kind -> [text, ...]
    langs: list = field(default_factory=list)  # languages actually rendered


def fact(fid, family, en, zh, **queries):
    """queries: en_exact, en_para, zh_exact, zh_para, mixed_en, mixed_zh."""
    q = {}
    for k, v in queries.items():
        if v is None:
            continue
        q[k.replace("_", "-")] = v if isinstance(v, list) else [v]
    return Fact(fid, family, {"en": en, "zh": zh}, q)


# --------------------------------------------------------------------------
# Shared entities

CITIES = {
    "shanghai": ("Shanghai", "上海"),
    "beijing": ("Beijing", "北京"),
    "shenzhen": ("Shenzhen", "深圳"),
    "guangzhou": ("Guangzhou", "广州"),
    "hangzhou": ("Hangzhou", "杭州"),
    "chengdu": ("Chengdu", "成都"),
    "wuhan": ("Wuhan", "武汉"),
    "nanjing": ("Nanjing", "南京"),
    "xian": ("Xi'an", "西安"),
    "suzhou": ("Suzhou", "苏州"),
    "hongkong": ("Hong Kong", "香港"),
    "singapore": ("Singapore", "新加坡"),
    "tokyo": ("Tokyo", "东京"),
    "london": ("London", "伦敦"),
    "frankfurt": ("Frankfurt", "法兰克福"),
    "sanjose": ("San Jose", "圣何塞"),
    "sydney": ("Sydney", "悉尼"),
    "dubai": ("Dubai", "迪拜"),
}

# --------------------------------------------------------------------------
# Family: hotel limit per city (travel policy)

HOTELS = [
    # city, currency en, currency zh, amount, partner hotel en, zh
    ("shanghai", "CNY", "元", "850", "Bund Harbour Hotel", "外滩海港酒店"),
    ("beijing", "CNY", "元", "800", "Jianguomen Garden Hotel", "建国门花园酒店"),
    ("shenzhen", "CNY", "元", "750", "Nanshan Bay Hotel", "南山湾酒店"),
    ("guangzhou", "CNY", "元", "700", "Zhujiang New Town Suites", "珠江新城公寓酒店"),
    ("hangzhou", "CNY", "元", "650", "West Lake Lakeside Inn", "西湖湖滨酒店"),
    ("chengdu", "CNY", "元", "550", "Tianfu Square Hotel", "天府广场酒店"),
    ("wuhan", "CNY", "元", "500", "Jianghan Riverside Hotel", "江汉江景酒店"),
    ("nanjing", "CNY", "元", "600", "Xinjiekou Central Hotel", "新街口中心酒店"),
    ("xian", "CNY", "元", "480", "Bell Tower Plaza Hotel", "钟楼广场酒店"),
    ("suzhou", "CNY", "元", "580", "Jinji Lake Hotel", "金鸡湖酒店"),
    ("hongkong", "HKD", "港币", "1,600", "Kowloon Harbourfront Hotel", "九龙海滨酒店"),
    ("singapore", "SGD", "新加坡元", "320", "Marina Link Hotel", "滨海连廊酒店"),
    ("tokyo", "JPY", "日元", "22,000", "Shinagawa Station Hotel", "品川站前酒店"),
    ("london", "GBP", "英镑", "210", "Canary Wharf Dockside Hotel", "金丝雀码头船坞酒店"),
    ("frankfurt", "EUR", "欧元", "190", "Mainufer Hotel", "美因河畔酒店"),
    ("sanjose", "USD", "美元", "260", "North First Street Suites", "北一街套房酒店"),
    ("sydney", "AUD", "澳元", "280", "Darling Harbour Suites", "达令港套房酒店"),
    ("dubai", "AED", "迪拉姆", "900", "Business Bay Tower Hotel", "商务湾大厦酒店"),
]


def hotel_facts():
    out = []
    for key, cur, cur_zh, amt, h_en, h_zh in HOTELS:
        c, cz = CITIES[key]
        en = (
            f"Travel Policy: Hotel Limit for {c}",
            f"Employees on business travel to {c} may claim hotel accommodation of up "
            f"to {cur} {amt} per night, taxes included. The company's preferred partner "
            f"hotel in {c} is the {h_en}, which offers the corporate rate when booked "
            f"through the travel portal. Stays above the nightly limit need prior written "
            f"approval from your department head. Upload the hotel invoice to Atlas "
            f"Expense within 30 days of returning.",
        )
        zh = (
            f"差旅制度：{cz}住宿标准",
            f"员工因公出差至{cz}，酒店住宿费用报销上限为每晚{amt}{cur_zh}（含税）。"
            f"公司在{cz}的协议酒店为{h_zh}，通过差旅平台预订可享受协议价。"
            f"超出标准的住宿须在预订前获得部门负责人书面批准。"
            f"请于返程后30天内将酒店发票上传至 Atlas 报销系统。",
        )
        out.append(fact(
            f"hotel/{key}", "hotel", en, zh,
            en_exact=[f"What is the hotel limit per night for business travel to {c}?",
                      f"hotel accommodation limit per night in {c}"],
            en_para=[f"What's the most I can expense for a room each evening when I visit {c} for work?",
                     f"Maximum lodging spend per overnight stay on a work trip to {c}"],
            zh_exact=[f"{cz}出差酒店住宿报销上限是多少", f"{cz}住宿标准每晚多少"],
            zh_para=[f"去{cz}公干，一晚的宾馆最多能报多少钱？",
                     f"在{cz}出公差时，晚上住的地方最贵能订多少？"],
            mixed_zh=[f"{cz} hotel 报销上限", f"{cz}出差 hotel 每晚 limit 多少"],
            mixed_en=[f"{c} 出差住酒店每晚能报多少", f"去 {c} 出差 hotel 标准是多少"],
        ))
    return out


# --------------------------------------------------------------------------
# Family: office guide per city

OFFICES = [
    # city, floor, building en, zh, district en, zh, reception hours, visitor lead hours, metro en, zh
    ("shanghai", 23, "Lujiazui Century Tower", "陆家嘴世纪大厦", "Pudong New Area", "浦东新区",
     "08:30-18:30", 24, "Lujiazui Station (Line 2)", "地铁2号线陆家嘴站"),
    ("beijing", 15, "Wangjing Innovation Tower", "望京创新大厦", "Chaoyang District", "朝阳区",
     "08:30-18:00", 24, "Wangjing East Station (Line 15)", "地铁15号线望京东站"),
    ("shenzhen", 31, "Qianhai Harbour Centre", "前海港湾中心", "Nanshan District", "南山区",
     "09:00-18:30", 12, "Qianhaiwan Station (Line 1)", "地铁1号线前海湾站"),
    ("guangzhou", 18, "Tianhe Pearl Tower", "天河明珠大厦", "Tianhe District", "天河区",
     "08:45-18:00", 24, "Zhujiang New Town Station (Line 3)", "地铁3号线珠江新城站"),
    ("hangzhou", 9, "Binjiang Digital Park Building C", "滨江数字园C座", "Binjiang District",
     "滨江区", "09:00-18:00", 12, "Binhe Road Station (Line 1)", "地铁1号线滨和路站"),
    ("chengdu", 27, "Tianfu Software Park Block E", "天府软件园E区", "High-tech Zone", "高新区",
     "09:00-17:30", 24, "Tianfu 3rd Street Station (Line 1)", "地铁1号线天府三街站"),
    ("wuhan", 12, "Optics Valley Tower", "光谷大厦", "East Lake High-tech Zone", "东湖高新区",
     "08:30-17:30", 24, "Optics Valley Square Station (Line 2)", "地铁2号线光谷广场站"),
    ("singapore", 40, "Marina Bay Exchange Tower", "滨海湾交易大厦", "Downtown Core", "市中心区",
     "09:00-18:00", 48, "Downtown MRT Station", "地铁市中心站"),
    ("hongkong", 36, "Kowloon Bay Enterprise Square", "九龙湾企业广场", "Kowloon Bay", "九龙湾",
     "09:00-18:00", 24, "Kowloon Bay MTR Station", "港铁九龙湾站"),
    ("london", 6, "Granary House", "粮仓大楼", "King's Cross", "国王十字区",
     "08:00-18:00", 48, "King's Cross St Pancras Underground Station", "国王十字圣潘克拉斯地铁站"),
    ("tokyo", 19, "Shinagawa Seaside Tower", "品川海滨大厦", "Minato City", "港区",
     "09:00-17:30", 48, "Shinagawa Seaside Station", "品川海滨站"),
    ("frankfurt", 11, "Mainzer Landstrasse Office Park", "美因茨大街办公园", "Westend", "西区",
     "08:00-17:00", 48, "Taunusanlage S-Bahn Station", "陶努斯公园城铁站"),
]


def office_facts():
    out = []
    for key, fl, b_en, b_zh, d_en, d_zh, hours, lead, m_en, m_zh in OFFICES:
        c, cz = CITIES[key]
        en = (
            f"Office Guide: {c}",
            f"Our {c} office occupies floor {fl} of {b_en} in {d_en}. Reception is "
            f"staffed {hours} on working days. Visitors must be pre-registered in the "
            f"Visitor Pass system at least {lead} hours before arrival and collect a "
            f"temporary badge at the front desk. The nearest public transport stop is "
            f"{m_en}.",
        )
        zh = (
            f"办公室指南：{cz}",
            f"{cz}办公室位于{d_zh}{b_zh}{fl}层。前台工作时间为工作日{hours}。"
            f"访客须至少提前{lead}小时在访客系统中登记，并到前台领取临时门禁卡。"
            f"最近的公共交通站点为{m_zh}。",
        )
        out.append(fact(
            f"office/{key}", "office", en, zh,
            en_exact=[f"Where is the {c} office located?", f"{c} office address and reception hours"],
            en_para=[f"Which building and level do we work out of in {c}?",
                     f"Which tower do I head to when I go to our {c} site?"],
            zh_exact=[f"{cz}办公室地址在哪里", f"{cz}办公室前台工作时间"],
            zh_para=[f"我要去{cz}分公司，具体在哪栋楼几楼？", f"公司在{cz}的办公地点怎么走"],
            mixed_zh=[f"{cz} office 在哪栋楼几层", f"{cz} office 前台 reception 几点"],
            mixed_en=[f"{c} office 在哪栋楼", f"{c} 办公室前台几点上班"],
        ))
    return out


# --------------------------------------------------------------------------
# Family: IT troubleshooting (one symptom per passage; several VPN, mail and
# password articles act as distractors for each other)

IT_ISSUES = [
    dict(
        key="vpn-809",
        en=("AnyLink VPN: Error 809 on Windows",
            "Symptom: on Windows, AnyLink VPN fails with error 809 when you connect from home. "
            "Cause: the home router or the internet provider blocks the IPsec ports UDP 500 and 4500. "
            "Fix: open the AnyLink settings, switch the protocol from IPsec to SSL and reconnect. "
            "If it still fails, raise a ServiceDesk ticket under Network / VPN."),
        zh=("AnyLink VPN：Windows 报错 809",
            "现象：居家办公时在 Windows 上使用 AnyLink VPN 连接失败，提示错误 809。"
            "原因：家用路由器或运营商屏蔽了 IPsec 使用的 UDP 500 和 4500 端口。"
            "处理方法：打开 AnyLink 设置，将协议由 IPsec 切换为 SSL 后重新连接。"
            "如仍无法连接，请在 ServiceDesk 的“网络/VPN”类别下提交工单。"),
        en_exact="AnyLink VPN error 809 on Windows",
        en_para="Working from my house on a Windows PC, I cannot reach the intranet and the tunnel keeps getting refused by my router",
        mixed_zh="VPN 连接失败 809 怎么办", mixed_en="VPN 连接失败 error 809 怎么办",
    ),
    dict(
        key="vpn-cert",
        en=("AnyLink VPN: Certificate Expired on macOS",
            "Symptom: on a Mac, AnyLink VPN refuses to connect and reports that the device certificate has expired. "
            "Device certificates are valid for 12 months and are not renewed automatically on macOS. "
            "Fix: open the Self Service app, run Renew Device Certificate, then restart AnyLink."),
        zh=("AnyLink VPN：macOS 证书过期",
            "现象：在 Mac 电脑上 AnyLink VPN 无法连接，提示设备证书已过期。"
            "设备证书有效期为12个月，macOS 上不会自动续期。"
            "处理方法：打开 Self Service 应用，运行“续订设备证书”，然后重启 AnyLink。"),
        en_exact="AnyLink VPN device certificate expired on macOS",
        en_para="My Apple laptop says its security credential for remote access is out of date",
        mixed_zh="Mac 上 VPN 证书过期 怎么处理", mixed_en="Mac 上 VPN certificate 过期怎么办",
    ),
    dict(
        key="vpn-otp",
        en=("AnyLink VPN: Authentication Failed After One-Time Code",
            "Symptom: AnyLink VPN shows authentication failed right after you enter the one-time code from the authenticator app. "
            "Cause: the clock on your phone has drifted, so the code is no longer accepted. "
            "Fix: set the phone clock to automatic, then resynchronise the token on the Passport portal under My Security."),
        zh=("AnyLink VPN：输入动态验证码后认证失败",
            "现象：在 AnyLink VPN 中输入身份验证器应用生成的动态验证码后，提示认证失败。"
            "原因：手机时钟存在偏差，导致验证码失效。"
            "处理方法：将手机时间设为自动同步，然后在 Passport 门户的“我的安全设置”中重新同步令牌。"),
        en_exact="AnyLink VPN authentication failed after entering one-time code",
        en_para="The six-digit number from my phone app keeps getting rejected when I dial in remotely",
        mixed_zh="VPN 输入动态验证码后 authentication failed", mixed_en="VPN 输入验证码后 authentication failed",
    ),
    dict(
        key="wifi",
        en=("LT-Corp Wi-Fi: Laptop Cannot Connect",
            "Symptom: a company laptop cannot connect to the LT-Corp Wi-Fi network. "
            "Cause: the 802.1X device certificate is missing from the laptop. "
            "Fix: plug in a network cable and install the Wi-Fi Profile package from Software Center. "
            "Personal devices are not allowed on LT-Corp and must use LT-Guest instead."),
        zh=("LT-Corp 无线网络：笔记本电脑无法连接",
            "现象：公司笔记本电脑无法连接 LT-Corp 无线网络。"
            "原因：电脑上缺少 802.1X 设备证书。"
            "处理方法：插上网线，在 Software Center 中安装无线网络配置包。"
            "个人设备不得接入 LT-Corp，请改用 LT-Guest 访客网络。"),
        en_exact="company laptop cannot connect to LT-Corp Wi-Fi",
        en_para="My work notebook won't join the office wireless",
        zh_exact="公司笔记本电脑无法连接无线网络", zh_para="办公室里用工作电脑上不了网，一直连不上",
        mixed_zh="LT-Corp Wi-Fi 连不上", mixed_en="LT-Corp Wi-Fi 连不上怎么办",
    ),
    dict(
        key="print",
        en=("FollowMe Printing: Job Not Printing",
            "Symptom: you send a document to FollowMe printing but nothing comes out of the printer. "
            "FollowMe holds every print job until you tap your staff badge on the printer's card reader. "
            "Jobs that are not released within 24 hours are deleted. Colour printing must be enabled by your department's assistant."),
        zh=("FollowMe 打印：打印任务不出纸",
            "现象：文件已发送到 FollowMe 打印，但打印机没有出纸。"
            "FollowMe 会保留所有打印任务，需在打印机读卡器上刷员工卡后才会打印。"
            "24小时内未释放的任务会被自动删除。彩色打印需由部门助理开通。"),
        en_exact="FollowMe print job not printing",
        en_para="I sent a document to the office copier but the paper never appears",
        zh_exact="打印任务已发送但打印机没有出纸", zh_para="文件传过去了复印机却一直不出东西",
        mixed_zh="FollowMe 打印 没有出纸", mixed_en="FollowMe printing 不出纸",
    ),
    dict(
        key="mailbox-full",
        en=("Outlook: Mailbox Full",
            "Symptom: Outlook warns that your mailbox is full and you can no longer send email. "
            "Every mailbox has a 50 GB quota. Fix: enable Online Archive in Outlook and move old folders there; "
            "messages older than two years are archived automatically every Sunday."),
        zh=("Outlook：邮箱已满",
            "现象：Outlook 提示邮箱已满，无法发送邮件。每个邮箱的容量上限为50 GB。"
            "处理方法：在 Outlook 中启用在线存档并将旧文件夹移入存档；"
            "超过两年的邮件会在每周日自动归档。"),
        en_exact="Outlook mailbox full cannot send email",
        en_para="My inbox has run out of space and my messages bounce",
        zh_exact="邮箱已满无法发送邮件", zh_para="收件箱空间不够了，信发不出去怎么办",
        mixed_zh="Outlook 邮箱满了 怎么 archive", mixed_en="Outlook 邮箱满了 mailbox full",
    ),
    dict(
        key="shared-mailbox",
        en=("Outlook: Shared Mailbox Not Showing",
            "Symptom: a shared mailbox you should have access to does not appear in Outlook. "
            "Access is granted by the mailbox owner through a ServiceDesk request. "
            "After approval it can take up to two hours before the shared mailbox shows up; restart Outlook afterwards."),
        zh=("Outlook：共享邮箱不显示",
            "现象：应有权限的共享邮箱没有出现在 Outlook 中。"
            "共享邮箱权限需由邮箱负责人通过 ServiceDesk 申请开通。"
            "审批通过后最长需要两小时才会显示，之后请重启 Outlook。"),
        en_exact="shared mailbox not showing in Outlook",
        en_para="The team's common inbox doesn't appear in my mail app",
        zh_exact="共享邮箱不显示怎么办", zh_para="团队公用的收件箱在我的邮件客户端里看不到",
        mixed_zh="shared mailbox 在 Outlook 里看不到", mixed_en="shared mailbox 不显示",
    ),
    dict(
        key="clickshare",
        en=("Meeting Rooms: Screen Not Showing Your Laptop",
            "Symptom: the meeting room screen does not show your laptop. "
            "Plug the ClickShare button into a USB-C port and press it once to start sharing. "
            "An HDMI cable is kept in the drawer under the table as a fallback."),
        zh=("会议室：大屏无法投屏",
            "现象：会议室大屏无法显示笔记本电脑画面。"
            "请将 ClickShare 按钮插入 USB-C 接口并按一下即可开始投屏。"
            "会议桌下方抽屉内备有 HDMI 线可作为备用。"),
        en_exact="meeting room screen not showing laptop ClickShare",
        en_para="How do I get my slides onto the big display in a conference room?",
        zh_exact="会议室大屏无法投屏", zh_para="开会时电脑画面放不到墙上的电视上",
        mixed_zh="会议室 ClickShare 投屏失败", mixed_en="会议室 ClickShare 没反应",
    ),
    dict(
        key="sso-locked",
        en=("Passport SSO: Account Locked",
            "Symptom: Passport single sign-on says your account is locked. "
            "Accounts lock after five failed password attempts and unlock automatically after 30 minutes. "
            "To unlock immediately, use self-service unlock on the Passport page with SMS verification."),
        zh=("Passport 统一登录：账号被锁定",
            "现象：Passport 统一登录提示账号已被锁定。"
            "连续五次输错密码后账号会被锁定，30分钟后自动解锁。"
            "如需立即解锁，可在 Passport 页面通过短信验证进行自助解锁。"),
        en_exact="Passport SSO account locked after failed password attempts",
        en_para="I typed the wrong secret too many times and now I am shut out of single sign-on",
        zh_exact="统一登录账号被锁定怎么解锁", zh_para="密码输错好几次现在登不进去了",
        mixed_zh="Passport 账号 locked 怎么解锁", mixed_en="Passport 账号 locked 怎么办",
    ),
    dict(
        key="gitlab-ssh",
        en=("GitLab: Push Rejected with Permission Denied (publickey)",
            "Symptom: git push to GitLab fails with Permission denied (publickey). "
            "Cause: your SSH key is not registered or has expired; keys expire 365 days after upload. "
            "Fix: generate a new ed25519 key and add it under Preferences > SSH Keys in GitLab."),
        zh=("GitLab：推送代码提示 Permission denied (publickey)",
            "现象：向 GitLab 代码仓库推送代码时报错 Permission denied (publickey)。"
            "原因：SSH 密钥未登记或已过期，密钥在上传365天后失效。"
            "处理方法：生成新的 ed25519 密钥，并在 GitLab 的“偏好设置 > SSH 密钥”中添加。"),
        en_exact="GitLab push permission denied publickey",
        en_para="git won't let me upload my commits, it says my key is refused",
        zh_exact="代码仓库推送代码被拒绝", zh_para="把代码提交到远程服务器时说没有权限",
        mixed_zh="GitLab 推送 报错 publickey", mixed_en="GitLab push 报错 publickey",
    ),
    dict(
        key="bitlocker",
        en=("BitLocker: Recovery Key Prompt at Startup",
            "Symptom: the laptop asks for a BitLocker recovery key when it starts. "
            "Call ServiceDesk on extension 8000; the agent verifies your identity with your employee ID and your manager's name before reading out the key. "
            "Never send or accept a recovery key by email or chat."),
        zh=("BitLocker：开机要求输入恢复密钥",
            "现象：电脑开机时要求输入 BitLocker 硬盘加密恢复密钥。"
            "请拨打 ServiceDesk 分机 8000，工程师核实工号和直属经理姓名后会告知密钥。"
            "切勿通过邮件或聊天工具发送或接收恢复密钥。"),
        en_exact="BitLocker recovery key prompt at startup",
        en_para="My computer wants a long number before it will boot into the operating system",
        zh_exact="开机要求输入硬盘加密恢复密钥", zh_para="电脑一开机就让我输一长串数字才能进系统",
        mixed_zh="开机 BitLocker recovery key 怎么获取", mixed_en="开机要 BitLocker recovery key",
    ),
    dict(
        key="jira-access",
        en=("Jira: Cannot See a Project",
            "Symptom: a Jira project that your team uses is not visible to you. "
            "Ask the project administrator to add you to the Developers or Viewers role of that project. "
            "Project access is reviewed every quarter and unused access is removed."),
        zh=("Jira：看不到项目",
            "现象：团队使用的 Jira 项目管理系统中的项目对你不可见。"
            "请联系该项目的管理员将你加入开发者或查看者角色。"
            "项目权限每季度复核一次，长期未使用的权限会被收回。"),
        en_exact="cannot see Jira project access",
        en_para="A ticket board my colleagues use is invisible to me",
        zh_exact="项目管理系统里看不到项目", zh_para="同事们用的任务看板我打不开，没有权限",
        mixed_zh="Jira 项目 没有权限 查看", mixed_en="Jira project 看不到",
    ),
    dict(
        key="atlas-upload",
        en=("Atlas Expense: Receipt Upload Fails",
            "Symptom: uploading a receipt to Atlas Expense fails. "
            "Files must be PDF, JPG or PNG and smaller than 10 MB. "
            "Photos of paper invoices must show the whole invoice, including the tax invoice code, or the claim will be returned."),
        zh=("Atlas 报销系统：上传发票失败",
            "现象：在 Atlas 报销系统上传发票失败。"
            "文件须为 PDF、JPG 或 PNG 格式，且小于10 MB。"
            "纸质发票照片须完整显示整张发票（包括发票代码），否则报销单将被退回。"),
        en_exact="Atlas Expense receipt upload fails",
        en_para="The claims tool won't accept the picture of my invoice",
        zh_exact="报销系统上传发票失败", zh_para="交报销单时票据图片总是传不上去",
        mixed_zh="Atlas 报销 上传 receipt 失败", mixed_en="Atlas Expense 上传 receipt 失败",
    ),
    dict(
        key="mdm",
        en=("Mobile: Company Email on a Personal Phone",
            "To read company email on a personal phone you must first enrol it in Intune Company Portal. "
            "Enrolment only manages the work profile; the company can remotely wipe corporate data but never your personal photos or apps. "
            "Jailbroken or rooted phones cannot be enrolled."),
        zh=("移动办公：在个人手机上使用公司邮箱",
            "在个人手机上收发公司邮件前，须先通过 Intune 公司门户完成注册。"
            "注册后公司只管理工作资料，可远程清除公司数据，但不会触及个人照片和应用。"
            "已越狱或已 root 的手机无法注册。"),
        en_exact="set up company email on personal phone Intune",
        en_para="How can I read work mail on my own mobile?",
        zh_exact="个人手机如何配置公司邮箱", zh_para="想在自己的手机上收工作邮件需要装什么",
        mixed_zh="手机 Intune 注册 收公司邮件", mixed_en="个人手机 Intune enrol 公司邮件",
    ),
    dict(
        key="software",
        en=("Software: Installing Applications",
            "Standard applications are installed from Software Center without administrator rights. "
            "Software that is not listed there needs a security review, which takes about five business days; "
            "request it with the Software Request form in ServiceDesk."),
        zh=("软件：安装应用程序",
            "常用软件可在 Software Center 软件中心自助安装，无需管理员权限。"
            "软件中心未收录的软件须经过信息安全评审，约需五个工作日；"
            "请在 ServiceDesk 中填写软件申请表。"),
        en_exact="install software not listed in Software Center",
        en_para="I need admin rights to put a new tool on my laptop",
        zh_exact="如何安装软件中心里没有的软件", zh_para="电脑上想装一个新工具但是没有管理员权限",
        mixed_zh="Software Center 里没有的软件 怎么装", mixed_en="Software Center 没有的软件 怎么安装",
    ),
    dict(
        key="pwd-expired-remote",
        en=("Windows: Domain Password Expired While Working Remotely",
            "If your Windows domain password expires while you work remotely, connect to AnyLink VPN first. "
            "Then press Ctrl+Alt+Del and choose Change a password, so that the laptop and the domain stay in sync. "
            "Changing it only on the Passport portal leaves the cached laptop password out of date."),
        zh=("Windows：远程办公时域账号密码过期",
            "远程办公时如果 Windows 域账号密码过期，请先连接 AnyLink VPN。"
            "然后按 Ctrl+Alt+Del 选择“更改密码”，使电脑与域控保持同步。"
            "仅在 Passport 门户修改会导致电脑上缓存的密码未更新。"),
        en_exact="domain password expired while working remotely",
        en_para="My Windows sign-in secret ran out while I am away from the office",
        zh_exact="远程办公时域账号密码过期怎么修改", zh_para="在家上班时电脑登录口令到期了",
        mixed_zh="远程办公 domain password 过期 怎么改", mixed_en="远程办公 domain password 过期",
    ),
    dict(
        key="feishu-clockin",
        en=("Feishu: Attendance Clock-In Fails",
            "Symptom: clocking in with Feishu attendance fails with out of range. "
            "Allow Feishu to use your location and make sure you are within 300 metres of the office. "
            "Missed clock-ins can be corrected with a makeup request within three days."),
        zh=("飞书：考勤打卡失败",
            "现象：使用飞书考勤打卡时提示不在打卡范围内。"
            "请允许飞书使用定位权限，并确认位于办公室300米范围内。"
            "漏打卡可在三天内提交补卡申请。"),
        en_exact="Feishu attendance clock-in fails",
        en_para="The app will not record my arrival at work, it says I am too far away",
        zh_exact="飞书考勤打卡失败", zh_para="手机签到上班一直提示距离太远",
        mixed_zh="飞书 clock-in 失败", mixed_en="Feishu 打卡 失败 怎么办",
    ),
    dict(
        key="large-attachment",
        en=("Email: Attachment Too Large",
            "Email attachments are limited to 25 MB. "
            "For larger files, upload them to LT Drive and send a share link instead. "
            "Links shared with external recipients expire after seven days and require the recipient's email address."),
        zh=("邮件：附件过大无法发送",
            "邮件附件大小上限为25 MB。"
            "超过上限的文件请上传到 LT Drive 云盘后发送共享链接。"
            "分享给外部人员的链接七天后失效，且须填写对方邮箱地址。"),
        en_exact="email attachment too large to send",
        en_para="How can I get a huge file to a customer?",
        zh_exact="邮件附件太大无法发送", zh_para="给客户的文件体积很大发不出去",
        mixed_zh="附件 超过 25 MB 怎么发给 customer", mixed_en="attachment 太大 发不出去",
    ),
]


def it_facts():
    out = []
    for d in IT_ISSUES:
        qs = {k: v for k, v in d.items() if k not in ("key", "en", "zh")}
        out.append(fact(f"it/{d['key']}", "it", d["en"], d["zh"], **qs))
    return out


# --------------------------------------------------------------------------
# Family: leave types

def _std_apply(notice_en, notice_zh, appr_en="your line manager", appr_zh="直属经理"):
    return (f"Apply in PeopleHub at least {notice_en} in advance; {appr_en} approves the request",
            f"请至少提前{notice_zh}在 PeopleHub 人事系统中提交申请，由{appr_zh}审批")


LEAVES = [
    dict(key="annual", en="Annual Leave", zh="年假",
         ent_en="full-time employees are entitled to 5 days in the first year of service, plus 1 day for each further year, up to 15 days",
         ent_zh="全职员工入职首年可享受5天年假，此后每满一年增加1天，最多15天",
         apply=_std_apply("3 working days", "3个工作日"),
         docs_en="Unused days can be carried over until 31 March of the following year.",
         docs_zh="当年未休完的年假可顺延至次年3月31日。",
         en_para="How many paid vacation days do I get each year?",
         zh_para="每年能休几天带薪假期？"),
    dict(key="sick", en="Sick Leave", zh="病假",
         ent_en="full-time employees are entitled to 12 days per calendar year at full pay",
         ent_zh="全职员工每个自然年可享受12天全薪病假",
         apply=("Tell your line manager before 10:00 on the first day of absence and record the leave in PeopleHub afterwards",
                "请在请假当天上午10点前告知直属经理，并在事后于 PeopleHub 人事系统中补录"),
         docs_en="A hospital certificate is required for absences of more than two consecutive days.",
         docs_zh="连续请假超过两天须提供医院证明。",
         en_para="How much paid time off do I get when I'm unwell?",
         zh_para="身体不舒服不能上班，可以请几天？"),
    dict(key="marriage", en="Marriage Leave", zh="婚假",
         ent_en="full-time employees are entitled to 10 calendar days, to be taken within 12 months of registering the marriage",
         ent_zh="全职员工可享受10个自然日婚假，须在结婚登记后12个月内休完",
         apply=_std_apply("2 weeks", "两周"),
         docs_en="Upload a copy of the marriage certificate with the request.",
         docs_zh="申请时须上传结婚证复印件。",
         en_para="How much time off do I get for my wedding?",
         zh_para="我要结婚了，公司给放几天假？"),
    dict(key="maternity", en="Maternity Leave", zh="产假",
         ent_en="full-time employees are entitled to 158 calendar days, plus 15 days for a difficult birth and 15 days for each additional baby in a multiple birth",
         ent_zh="全职员工可享受158个自然日产假；难产增加15天，多胞胎每多一个婴儿增加15天",
         apply=("Apply in PeopleHub at least 4 weeks before the expected due date; the HR Business Partner approves the request",
                "请至少在预产期前4周在 PeopleHub 人事系统中提交申请，由 HRBP 审批"),
         docs_en="Submit the birth certificate within 30 days after the baby is born.",
         docs_zh="须在婴儿出生后30天内提交出生证明。",
         en_para="How long can a mother stay home after having a baby?",
         zh_para="女员工生完孩子可以在家休息多久？"),
    dict(key="paternity", en="Paternity Leave", zh="陪产假",
         ent_en="full-time employees are entitled to 15 days, to be taken within 3 months of the child's birth",
         ent_zh="全职员工可享受15天陪产假，须在孩子出生后3个月内休完",
         apply=_std_apply("1 week", "一周"),
         docs_en="Attach the child's birth certificate.",
         docs_zh="申请时须附孩子的出生证明。",
         en_para="How many days off do new dads get when their baby arrives?",
         zh_para="老婆生孩子，男员工能休几天？"),
    dict(key="bereavement", en="Bereavement Leave", zh="丧假",
         ent_en="employees are entitled to 3 days for the death of a spouse, parent or child, and 1 day for a grandparent or sibling",
         ent_zh="配偶、父母或子女去世，员工可休丧假3天；祖父母或兄弟姐妹去世可休1天",
         apply=("Inform your line manager as soon as possible and record the leave in PeopleHub when you are back",
                "请尽快告知直属经理，返岗后在 PeopleHub 人事系统中补录"),
         docs_en="No documents are needed in advance; HR may ask for proof afterwards.",
         docs_zh="无需事先提供材料，人力资源部可在事后要求补充证明。",
         en_para="How much time can I take when a close relative passes away?",
         zh_para="家里亲人过世了，可以请几天假？"),
    dict(key="childcare", en="Childcare Leave", zh="育儿假",
         ent_en="employees with a child under 3 are entitled to 5 days per year for each such child",
         ent_zh="子女未满3周岁的员工，每个子女每年可享受5天育儿假",
         apply=_std_apply("3 working days", "3个工作日"),
         docs_en="The days cannot be carried over to the next year.",
         docs_zh="当年未休完的天数不能顺延。",
         en_para="Do parents of toddlers get extra days off every year?",
         zh_para="孩子还小，每年有没有额外的假可以陪孩子？"),
    dict(key="volunteer", en="Volunteer Leave", zh="志愿者假",
         ent_en="full-time employees are entitled to 2 paid days per year for activities with a registered charity",
         ent_zh="全职员工每年可享受2天带薪志愿者假，用于参加注册慈善机构组织的活动",
         apply=_std_apply("1 week", "一周"),
         docs_en="Upload a confirmation from the charity after the activity.",
         docs_zh="活动结束后须上传慈善机构出具的证明。",
         en_para="Can I get paid days off to do charity work?",
         zh_para="去做公益活动，公司给不给带薪的假？"),
    dict(key="sabbatical", en="Sabbatical Leave", zh="停薪长假",
         ent_en="after 6 years of continuous service, employees may take up to 3 months of unpaid leave",
         ent_zh="连续服务满6年的员工可申请最长3个月的无薪假期",
         apply=_std_apply("3 months", "3个月", "the vice president of your division", "所在事业部副总裁"),
         docs_en="Your position is kept open and benefits continue during the break.",
         docs_zh="休假期间保留岗位，福利照常享有。",
         en_para="After many years here, can I take an extended unpaid break of a few months?",
         zh_para="在公司干了很多年，想不拿工资歇几个月可以吗？"),
    dict(key="exam", en="Exam Leave", zh="考试假",
         ent_en="employees get 1 day per exam for an approved professional certification, up to 4 days per year",
         ent_zh="参加经批准的职业资格认证考试，每场考试可休1天考试假，每年最多4天",
         apply=_std_apply("2 weeks", "两周"),
         docs_en="Attach the exam admission ticket.",
         docs_zh="申请时须附准考证。",
         en_para="Do I get a day off to sit a qualification test?",
         zh_para="去考职业证书，当天能不能不上班？"),
]


def leave_facts():
    out = []
    for d in LEAVES:
        n_en, n_zh = d["en"], d["zh"]
        apply_en, apply_zh = d["apply"]
        en = (
            f"Leave Policy: {n_en}",
            f"{n_en}: {d['ent_en']}. {apply_en}. {d['docs_en']}",
        )
        zh = (
            f"假期制度：{n_zh}",
            f"{n_zh}：{d['ent_zh']}。{apply_zh}。{d['docs_zh']}",
        )
        low = n_en.lower()
        out.append(fact(
            f"leave/{d['key']}", "leave", en, zh,
            en_exact=[f"How many days of {low} are employees entitled to?", f"{low} entitlement and approval"],
            en_para=d["en_para"],
            zh_exact=[f"{n_zh}有几天", f"{n_zh}怎么申请，需要谁审批"],
            zh_para=d["zh_para"],
            mixed_zh=[f"{n_zh} how many days", f"{n_zh} 需要提前多久 apply"],
            mixed_en=[f"{low} 可以休几天", f"{low} 需要谁审批"],
        ))
    return out


# --------------------------------------------------------------------------
# Family: password rules per system

PASSWORDS = [
    dict(key="domain", en="the Windows domain account", zh="Windows 域账号", zh_pure="域账号",
         rule_en="must be at least 14 characters long, is rotated every 90 days and may not repeat any of your last 12 passwords",
         rule_zh="长度不少于14位，每90天更换一次，且不得与最近12次使用过的密码重复"),
    dict(key="sap", en="SAP ERP", zh="SAP ERP 系统", zh_pure=None,
         rule_en="must be at least 12 characters long and is rotated every 60 days; finance roles additionally need a hardware token",
         rule_zh="长度不少于12位，每60天更换一次；财务类角色还须使用硬件令牌"),
    dict(key="gitlab", en="GitLab", zh="GitLab", zh_pure=None,
         rule_en="is managed through Passport, but personal access tokens expire after at most 180 days and two-factor authentication is mandatory",
         rule_zh="由 Passport 统一管理，但个人访问令牌最长有效期为180天，且必须开启双因素认证"),
    dict(key="salesforce", en="Salesforce CRM", zh="Salesforce CRM", zh_pure=None,
         rule_en="must be at least 10 characters long and is rotated every 120 days; logins are only allowed from the office network or AnyLink VPN",
         rule_zh="长度不少于10位，每120天更换一次；只允许从办公网络或 AnyLink VPN 登录"),
    dict(key="bastion", en="the bastion host (jump server)", zh="堡垒机", zh_pure="堡垒机",
         rule_en="must be at least 16 characters long and is rotated every 30 days, and every login also needs the one-time code from a hardware token",
         rule_zh="长度不少于16位，每30天更换一次，每次登录还须输入硬件令牌生成的动态码"),
    dict(key="peoplehub", en="the PeopleHub HR system", zh="PeopleHub 人事系统", zh_pure="人事系统",
         rule_en="is not set separately: you sign in through Passport, and idle sessions are closed after 15 minutes",
         rule_zh="不单独设置，通过 Passport 统一登录，闲置15分钟后会话自动退出"),
    dict(key="guest-wifi", en="the LT-Guest visitor Wi-Fi", zh="LT-Guest 访客无线网络", zh_pure="访客无线网络",
         rule_en="changes every Monday at 08:00; reception prints the new password on the visitor slip",
         rule_zh="每周一08:00更换，前台会把新密码打印在访客单上"),
    dict(key="prod-db", en="production database accounts", zh="生产数据库账号", zh_pure="生产数据库账号",
         rule_en="must be at least 20 characters long and is rotated every 45 days automatically by KeyVault; every account must belong to one person and shared accounts are forbidden",
         rule_zh="长度不少于20位，由 KeyVault 每45天自动轮换；账号必须一人一号，禁止使用共享账号"),
]


def password_facts():
    out = []
    for d in PASSWORDS:
        s_en, s_zh, pure = d["en"], d["zh"], d["zh_pure"]
        short = s_en.removeprefix("the ").split(" (")[0]
        en = (
            f"Password Rules: {s_en.removeprefix('the ')[0].upper() + s_en.removeprefix('the ')[1:]}",
            f"The password for {s_en} {d['rule_en']}. These rules are enforced by the system "
            f"itself and cannot be waived by ServiceDesk. Report any suspected password leak to "
            f"Information Security immediately.",
        )
        zh = (
            f"密码规则：{s_zh}",
            f"{s_zh}{' ' if LATIN.match(s_zh[-1]) else ''}的密码{d['rule_zh']}。以上规则由系统强制执行，ServiceDesk 无法豁免。"
            f"如怀疑密码泄露，请立即报告信息安全部。",
        )
        out.append(fact(
            f"password/{d['key']}", "password", en, zh,
            en_exact=[f"{short} password rules and rotation period", f"password policy for {short}"],
            en_para=[f"How often must I change my {short} login credentials, and how long must they be?"],
            zh_exact=[f"{pure}密码多久更换一次", f"{pure}的密码规则"] if pure else None,
            zh_para=[f"{pure}的登录口令多长时间要改一次？"] if pure else None,
            mixed_zh=[f"{s_zh} password 多久改一次"],
            mixed_en=[f"{short} 密码多久要换一次", f"{short} 的密码长度要求"],
        ))
    return out


# --------------------------------------------------------------------------
# Families: product code names, and the project workspace of each code name

PRODUCTS = [
    # code, product, category en, zh, BU en, zh, GA en, zh, jira, weekday en, zh, time, room en, zh
    ("Kestrel", "LT EdgeGate 5", "an industrial IoT gateway", "工业物联网网关", "Industrial IoT", "工业物联网",
     "Q3 2025", "2025年第三季度", "KES", "Tuesday", "周二", "10:00", "Taishan", "泰山"),
    ("Osprey", "LT Vision Cloud", "a video analytics cloud service", "视频分析云服务", "Cloud Services", "云服务",
     "Q1 2026", "2026年第一季度", "OSP", "Wednesday", "周三", "14:00", "Huangshan", "黄山"),
    ("Marlin", "LT FleetLink", "a fleet telematics terminal", "车队管理车载终端", "Smart Mobility", "智慧出行",
     "Q4 2025", "2025年第四季度", "MRL", "Monday", "周一", "16:00", "Emei", "峨眉"),
    ("Juniper", "LT HR Suite 3", "a human resources SaaS suite", "人力资源云端套件", "Enterprise Software", "企业软件",
     "Q2 2025", "2025年第二季度", "JUN", "Thursday", "周四", "09:30", "Lushan", "庐山"),
    ("Basalt", "LT StorArray X2", "a distributed storage appliance", "分布式存储一体机", "Infrastructure", "基础设施",
     "Q2 2026", "2026年第二季度", "BAS", "Friday", "周五", "11:00", "Huashan", "华山"),
    ("Cobalt", "LT PowerPack 200", "a battery energy storage system", "电池储能系统", "Energy", "能源",
     "Q1 2025", "2025年第一季度", "COB", "Tuesday", "周二", "15:30", "Wuyi", "武夷"),
    ("Heron", "LT SmartClinic", "a hospital staff scheduling application", "医院排班软件", "Healthcare", "医疗健康",
     "Q3 2026", "2026年第三季度", "HER", "Wednesday", "周三", "10:30", "Hengshan", "衡山"),
    ("Tundra", "LT ColdChain Sensor", "a cold-chain temperature sensor", "冷链温度传感器", "Industrial IoT", "工业物联网",
     "Q4 2026", "2026年第四季度", "TUN", "Thursday", "周四", "14:30", "Songshan", "嵩山"),
    ("Sequoia", "LT DataLake Pro", "a data lake platform", "数据湖平台", "Cloud Services", "云服务",
     "Q1 2027", "2027年第一季度", "SEQ", "Monday", "周一", "10:00", "Kunlun", "昆仑"),
    ("Quartz", "LT Pay Terminal P9", "a payment point-of-sale terminal", "收银支付终端", "Retail", "零售",
     "Q2 2027", "2027年第二季度", "QTZ", "Friday", "周五", "09:00", "Tianshan", "天山"),
    ("Lynx", "LT Campus Guard", "a face-recognition access control system", "人脸识别门禁系统", "Smart Building", "智慧楼宇",
     "Q3 2027", "2027年第三季度", "LYX", "Tuesday", "周二", "13:30", "Qilian", "祁连"),
    ("Orchid", "LT Retail Insight", "a store analytics dashboard", "门店客流分析看板", "Retail", "零售",
     "Q4 2027", "2027年第四季度", "ORC", "Thursday", "周四", "11:30", "Changbai", "长白"),
]

PM_ROLES = {
    "Industrial IoT": ("Senior Product Manager, IoT", "物联网高级产品经理"),
    "Cloud Services": ("Product Director, Cloud", "云服务产品总监"),
    "Smart Mobility": ("Product Manager, Mobility", "智慧出行产品经理"),
    "Enterprise Software": ("Group Product Manager, SaaS", "SaaS 产品组经理"),
    "Infrastructure": ("Principal Product Manager, Storage", "存储首席产品经理"),
    "Energy": ("Product Lead, Energy", "能源产品负责人"),
    "Healthcare": ("Product Manager, Healthcare", "医疗健康产品经理"),
    "Retail": ("Senior Product Manager, Retail", "零售高级产品经理"),
    "Smart Building": ("Product Manager, Building", "智慧楼宇产品经理"),
}


def product_facts():
    out = []
    for code, prod, cat_en, cat_zh, bu_en, bu_zh, ga_en, ga_zh, *_ in PRODUCTS:
        en = (
            f"Product Code Name: {code}",
            f"{code} is the internal code name for {prod}, {cat_en}. The product belongs to the "
            f"{bu_en} business unit and general availability is planned for {ga_en}. Use the code "
            f"name only internally; customer-facing material, price lists and contracts must use "
            f"the official product name {prod}.",
        )
        zh = (
            f"产品代号：{code}",
            f"{code} 是 {prod} 的内部项目代号，该产品是一款{cat_zh}。产品归属{bu_zh}事业部，"
            f"计划于{ga_zh}正式发布。代号仅限内部使用，对外材料、报价单和合同中必须使用正式产品名称 {prod}。",
        )
        out.append(fact(
            f"product/{code.lower()}", "product", en, zh,
            en_exact=[f"When is {code} planned for general availability?",
                      f"What product is the code name {code}?"],
            en_para=[f"When will {code} ship to customers?",
                     f"What do we call {code} when talking to clients?"],
            zh_exact=[f"{cat_zh}计划什么时候正式发布"],
            zh_para=[f"公司那款{cat_zh}哪个季度上市？"],
            mixed_zh=[f"{code} 什么时候正式发布", f"{code} 的正式产品名称是什么"],
            mixed_en=[f"{code} 什么时候正式发布", f"{code} 对外的正式产品名称是什么"],
        ))
    return out


def workspace_facts():
    out = []
    for code, prod, cat_en, cat_zh, bu_en, bu_zh, ga_en, ga_zh, jira, day, day_zh, t, room, room_zh in PRODUCTS:
        pm_en, pm_zh = PM_ROLES[bu_en]
        en = (
            f"Project Workspace: {code}",
            f"The {code} project team tracks its work in Jira under the key {jira} and chats in "
            f"the #proj-{code.lower()} channel. The weekly project sync is held every {day} at {t} "
            f"(Beijing time) in meeting room {room}. New team members should ask the {pm_en} for "
            f"access to the design documents on LT Drive.",
        )
        zh = (
            f"项目空间：{code}",
            f"{code} 项目组在 Jira 中使用项目键 {jira} 跟踪工作，日常沟通在 #proj-{code.lower()} 频道。"
            f"项目周会每{day_zh} {t}（北京时间）在{room_zh}会议室召开。"
            f"新成员请联系{pm_zh}开通 LT Drive 上设计文档的访问权限。",
        )
        out.append(fact(
            f"workspace/{code.lower()}", "workspace", en, zh,
            en_exact=[f"Jira key and channel for the {code} project",
                      f"When is the {code} weekly project sync?"],
            en_para=[f"Which day does the {code} crew get together every week, and where?",
                     f"Where do the {code} folks track tickets and talk?"],
            mixed_zh=[f"{code} 项目周会 在哪个会议室", f"{code} 项目的 Jira key 是什么"],
            mixed_en=[f"{code} 项目周会在哪个会议室开", f"{code} 项目的 Jira key 是什么"],
        ))
    return out


# --------------------------------------------------------------------------
# Family: meal per diem by grade and region

GRADES = [
    ("Associate", "专员", "100", "USD 45"),
    ("Senior Specialist", "高级专员", "130", "USD 55"),
    ("Manager", "经理", "160", "USD 70"),
    ("Director", "总监", "200", "USD 85"),
    ("Vice President", "副总裁", "260", "USD 110"),
]


def per_diem_facts():
    out = []
    for g, gz, dom, intl in GRADES:
        for region, rz, amt_en, amt_zh, para_en, para_zh in (
            ("domestic", "境内", f"CNY {dom}", f"{dom}元", "within China", "国内外地"),
            ("international", "境外", intl, f"{intl.split()[1]}美元", "abroad", "国外"),
        ):
            en = (
                f"Per Diem: {g}, {region.capitalize()} Travel",
                f"Employees at {g} level receive a daily meal allowance of {amt_en} for {region} "
                f"business travel. The allowance is paid as a flat per diem through Atlas Expense, "
                f"so individual meal receipts are not required. Meals provided by the host or "
                f"included in a conference fee must be deducted from the per diem.",
            )
            zh = (
                f"出差伙食补贴：{gz}（{rz}）",
                f"{gz}级员工{rz}出差每日伙食补贴标准为{amt_zh}。补贴按天包干，通过 Atlas 报销系统发放，"
                f"无需提供餐饮发票。如接待方已提供餐食或会议费中已包含餐费，须从当日补贴中扣除。",
            )
            out.append(fact(
                f"perdiem/{g.lower().replace(' ', '-')}-{region}", "perdiem", en, zh,
                en_exact=[f"daily meal allowance for {g} level on {region} business travel"],
                en_para=[f"How much food money per day does a {g} get when travelling {para_en}?"],
                zh_exact=[f"{gz}{rz}出差每日伙食补贴标准"],
                zh_para=[f"{gz}去{para_zh}出差，一天吃饭能报多少钱？"],
                mixed_zh=[f"{gz} {rz}出差 meal allowance 多少"],
                mixed_en=[f"{g} 级别{rz}出差每天餐补多少"],
            ))
    return out


# --------------------------------------------------------------------------
# Family: departments (who handles what)

DEPARTMENTS = [
    dict(key="payroll", en="Payroll", zh="薪酬福利组", alias="payroll@lt-corp.example",
         resp_en="salary payments, payslips, individual income tax withholding and social insurance contributions",
         resp_zh="工资发放、工资条、个人所得税代扣代缴以及社保公积金缴纳",
         ch_en="a PeopleHub case", ch_zh=" PeopleHub 人事系统工单", city="shanghai", sla=8,
         en_para="Who can fix a mistake in the tax taken out of my monthly salary?",
         zh_para="工资里扣的个税好像不对，应该找谁？"),
    dict(key="procurement", en="Procurement", zh="采购部", alias="procurement@lt-corp.example",
         resp_en="supplier onboarding, purchase orders and price negotiation",
         resp_zh="供应商准入、采购订单以及商务谈判",
         ch_en="the Procurement portal", ch_zh="采购门户", city="shenzhen", sla=16,
         en_para="I want to start buying from a new vendor; which team handles that?",
         zh_para="想引入一家新的合作厂家，要走什么部门？"),
    dict(key="legal", en="Legal", zh="法务部", alias="legal@lt-corp.example",
         resp_en="contract review, non-disclosure agreements and intellectual property",
         resp_zh="合同审核、保密协议以及知识产权",
         ch_en="the Contract Review form in ServiceDesk", ch_zh=" ServiceDesk 中的合同审核表单", city="beijing", sla=24,
         en_para="Who checks an NDA before I sign it with a partner?",
         zh_para="跟合作方签约之前找谁帮忙把关条款？"),
    dict(key="facilities", en="Facilities", zh="行政部", alias="facilities@lt-corp.example",
         resp_en="office seating, access badges, meeting room equipment and office supplies",
         resp_zh="工位安排、门禁卡、会议室设备和办公用品",
         ch_en="ServiceDesk", ch_zh=" ServiceDesk 工单", city="shanghai", sla=4,
         en_para="Who do I ask for a new desk or a replacement door pass?",
         zh_para="换座位或者补办进门的卡找哪个部门？"),
    dict(key="audit", en="Internal Audit", zh="内审部", alias="audit@lt-corp.example",
         resp_en="internal control testing, tracking of audit findings and fraud investigations",
         resp_zh="内部控制测试、审计问题跟踪以及舞弊调查",
         ch_en="the confidential audit mailbox", ch_zh="保密审计邮箱", city="beijing", sla=24,
         en_para="Which group looks into suspected cheating in the accounts?",
         zh_para="发现有人可能做假账，应该向谁反映？"),
    dict(key="compliance", en="Compliance", zh="合规部", alias="compliance@lt-corp.example",
         resp_en="gift and hospitality registration, conflict of interest declarations and anti-bribery training",
         resp_zh="礼品与招待登记、利益冲突申报以及反商业贿赂培训",
         ch_en="the Compliance portal", ch_zh="合规门户", city="hangzhou", sla=16,
         en_para="A supplier sent me an expensive present; where do I declare it?",
         zh_para="客户送了很贵重的东西，要向哪个部门报备？"),
    dict(key="talent", en="Talent Acquisition", zh="招聘部", alias="talent@lt-corp.example",
         resp_en="job postings, interview scheduling and employee referrals",
         resp_zh="职位发布、面试安排和内部推荐",
         ch_en="PeopleHub", ch_zh=" PeopleHub 人事系统", city="shenzhen", sla=8,
         en_para="Which team runs hiring and sets up candidate interviews?",
         zh_para="公司要招人、约候选人见面是哪个部门在管？"),
    dict(key="treasury", en="Treasury", zh="资金部", alias="treasury@lt-corp.example",
         resp_en="company bank accounts, foreign exchange and payments to suppliers",
         resp_zh="公司银行账户管理、外汇结算和供应商付款",
         ch_en="the Finance portal", ch_zh="财务门户", city="shanghai", sla=8,
         en_para="Who looks after our corporate banking and currency conversion?",
         zh_para="公司换汇和开户由谁负责？"),
    dict(key="tax", en="Tax", zh="税务部", alias="tax@lt-corp.example",
         resp_en="issuing VAT invoices (fapiao), tax filings and transfer pricing",
         resp_zh="增值税发票开具、纳税申报和转让定价",
         ch_en="the Finance portal", ch_zh="财务门户", city="guangzhou", sla=16,
         en_para="A customer needs an official fapiao from us; who issues it?",
         zh_para="客户要我们开一张专票，应该找哪个部门？"),
    dict(key="infosec", en="Information Security", zh="信息安全部", alias="security@lt-corp.example",
         resp_en="phishing reports, security incident response and data classification",
         resp_zh="钓鱼邮件举报、安全事件响应和数据分级",
         ch_en="the Report Phishing button in Outlook", ch_zh=" Outlook 中的“报告钓鱼邮件”按钮", city="beijing", sla=2,
         en_para="I received a suspicious scam email; who do I tell?",
         zh_para="收到一封像是诈骗的可疑邮件，要报告给谁？"),
    dict(key="learning", en="Learning & Development", zh="培训发展部", alias="learning@lt-corp.example",
         resp_en="training courses, the mentoring programme and tuition sponsorship",
         resp_zh="培训课程、导师计划和学历教育资助",
         ch_en="the Learning portal", ch_zh="学习平台", city="hangzhou", sla=24,
         en_para="Can the company pay for my part-time master's degree, and who decides?",
         zh_para="公司能出钱让我读在职研究生吗？找谁申请？"),
    dict(key="servicedesk", en="IT Service Desk", zh="IT 服务台", alias="servicedesk@lt-corp.example",
         resp_en="laptops, user accounts, software installation and network problems",
         resp_zh="笔记本电脑、用户账号、软件安装和网络问题",
         ch_en="ServiceDesk (or call extension 8000)", ch_zh=" ServiceDesk 或分机8000", city="chengdu", sla=1,
         en_para="My computer is broken; who repairs it?",
         zh_para="电脑坏了该联系谁来修？"),
]


def department_facts():
    out = []
    for d in DEPARTMENTS:
        c, cz = CITIES[d["city"]]
        en = (
            f"Who We Are: {d['en']}",
            f"The {d['en']} team is responsible for {d['resp_en']}. Email them at {d['alias']} or "
            f"raise a request through {d['ch_en']}. The team sits in the {c} office and aims to "
            f"reply within {d['sla']} business hour{'s' if d['sla'] != 1 else ''}.",
        )
        zh = (
            f"部门介绍：{d['zh']}",
            f"{d['zh']}负责{d['resp_zh']}。联系邮箱为 {d['alias']}，也可通过{d['ch_zh']}提交申请。"
            f"团队位于{cz}办公室，承诺在{d['sla']}个工作小时内首次回复。",
        )
        pure = not LATIN.search(d["zh"])
        out.append(fact(
            f"dept/{d['key']}", "dept", en, zh,
            en_exact=[f"contact email for the {d['en']} team", f"What is the {d['en']} team responsible for?"],
            en_para=d["en_para"],
            zh_exact=[f"{d['zh']}的联系邮箱是什么", f"{d['zh']}负责哪些工作"] if pure else None,
            zh_para=d["zh_para"],
            mixed_zh=[f"{d['zh']} email 是什么", f"{d['zh']} 负责什么 responsibilities"],
            mixed_en=[f"{d['en']} 团队的联系邮箱", f"{d['en']} 团队负责什么"],
        ))
    return out


# --------------------------------------------------------------------------
# Family: standard laptop per role

LAPTOPS = [
    dict(key="engineer", en="Software Engineers", zh="软件工程师", model="ThinkPad P16", ram=64, years=3,
         extra_en="A second 27-inch monitor is provided on request.", extra_zh="可申请一台27英寸副显示器。",
         en_para="What computer do people who write code get issued?", zh_para="写代码的同事入职领什么电脑？"),
    dict(key="datasci", en="Data Scientists", zh="数据科学家", model="Dell Precision 5690", ram=96, years=3,
         extra_en="GPU training jobs run on the shared cluster, not on the laptop.", extra_zh="GPU 训练任务须在共享集群上运行，不在笔记本上运行。",
         en_para="Which machine do the machine learning and analytics people receive?", zh_para="做算法和数据分析的人配什么机器？"),
    dict(key="designer", en="Product Designers", zh="产品设计师", model="MacBook Pro 16-inch", ram=48, years=3,
         extra_en="A colour-calibrated display and a drawing tablet are included.", extra_zh="另配校色显示器和数位板。",
         en_para="What kind of computer do UX and UI folks get?", zh_para="做界面和交互的同事发什么电脑？"),
    dict(key="sales", en="Sales Representatives", zh="销售代表", model="ThinkPad X1 Carbon", ram=32, years=4,
         extra_en="A 5G SIM card is included for use at customer sites.", extra_zh="配有5G 上网卡，便于在客户现场使用。",
         en_para="What computer do the people who sell to clients carry?", zh_para="跑客户的业务员用的是什么电脑？"),
    dict(key="finance", en="Finance Staff", zh="财务人员", model="Dell Latitude 7450", ram=16, years=4,
         extra_en="Two external monitors are provided for spreadsheet work.", extra_zh="为处理报表配备两台外接显示器。",
         en_para="Which computer do the accountants use?", zh_para="管账的同事配什么电脑？"),
    dict(key="support", en="Customer Support Agents", zh="客服专员", model="HP EliteBook 840", ram=16, years=5,
         extra_en="A noise-cancelling headset is issued together with the laptop.", extra_zh="随电脑一同发放降噪耳机。",
         en_para="What computer do the helpline staff who answer client calls get?", zh_para="接听客户电话的同事用什么电脑？"),
    dict(key="exec", en="Executives", zh="高管", model="MacBook Air 15-inch", ram=24, years=3,
         extra_en="An executive assistant handles the order.", extra_zh="由行政助理统一下单。",
         en_para="Which computer do senior leaders receive?", zh_para="公司领导层用什么电脑？"),
    dict(key="intern", en="Interns", zh="实习生", model="Lenovo ThinkBook 14", ram=16, years=2,
         extra_en="The laptop is a loaner and must be returned on the last working day.", extra_zh="电脑为借用设备，须在最后一个工作日归还。",
         en_para="What computer do summer students get for their placement?", zh_para="来公司短期实习的学生发什么电脑？"),
]


def laptop_facts():
    out = []
    for d in LAPTOPS:
        en = (
            f"Hardware Standard: {d['en']}",
            f"The standard laptop for {d['en']} is the {d['model']} with {d['ram']} GB of memory. "
            f"Devices are refreshed every {d['years']} years; earlier replacement needs a ServiceDesk "
            f"ticket approved by the department head. {d['extra_en']}",
        )
        zh = (
            f"硬件标准：{d['zh']}",
            f"{d['zh']}的标准笔记本电脑为 {d['model']}，内存 {d['ram']} GB。设备每{d['years']}年更换一次，"
            f"提前更换须在 ServiceDesk 提交工单并经部门负责人批准。{d['extra_zh']}",
        )
        low = d["en"].lower()
        out.append(fact(
            f"laptop/{d['key']}", "laptop", en, zh,
            en_exact=[f"standard laptop model for {low}", f"How often are laptops for {low} refreshed?"],
            en_para=d["en_para"],
            zh_exact=[f"{d['zh']}的标准笔记本电脑配置", f"{d['zh']}电脑几年更换一次"],
            zh_para=d["zh_para"],
            mixed_zh=[f"{d['zh']} laptop 型号", f"{d['zh']} 的 laptop 多久换一次"],
            mixed_en=[f"{low} 配什么 laptop", f"{low} 的电脑多久换一次"],
        ))
    return out


# --------------------------------------------------------------------------
# Family: benefits and allowances

BENEFITS = [
    dict(key="phone", en="Mobile Phone Subsidy", zh="通讯补贴",
         body_en="Managers and sales staff receive CNY 200 per month towards their mobile phone bill, paid with the salary. Other employees receive CNY 80 per month.",
         body_zh="经理及销售岗位员工每月享受200元手机话费补贴，随工资发放。其他员工每月80元。",
         en_para="Does the company pay part of my cell bill?", zh_para="打电话上网的话费公司每月给报多少？"),
    dict(key="broadband", en="Home Broadband Allowance", zh="家庭宽带补贴",
         body_en="Employees approved for hybrid work receive CNY 100 per month for home internet. The allowance stops automatically if the hybrid arrangement ends.",
         body_zh="经批准混合办公的员工每月可获得100元家庭宽带补贴。混合办公安排结束后补贴自动停发。",
         en_para="Is there help with paying for internet access at my house?", zh_para="在家上网的网费公司能补一点吗？"),
    dict(key="gym", en="Fitness Subsidy", zh="健身补贴",
         body_en="The company reimburses up to CNY 1,500 per year for gym or sports club memberships. Claim it in Atlas Expense with the membership invoice.",
         body_zh="公司每年报销最高1,500元的健身房或运动俱乐部会员费用。请凭会员费发票在 Atlas 报销系统中申请。",
         en_para="Will the company pay towards my sports club membership?", zh_para="办张运动卡，公司给不给报？"),
    dict(key="late-taxi", en="Late-Night Taxi", zh="加班打车",
         body_en="Employees who work past 21:30 may take a taxi home at the company's expense. Book it with DiDi Enterprise so that the ride is billed directly; personal receipts are not accepted.",
         body_zh="工作至21:30以后的员工可打车回家，费用由公司承担。请使用滴滴企业版叫车，费用直接结算，个人垫付的发票不予报销。",
         en_para="Can I get a cab home on the company after staying at work until late evening?", zh_para="晚上留在公司很晚才走，坐出租车回家能报吗？"),
    dict(key="home-office", en="Home Office Equipment", zh="居家办公设备补贴",
         body_en="Hybrid workers can claim a one-off CNY 2,000 for a desk chair, monitor or desk for their home office. Items stay with the employee.",
         body_zh="混合办公员工可一次性报销2,000元，用于购买居家办公所需的椅子、显示器或书桌。所购物品归员工个人所有。",
         en_para="Can I buy a chair and screen for working from my house and expense it?", zh_para="在家上班买椅子和屏幕能报销吗？"),
    dict(key="checkup", en="Annual Health Check-up", zh="年度体检",
         body_en="Every employee gets a free annual health check-up at Ruikang Health Centre. Family members can book the same package at a 30 percent discount.",
         body_zh="每位员工每年可在瑞康健康中心免费体检一次。家属可享受同一套餐七折优惠。",
         en_para="Is there a free yearly medical examination for staff?", zh_para="公司每年安排免费的身体检查吗？"),
    dict(key="certification", en="Professional Certification Reimbursement", zh="职业资格认证报销",
         body_en="Exam fees for approved professional certifications are reimbursed up to CNY 6,000 per year once you pass. You must stay with the company for 12 months afterwards or repay the fee.",
         body_zh="经批准的职业资格认证考试通过后，考试费每年最高报销6,000元。报销后须在公司继续服务满12个月，否则须退还费用。",
         en_para="Does the company cover what I pay to take a professional qualification test?", zh_para="考证书的报名费公司出吗？"),
    dict(key="language", en="Language Course Subsidy", zh="语言培训补贴",
         body_en="The company pays 50 percent of the tuition for English, Japanese or German courses, up to CNY 4,000 per year. Attendance of at least 80 percent is required.",
         body_zh="公司承担英语、日语或德语课程50%的学费，每年最高4,000元。出勤率须达到80%以上。",
         en_para="Will the company help pay for learning a foreign tongue?", zh_para="学外语公司有补助吗？"),
    dict(key="referral", en="Employee Referral Bonus", zh="内推奖金",
         body_en="If someone you refer is hired and passes probation, you receive a referral bonus of CNY 8,000. Referrals for senior engineering roles earn CNY 15,000.",
         body_zh="推荐的候选人入职并通过试用期后，推荐人可获得8,000元内推奖金。推荐高级工程师岗位奖金为15,000元。",
         en_para="Is there a reward if I recommend a friend and they get hired?", zh_para="介绍朋友来公司上班有奖励吗？"),
    dict(key="commute", en="Commuting Allowance", zh="交通补贴",
         body_en="Employees who do not use the company shuttle receive a commuting allowance of CNY 300 per month. It is paid with the salary and needs no receipts.",
         body_zh="未乘坐公司班车的员工每月可获得300元交通补贴。补贴随工资发放，无需提供票据。",
         en_para="Do I get money each month for getting to and from work?", zh_para="上下班路费每个月补贴多少？"),
]


def benefit_facts():
    out = []
    for d in BENEFITS:
        en = (f"Benefits: {d['en']}", d["body_en"])
        zh = (f"员工福利：{d['zh']}", d["body_zh"])
        low = d["en"].lower()
        out.append(fact(
            f"benefit/{d['key']}", "benefit", en, zh,
            en_exact=[f"{low} amount and eligibility", f"How much is the {low}?"],
            en_para=d["en_para"],
            zh_exact=[f"{d['zh']}标准是多少", f"{d['zh']}怎么申请"],
            zh_para=d["zh_para"],
            mixed_zh=[f"{d['zh']} 有多少 per month", f"{d['zh']} how much"],
            mixed_en=[f"{low} 是多少", f"{low} 怎么申请"],
        ))
    return out


# --------------------------------------------------------------------------
# Family: shuttle buses

SHUTTLES = [
    ("S1", "shanghai", "Longyang Road Station", "龙阳路站", "Zhangjiang campus", "张江园区", 15, "07:30-09:30", "17:30-20:00"),
    ("S2", "shanghai", "Jinke Road Station", "金科路站", "Zhangjiang campus", "张江园区", 10, "08:00-10:00", "18:00-21:00"),
    ("B1", "beijing", "Wangjing South Station", "望京南站", "Wangjing office", "望京办公室", 20, "08:00-09:40", "17:40-19:30"),
    ("Z1", "shenzhen", "Houhai Station", "后海站", "Qianhai office", "前海办公室", 12, "08:10-09:50", "18:00-20:30"),
    ("H1", "hangzhou", "Jiangling Road Station", "江陵路站", "Binjiang Digital Park", "滨江数字园", 15, "08:20-09:40", "17:50-19:50"),
    ("C1", "chengdu", "Jincheng Square Station", "锦城广场站", "Tianfu Software Park", "天府软件园", 25, "08:00-09:30", "17:30-19:00"),
]


def shuttle_facts():
    out = []
    for route, ckey, st_en, st_zh, dst_en, dst_zh, every, am, pm in SHUTTLES:
        c, cz = CITIES[ckey]
        en = (
            f"Shuttle Bus: Route {route} ({c})",
            f"Shuttle route {route} runs between {st_en} and the {dst_en} in {c}. Buses leave every "
            f"{every} minutes from {am} in the morning and return from {pm} in the evening. The "
            f"pick-up point is at the station's exit nearest the bus terminal; show your staff badge "
            f"when boarding.",
        )
        zh = (
            f"班车：{route} 线（{cz}）",
            f"{route} 线班车往返于{cz}{st_zh}和{dst_zh}之间。早间{am}每{every}分钟一班，"
            f"晚间{pm}返程。上车点位于地铁站靠近公交枢纽的出口，乘车时请出示员工卡。",
        )
        out.append(fact(
            f"shuttle/{route.lower()}", "shuttle", en, zh,
            en_exact=[f"shuttle bus schedule from {st_en}", f"shuttle route from {st_en} to the {dst_en}"],
            en_para=[f"Is there a company coach from {st_en} in the mornings, and how frequent is it?"],
            zh_exact=[f"{st_zh}班车时间表", f"{st_zh}到{dst_zh}的班车几点发车"],
            zh_para=[f"从{st_zh}有没有接驳车去公司？多久来一趟？"],
            mixed_zh=[f"{st_zh} shuttle bus 几点", f"{st_zh} shuttle 多久一班"],
            mixed_en=[f"{st_en} 班车几点发车", f"{st_en} 的班车多久一班"],
        ))
    return out


# --------------------------------------------------------------------------
# General passages: same vocabulary as the families, but no query's answer.

GENERAL = [
    ("en", "Travel Policy: General Rules",
     "All business trips must be approved in the travel portal before flights or hotels are booked. "
     "Economy class applies to flights under six hours; premium economy needs director approval. "
     "City-specific hotel limits are listed in separate articles, and any amount above the limit is paid by the traveller unless approved in advance."),
    ("zh", "差旅制度：总则",
     "所有出差须在差旅平台提交申请并获批准后方可预订机票和酒店。"
     "飞行时间六小时以内的航班一律乘坐经济舱。"
     "各城市的住宿标准详见单独条目，未经事先批准超出标准的部分由员工自行承担。"),
    ("en", "Leave Policy: General Rules",
     "All leave is requested and approved in PeopleHub. "
     "An unapproved absence of more than one day is treated as unauthorised. "
     "Public holidays follow the official calendar of the country where the employee is contracted."),
    ("zh", "IT 服务台：联系方式",
     "IT 服务台工作时间为工作日08:00至20:00，可通过 ServiceDesk 提交工单或拨打分机8000。"
     "紧急故障（如全员无法收发邮件）请直接拨打值班电话。"
     "提交工单时请注明资产编号并附问题截图，以便更快处理。"),
    ("en", "Code Name Policy",
     "Every new product receives an internal code name taken from animals, trees or minerals. "
     "Code names must never appear in external presentations, press releases or customer contracts. "
     "Product Marketing announces the official name before general availability."),
    ("zh", "员工福利总览",
     "公司福利分为法定福利和补充福利两类。"
     "补充福利包括各类补贴、健康管理和学习发展项目，具体标准请查阅各福利条目。"
     "福利申请统一通过 PeopleHub 人事系统提交，报销款项随次月工资发放。"),
    ("en", "Password Policy: General Rules",
     "Passwords must never be shared, written down or sent by email or chat. "
     "Wherever possible, sign in through Passport single sign-on instead of a separate password. "
     "System-specific length and rotation rules are listed in their own articles."),
    ("zh", "访客管理规定",
     "所有访客须由接待员工提前在访客系统中登记，并在前台出示有效身份证件。"
     "访客在办公区域内须全程由员工陪同，不得进入机房和财务室。"
     "访客离开时须归还临时门禁卡。"),
    ("zh", "出差伙食补贴：总则",
     "伙食补贴按出差天数包干发放，出发当天和返程当天各按半天计算。"
     "补贴标准按员工职级和出差地区确定，详见各职级对应条目。"),
    ("en", "Hardware Standard: General Rules",
     "Every employee receives one standard laptop, one docking station and a headset on the first day. "
     "Laptop models are chosen by role; see the role-specific articles. "
     "Lost or stolen devices must be reported to ServiceDesk and Information Security within 24 hours."),
    ("en", "Shuttle Bus Service: General Information",
     "Company shuttle buses are free for employees and run on working days only. "
     "Visitors may ride only together with their host. "
     "Timetables are published separately for each route."),
]

FAMILY_BUILDERS = [
    hotel_facts, office_facts, it_facts, leave_facts, password_facts, product_facts,
    workspace_facts, per_diem_facts, department_facts, laptop_facts, benefit_facts,
    shuttle_facts,
]


# --------------------------------------------------------------------------
# Assembly


def sentence_count(text, lang):
    if lang == "zh":
        return len(re.findall(r"[。？！]", text))
    return len(re.findall(r"[.!?](?=\s|$)", text))


def check_script(kind, text):
    has_cjk, has_latin = bool(CJK.search(text)), bool(LATIN.search(text))
    if kind.startswith("en-"):
        ok = has_latin and not has_cjk
    elif kind.startswith("zh-"):
        ok = has_cjk and not has_latin
    else:
        ok = has_cjk and has_latin
    if not ok:
        raise ValueError(f"query {text!r} does not fit kind {kind}")


def build(seed=SEED):
    rng = random.Random(seed)
    families = [builder() for builder in FAMILY_BUILDERS]
    for facts in families:  # every template, not only the ones drawn below
        for f in facts:
            for key, texts in f.queries.items():
                for text in texts:
                    check_script("mixed" if key.startswith("mixed") else key, text)

    # Language of each fact: half of each family in English, half in Chinese
    # (odd families alternate which language gets the extra one), plus
    # TWINS_PER_FAMILY facts per family rendered in both languages.
    for i, facts in enumerate(families):
        order = list(range(len(facts)))
        rng.shuffle(order)
        n_en = len(facts) // 2 + (len(facts) % 2 if i % 2 == 0 else 0)
        for rank, idx in enumerate(order):
            facts[idx].langs = ["en"] if rank < n_en else ["zh"]
        for idx in rng.sample(order, TWINS_PER_FAMILY):
            facts[idx].langs = ["en", "zh"]

    # Passages.
    passages = []  # (fid or None, lang, title, text)
    for facts in families:
        for f in facts:
            for lang in f.langs:
                title, text = f.doc[lang]
                passages.append((f.fid, lang, title, text))
    for lang, title, text in GENERAL:
        passages.append((None, lang, title, text))
    for fid, lang, title, text in passages:
        n = sentence_count(text, lang)
        if not 2 <= n <= 6:
            raise ValueError(f"{fid or title}: {n} sentences")
    rng.shuffle(passages)
    corpus = []
    fact_docs = {}
    for i, (fid, lang, title, text) in enumerate(passages, 1):
        did = f"doc-{i:04d}"
        corpus.append({"_id": did, "title": title, "text": text})
        if fid is not None:
            fact_docs.setdefault(fid, []).append(did)

    # Queries: QUERIES_PER_KIND per kind, round-robin over families so that
    # every family is represented, least-used facts first.  Mixed queries
    # alternate between Chinese and English target passages.
    uses = {}
    queries, qrels = [], []
    for kind in KINDS:
        cands = []  # per family: [(fact, {target lang: texts})]
        for facts in families:
            fam = []
            for f in facts:
                if kind == "mixed":
                    by_lang = {l: f.queries[f"mixed-{l}"] for l in f.langs if f"mixed-{l}" in f.queries}
                else:
                    lang = kind[:2]
                    by_lang = {lang: f.queries[kind]} if lang in f.langs and kind in f.queries else {}
                if by_lang:
                    fam.append((f, by_lang))
            rng.shuffle(fam)
            if fam:
                cands.append(fam)
        rng.shuffle(cands)
        picked = 0
        while picked < QUERIES_PER_KIND:
            progress = False
            for fam in cands:
                if picked == QUERIES_PER_KIND:
                    break
                want = "zh" if picked % 2 == 0 else "en"
                # stable sort: least-used facts first, then those that can
                # target the wanted language, otherwise the shuffled order
                fam.sort(key=lambda c: (uses.get(c[0].fid, 0), want not in c[1]))
                if not fam or uses.get(fam[0][0].fid, 0) >= MAX_QUERIES_PER_FACT:
                    continue
                f, by_lang = fam.pop(0)
                lang = want if want in by_lang else sorted(by_lang)[0]
                text = rng.choice(by_lang[lang])
                check_script(kind, text)
                picked += 1
                progress = True
                uses[f.fid] = uses.get(f.fid, 0) + 1
                qid = f"{kind}-{picked:03d}"
                queries.append({"_id": qid, "text": text, "kind": kind})
                for did in sorted(fact_docs[f.fid]):
                    qrels.append((qid, did, 1))
            if not progress:
                raise RuntimeError(f"not enough candidates for {kind}")
    return corpus, queries, qrels, families


# --------------------------------------------------------------------------
# Output


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_dataset(out, corpus, queries, qrels, families):
    os.makedirs(os.path.join(out, "qrels"), exist_ok=True)
    write_jsonl(os.path.join(out, "corpus.jsonl"), corpus)
    write_jsonl(os.path.join(out, "queries.jsonl"), queries)
    with open(os.path.join(out, "qrels", "test.tsv"), "w", encoding="utf-8", newline="\n") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, did, score in qrels:
            fh.write(f"{qid}\t{did}\t{score}\n")
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8", newline="\n") as fh:
        fh.write(readme(corpus, queries, qrels, families))


def load_dataset(out):
    def read_jsonl(path):
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    corpus = read_jsonl(os.path.join(out, "corpus.jsonl"))
    queries = read_jsonl(os.path.join(out, "queries.jsonl"))
    qrels = []
    with open(os.path.join(out, "qrels", "test.tsv"), encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n")
        if header != "query-id\tcorpus-id\tscore":
            raise ValueError(f"bad qrels header {header!r}")
        for line in fh:
            qid, did, score = line.rstrip("\n").split("\t")
            qrels.append((qid, did, int(score)))
    return corpus, queries, qrels


def validate(corpus, queries, qrels):
    """Referential checks on what was read back from disk; returns counts."""
    doc_ids = [d["_id"] for d in corpus]
    q_ids = [q["_id"] for q in queries]
    assert len(set(doc_ids)) == len(doc_ids), "duplicate corpus ids"
    assert len(set(q_ids)) == len(q_ids), "duplicate query ids"
    docs, qs = set(doc_ids), set(q_ids)
    for qid, did, score in qrels:
        assert qid in qs, f"qrels query {qid} not in queries.jsonl"
        assert did in docs, f"qrels passage {did} not in corpus.jsonl"
        assert score in (1, 2), f"bad score {score}"
    assert len(set((q, d) for q, d, _ in qrels)) == len(qrels), "duplicate qrels pairs"
    judged = {q for q, _, _ in qrels}
    missing = [q for q in q_ids if q not in judged]
    assert not missing, f"queries without relevant passages: {missing}"
    for d in corpus:
        assert set(d) == {"_id", "title", "text"} and d["text"], d["_id"]
    for q in queries:
        assert q["_id"].startswith(q["kind"] + "-") and q["text"], q["_id"]
        check_script(q["kind"], q["text"])
    return {
        "passages": len(corpus),
        "passages_zh": sum(1 for d in corpus if CJK.search(d["text"])),
        "queries": len(queries),
        "qrels": len(qrels),
        "by_kind": {k: sum(1 for q in queries if q["kind"] == k) for k in KINDS},
    }


# --------------------------------------------------------------------------
# Sanity baseline: BM25 over character bigrams (Chinese) + lowercased words

STOP = set("a an the of to in on for and or is are be by with at as it its my i me do does can "
           "what which when where who how this that there from our your we you if".split())
TOKEN = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]+")


def tokenize(s):
    out = []
    for m in TOKEN.finditer(s.lower()):
        t = m.group()
        if CJK.match(t):
            out.extend([t] if len(t) == 1 else [t[i:i + 2] for i in range(len(t) - 1)])
        elif t not in STOP:
            out.append(t)
    return out


def bm25_rank(corpus, queries, k1=1.2, b=0.75, top=10):
    docs = [tokenize(d["title"] + " " + d["text"]) for d in corpus]
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    df = {}
    tfs = []
    for toks in docs:
        tf = {}
        for t in toks:
            tf[t] = tf.get(t, 0) + 1
        tfs.append(tf)
        for t in tf:
            df[t] = df.get(t, 0) + 1
    idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
    runs = {}
    for q in queries:
        qt = tokenize(q["text"])
        scored = []
        for d, tf, toks in zip(corpus, tfs, docs):
            s = 0.0
            norm = k1 * (1 - b + b * len(toks) / avgdl)
            for t in qt:
                f = tf.get(t)
                if f:
                    s += idf[t] * f * (k1 + 1) / (f + norm)
            if s > 0:
                scored.append((-s, d["_id"]))
        scored.sort()
        runs[q["_id"]] = [did for _, did in scored[:top]]
    return runs


def evaluate(queries, qrels, runs, k=10):
    rel = {}
    for qid, did, score in qrels:
        rel.setdefault(qid, {})[did] = score
    per_kind = {}
    for q in queries:
        r, ranked = rel[q["_id"]], runs.get(q["_id"], [])[:k]
        dcg = sum((2 ** r.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked))
        ideal = sorted(r.values(), reverse=True)[:k]
        idcg = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
        recall = sum(1 for d in ranked if d in r) / len(r)
        mrr = next((1 / (i + 1) for i, d in enumerate(ranked) if d in r), 0.0)
        for key in (q["kind"], "all"):
            per_kind.setdefault(key, []).append((dcg / idcg, recall, mrr))
    table = {}
    for key in KINDS + ["all"]:
        rows = per_kind.get(key, [])
        table[key] = tuple(sum(x[i] for x in rows) / len(rows) for i in range(3)) + (len(rows),)
    return table


def format_table(table):
    lines = ["| kind | queries | nDCG@10 | Recall@10 | MRR@10 |", "|---|---:|---:|---:|---:|"]
    for key in KINDS + ["all"]:
        ndcg, rec, mrr, n = table[key]
        lines.append(f"| {key} | {n} | {ndcg:.3f} | {rec:.3f} | {mrr:.3f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# README


def readme(corpus, queries, qrels, families):
    counts = validate(corpus, queries, qrels)
    twins = sum(1 for facts in families for f in facts if len(f.langs) == 2)
    fam_rows = []
    for facts in families:
        fam_rows.append(f"| {facts[0].family} | {len(facts)} | "
                        f"{sum(1 for f in facts if 'en' in f.langs)} | "
                        f"{sum(1 for f in facts if 'zh' in f.langs)} |")
    zh_docs = {d["_id"] for d in corpus if CJK.search(d["text"])}
    rel = {}
    for qid, did, _ in qrels:
        rel.setdefault(qid, []).append(did)
    split = {k: [0, 0, 0] for k in KINDS}  # Chinese passage, English passage, twin pair
    for q in queries:
        langs = {"zh" if d in zh_docs else "en" for d in rel[q["_id"]]}
        split[q["kind"]][2 if len(langs) == 2 else 0 if "zh" in langs else 1] += 1
    kind_rows = "\n".join(f"| {k} | {n} | {split[k][0]} | {split[k][1]} | {split[k][2]} |"
                          for k, n in counts["by_kind"].items())
    baseline = format_table(evaluate(queries, qrels, bm25_rank(corpus, queries)))
    return f"""# eval-zh-en: bilingual retrieval evaluation set

Generated by `scripts/make_eval_set.py` (Python standard library only, fixed
seed {SEED}); do not edit by hand, change the script and rerun it:

    python3 scripts/make_eval_set.py            # rewrites this folder
    python3 scripts/make_eval_set.py --check    # also prints the BM25 baseline

BEIR layout, so any BEIR loader and `zhishu eval --dataset tests/data/eval-zh-en`
read it:

- `corpus.jsonl`: `{{"_id", "title", "text"}}`, {counts['passages']} passages
  ({counts['passages_zh']} Chinese, {counts['passages'] - counts['passages_zh']} English), 2-6 sentences each.
- `queries.jsonl`: `{{"_id", "text", "kind"}}`, {counts['queries']} queries; `kind` is
  also the prefix of `_id` (loaders that only read `_id` and `text` still work).
- `qrels/test.tsv`: `query-id<TAB>corpus-id<TAB>score` with a header line,
  {counts['qrels']} pairs, all score 1 (binary relevance).

The content is a fictional company knowledge base ("LT", domain
`lt-corp.example`): every name, address, amount and code name is invented.

## How it is built

Every passage is rendered from a **fact**: one instance of a family with slot
values that are unique within that family. A fact is written in English or in
Chinese (about half each, chosen by the seeded RNG); {twins} facts (one per
family) are written in both languages, as translated twins.

| family | facts | in English | in Chinese |
|---|---:|---:|---:|
{chr(10).join(fam_rows)}

- **hotel**: nightly hotel limit and partner hotel per city (18 cities).
- **office**: building, floor, reception hours, transport stop per city.
- **it**: one troubleshooting article per symptom (three different AnyLink
  VPN problems, three mail problems, two password/lockout problems, ...).
- **leave**: entitlement, notice, approver per leave type.
- **password**: length and rotation rules per system.
- **product** / **workspace**: the same twelve code names (Kestrel, Osprey,
  ...) each have a product page (official name, business unit, GA quarter)
  and a project-workspace page (Jira key, channel, weekly sync room).
- **perdiem**: daily meal allowance per grade x domestic/international.
- **dept**: responsibilities, mailbox, office and reply time per department.
- **laptop**: standard laptop model and refresh cycle per role.
- **benefit**: allowances and subsidies.
- **shuttle**: shuttle routes from metro stations to campuses.
- {len(GENERAL)} general passages (travel, leave, password, hardware rules, ...)
  share the vocabulary of the families but answer no query.

**Hard distractors** come from the construction itself: the other instances of
a family use the same template with different slot values (the Shanghai hotel
limit vs. the Beijing hotel limit; the Manager per diem vs. the Director per
diem, domestic vs. international), and entities recur across families
(Shanghai has a hotel, an office, two shuttle routes and several departments;
each code name has two pages). A query must match both the entity and the
topic.

Each query is generated from one fact, so its relevant passages are exactly
the passages rendered from that fact: one, or two when the fact has a
translated twin. Nothing is judged by hand. Each fact is used by at most
{MAX_QUERIES_PER_FACT} queries, and every kind draws from all families that can
express it (round-robin).

## Query kinds

| kind | queries | relevant: Chinese passage | English passage | both twins |
|---|---:|---:|---:|---:|
{kind_rows}

A query built from a fact with a translated twin has two relevant passages,
one per language. That is why Recall@10 below can be under 1 while MRR@10 is
1: a monolingual lexical ranker finds the same-language passage only.

- `en-exact`: English query sharing the passage's key terms ("AnyLink VPN error
  809 on Windows", "hotel accommodation limit per night in Sydney"). Targets an
  English passage. Tests the lexical side.
- `en-para`: English paraphrase. The entity (city, grade, code name, station)
  is kept, because without it the query would be ambiguous among distractors,
  but the topic words are replaced by synonyms ("lodging spend per overnight
  stay" for "hotel limit per night", "new dads" for "paternity leave", "scam
  email" for "phishing"). Lexical matching finds the entity on several
  passages; choosing the right topic is where dense retrieval should help.
- `zh-exact`: Chinese query (no Latin letters) sharing the passage's key terms;
  targets a Chinese passage. Tests Chinese segmentation on the lexical side
  (the product uses jieba).
- `zh-para`: Chinese paraphrase (宾馆 for 酒店, 老婆生孩子 for 陪产假, 做假账
  for 舞弊调查).
- `mixed`: Chinese and English in one query, as people actually type them
  ("VPN 连接失败 809 怎么办", "深圳 hotel 报销上限", "Kestrel 什么时候正式发布",
  "Manager 级别境外出差每天餐补多少"). The key entity is always written as it
  appears in the target passage (so the query is answerable lexically at all);
  the rest is either Chinese around an English name (product, system, code
  name, or an English passage's city / grade / leave type) or English topic
  words around a Chinese entity ("hotel", "office", "meal allowance"). The
  target passage is Chinese or English (see the table). Tests tokenisation of
  mixed scripts, and, when the topic words are in the other language than the
  passage, cross-lingual matching.

## Sanity baseline

A tiny BM25 (k1=1.2, b=0.75) over character bigrams for Chinese and lowercased
words for English, indexing title + text, as computed by `--check`. It only
shows that the dataset behaves as intended (exact queries are mostly solvable
lexically, paraphrases are much harder); it is not the product's
retriever.

{baseline}
"""


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(repo, "tests", "data", "eval-zh-en"))
    ap.add_argument("--check", action="store_true",
                    help="run the BM25 sanity baseline and print per-kind metrics")
    ap.add_argument("--show-misses", action="store_true",
                    help="with --check: list the queries whose passage is not in the BM25 top 10")
    args = ap.parse_args()

    corpus, queries, qrels, families = build()
    write_dataset(args.out, corpus, queries, qrels, families)

    corpus, queries, qrels = load_dataset(args.out)
    counts = validate(corpus, queries, qrels)
    total = 0
    for name in ("corpus.jsonl", "queries.jsonl", os.path.join("qrels", "test.tsv"), "README.md"):
        size = os.path.getsize(os.path.join(args.out, name))
        total += size
        print(f"{name:16} {size:8d} bytes")
    print(f"{'total':16} {total:8d} bytes")
    print(f"passages {counts['passages']} ({counts['passages_zh']} zh), "
          f"queries {counts['queries']}, qrels {counts['qrels']}")
    print("queries by kind: " + ", ".join(f"{k} {n}" for k, n in counts["by_kind"].items()))

    if args.check:
        runs = bm25_rank(corpus, queries)
        print()
        print("BM25 baseline (char bigrams for Chinese, lowercased words for English):")
        print(format_table(evaluate(queries, qrels, runs)))
        if args.show_misses:
            rel = {}
            for qid, did, _ in qrels:
                rel.setdefault(qid, set()).add(did)
            title = {d["_id"]: d["title"] for d in corpus}
            for q in queries:
                ranked = runs.get(q["_id"], [])
                if not rel[q["_id"]] & set(ranked):
                    want = ", ".join(title[d] for d in sorted(rel[q["_id"]]))
                    got = title[ranked[0]] if ranked else "-"
                    print(f"  miss {q['_id']}: {q['text']}  [want {want}; top1 {got}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
