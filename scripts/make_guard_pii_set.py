#!/usr/bin/env python3
"""Generate the personal-data (PII) evaluation set for the guard.

Writes tests/data/guard/pii.jsonl, one JSON object per line:

  {"id": "pii-001", "lang": "zh"|"en", "label": "pii"|"lookalike",
   "split": "dev"|"test", "text": "...",
   "spans": [{"kind": "...", "start": s, "end": e}]}

start/end are code-point offsets (Python str indices) of each value in
text, end exclusive.  Lookalike texts carry no personal data and have
"spans": [].

Kinds and what makes a value valid (each rule has a validator below; every
generated value is checked with it):

  cn_id        18-char mainland resident ID: province code 11-15, 21-23,
               31-37, 41-46, 50-54, 61-65; birth date YYYYMMDD a real date in
               1930..2010; check char by ISO 7064 MOD 11-2 (X, sometimes x)
  cn_mobile    11 digits from real segments (130-139, 145-149, 150-153,
               155-159, 162, 165-167, 170-178, 180-189, 190-193, 195-199),
               plain, 3-4-4 with spaces or hyphens, optional +86 / 86 /
               (+86) prefix (the span covers the prefix)
  bank_card    UnionPay: starts with 62, 16-19 digits, Luhn; plain or
               grouped by 4 with spaces
  credit_card  Visa / Mastercard (51-55, 2221-2720) / Amex / JCB /
               Discover with their lengths, Luhn; plain, spaced, hyphenated
  uscc         unified social credit code, GB 32100-2015 check char
  passport     PRC passport: E+8 digits, G+8 digits, E+letter(not I/O)+7
               digits; always within 30 characters after 护照 / passport
  email        ordinary addresses
  us_ssn       AAA-GG-SSSS, area not 000/666/9xx, group not 00, serial
               not 0000
  iban         DE GB FR NL ES CH IT with their lengths, mod-97 == 1; print
               form (groups of 4) or electronic form
  phone        + country code (not +86) and a national number of the
               country's length; the span runs from + to the last digit

How it is built
---------------
Every text is rendered from a hand-written template.  {kind} or
{kind/style} placeholders become PII values and spans; {~name}
placeholders become non-PII fillers (names, dates, amounts, order numbers,
broken IDs, ...).  A filler that imitates a PII kind names that kind and is
asserted to be invalid for it.

On top of the per-value checks, an independent scanner looks at each whole
text: every alphanumeric run (tokens joined across single spaces or
hyphens), every digit run, every "+digits" run, every e-mail-shaped and
SSN-shaped string is tried against all validators.  In a "pii" text each
valid hit must lie inside a declared span of the same kind (so no
undeclared personal data, and no value that also reads as another kind);
in a "lookalike" text there must be no valid hit at all.  A rendering that
fails is redrawn from the same random stream, so the output is still
deterministic.

Split: within each (label, lang) group, records alternate dev, test, dev,
... in file order.

Everything is deterministic (random.Random(SEED), standard library only, no
network); running it twice gives byte-identical output.

Usage (from the repository root):

    python3 scripts/make_guard_pii_set.py [--out PATH]
    python3 scripts/make_guard_pii_set.py --check   # file on disk up to date?
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import random
import sys

SEED = 20241205
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEFAULT_OUT = os.path.join(ROOT, "tests", "data", "guard", "pii.jsonl")

KINDS = ["cn_id", "cn_mobile", "bank_card", "credit_card", "uscc", "passport",
         "email", "us_ssn", "iban", "phone"]
MIN_PER_KIND = 8
MIN_PER_LABEL = 110

DIGITS = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CJK = re.compile(r"[\u4e00-\u9fff]")

# ---------------------------------------------------------------------------
# Validators
# ---------------------------------------------------------------------------

PROVINCES = frozenset([11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37,
                       41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65])

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def cn_id_check(body17):
    return ID_CHECK[sum(int(c) * w for c, w in zip(body17, ID_WEIGHTS)) % 11]


def valid_birth(s8):
    try:
        d = datetime.date(int(s8[:4]), int(s8[4:6]), int(s8[6:8]))
    except ValueError:
        return False
    return 1930 <= d.year <= 2010


def valid_cn_id(s):
    if not re.fullmatch(r"[0-9]{17}[0-9Xx]", s):
        return False
    if int(s[:2]) not in PROVINCES:
        return False
    if not valid_birth(s[6:14]):
        return False
    return cn_id_check(s[:17]) == s[17].upper()


MOBILE_PREFIXES = frozenset(
    [str(p) for p in range(130, 140)] + [str(p) for p in range(145, 150)]
    + ["150", "151", "152", "153", "155", "156", "157", "158", "159"]
    + ["162", "165", "166", "167"] + [str(p) for p in range(170, 179)]
    + [str(p) for p in range(180, 190)] + ["190", "191", "192", "193"]
    + [str(p) for p in range(195, 200)])

MOBILE_RE = re.compile(
    r"(?:(?:\+86|86|\(\+86\))[ -]?)?([0-9]{11}|[0-9]{3} [0-9]{4} [0-9]{4}|[0-9]{3}-[0-9]{4}-[0-9]{4})")


def mobile_digits_ok(d):
    return len(d) == 11 and d.isdigit() and d[:3] in MOBILE_PREFIXES


def mobile_compact_ok(d):
    """A bare digit string that reads as a mainland mobile (with or without 86)."""
    return mobile_digits_ok(d) or (len(d) == 13 and d.startswith("86") and mobile_digits_ok(d[2:]))


def valid_cn_mobile(s):
    m = MOBILE_RE.fullmatch(s)
    return bool(m) and mobile_digits_ok(re.sub(r"[ -]", "", m.group(1)))


def luhn_ok(d):
    total = 0
    for i, c in enumerate(reversed(d)):
        n = int(c)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def luhn_digit(partial):
    for c in DIGITS:
        if luhn_ok(partial + c):
            return c
    raise AssertionError("unreachable")


def card_digits(s):
    if not re.fullmatch(r"[0-9]+(?:[ -][0-9]+)*", s):
        return None
    return re.sub(r"[ -]", "", s)


def valid_bank_card(s):
    d = card_digits(s)
    return bool(d) and d.startswith("62") and 16 <= len(d) <= 19 and luhn_ok(d)


def card_brand(d):
    n = len(d)
    if n == 16 and d[0] == "4":
        return "visa"
    if n == 16 and (51 <= int(d[:2]) <= 55 or 2221 <= int(d[:4]) <= 2720):
        return "mastercard"
    if n == 15 and d[:2] in ("34", "37"):
        return "amex"
    if n == 16 and 3528 <= int(d[:4]) <= 3589:
        return "jcb"
    if n == 16 and (d[:4] == "6011" or d[:2] == "65"):
        return "discover"
    return None


def valid_credit_card(s):
    d = card_digits(s)
    return bool(d) and card_brand(d) is not None and luhn_ok(d)


USCC_ALPHA = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check(body17):
    c = 31 - sum(USCC_ALPHA.index(ch) * w for ch, w in zip(body17, USCC_WEIGHTS)) % 31
    return USCC_ALPHA[0 if c == 31 else c]


def valid_uscc(s):
    if len(s) != 18 or any(ch not in USCC_ALPHA for ch in s):
        return False
    if s[0] not in "159" or s[1] not in "1239":
        return False
    if not s[2:8].isdigit() or int(s[2:4]) not in PROVINCES:
        return False
    return uscc_check(s[:17]) == s[17]


PASSPORT_RE = re.compile(r"E[0-9]{8}|G[0-9]{8}|E[A-HJ-NP-Z][0-9]{7}")


def valid_passport(s):
    return bool(PASSPORT_RE.fullmatch(s))


EMAIL_RE = re.compile(
    r"[A-Za-z0-9]+(?:[._+-][A-Za-z0-9]+)*@[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
    r"(?:\.[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)*\.[A-Za-z]{2,}", re.A)


def valid_email(s):
    return bool(EMAIL_RE.fullmatch(s))


def valid_us_ssn(s):
    m = re.fullmatch(r"([0-9]{3})-([0-9]{2})-([0-9]{4})", s)
    if not m:
        return False
    area, group, serial = m.groups()
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


IBAN_LEN = {"DE": 22, "GB": 22, "FR": 27, "NL": 18, "ES": 24, "CH": 21, "IT": 27}


def iban_mod97(compact):
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97


def valid_iban(s):
    c = s.replace(" ", "")
    if " " in s and s != " ".join(c[i:i + 4] for i in range(0, len(c), 4)):
        return False
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+", c):
        return False
    return IBAN_LEN.get(c[:2]) == len(c) and iban_mod97(c) == 1


# country code -> (min, max) national significant digits; +86 is not here
PHONE_CC = {"1": (10, 10), "44": (9, 10), "41": (9, 9), "49": (6, 11), "81": (9, 10), "852": (8, 8),
            "65": (8, 8), "33": (9, 9), "61": (9, 9), "886": (8, 9), "82": (8, 10),
            "91": (10, 10)}


def valid_phone(s):
    m = re.fullmatch(r"\+([0-9]+)((?:[ -][0-9]+)*)", s)
    if not m:
        return False
    first, rest = m.group(1), m.group(2)
    if rest:
        if first not in PHONE_CC:
            return False
        cc, nat = first, re.sub(r"[ -]", "", rest)
    else:
        for n in (1, 2, 3):
            if first[:n] in PHONE_CC:
                cc, nat = first[:n], first[n:]
                break
        else:
            return False
    lo, hi = PHONE_CC[cc]
    if not lo <= len(nat) <= hi or nat[0] == "0":
        return False
    if cc == "1" and (nat[0] in "01" or nat[3] in "01"):
        return False
    return True


VALID = {
    "cn_id": valid_cn_id, "cn_mobile": valid_cn_mobile, "bank_card": valid_bank_card,
    "credit_card": valid_credit_card, "uscc": valid_uscc, "passport": valid_passport,
    "email": valid_email, "us_ssn": valid_us_ssn, "iban": valid_iban, "phone": valid_phone,
}

# ---------------------------------------------------------------------------
# Independent whole-text scanner (aggressive on purpose)
# ---------------------------------------------------------------------------

RUN_RE = re.compile(r"[0-9A-Za-z]+(?:[ -][0-9A-Za-z]+)*")
TOKEN_RE = re.compile(r"[0-9A-Za-z]+")
DIGIT_RUN_RE = re.compile(r"(?<![0-9])[0-9]+(?![0-9])")
PLUS_RE = re.compile(r"\+[0-9]+(?:[ -][0-9]+)*")
EMAIL_FIND_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
SSN_FIND_RE = re.compile(r"(?<![0-9])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9])")


def compact_kinds(s):
    out = []
    if valid_cn_id(s):
        out.append("cn_id")
    if s.isdigit():
        if mobile_compact_ok(s):
            out.append("cn_mobile")
        if valid_bank_card(s):
            out.append("bank_card")
        if valid_credit_card(s):
            out.append("credit_card")
    if valid_uscc(s):
        out.append("uscc")
    if valid_passport(s):
        out.append("passport")
    if valid_iban(s):
        out.append("iban")
    return out


def scan(text):
    """Every (kind, start, end) in text that some validator accepts."""
    hits = {}
    for m in RUN_RE.finditer(text):
        toks = [(m.start() + t.start(), m.start() + t.end(), t.group())
                for t in TOKEN_RE.finditer(m.group())]
        for i in range(len(toks)):
            acc = ""
            for j in range(i, len(toks)):
                acc += toks[j][2]
                if len(acc) > 34:
                    break
                for k in compact_kinds(acc):
                    hits[(k, toks[i][0], toks[j][1])] = True
    for m in DIGIT_RUN_RE.finditer(text):
        s, e = m.start(), m.end()
        if e - s == 17 and e < len(text) and text[e] in "Xx":
            e += 1
        for k in compact_kinds(text[s:e]):
            hits[(k, s, e)] = True
    for m in PLUS_RE.finditer(text):
        parts = re.split(r"([ -])", m.group())
        for n in range(1, len(parts) + 1, 2):
            cand = "".join(parts[:n])
            for k in ("phone", "cn_mobile"):
                if VALID[k](cand):
                    hits[(k, m.start(), m.start() + len(cand))] = True
    for m in EMAIL_FIND_RE.finditer(text):
        hits[("email", m.start(), m.end())] = True
    for m in SSN_FIND_RE.finditer(text):
        if valid_us_ssn(m.group()):
            hits[("us_ssn", m.start(), m.end())] = True
    return sorted(hits)


# ---------------------------------------------------------------------------
# Source material
# ---------------------------------------------------------------------------

ZH_PEOPLE = [("张伟", "zhang.wei"), ("李娜", "li.na"), ("王芳", "wang.fang"), ("刘洋", "liu.yang"),
             ("陈静", "chen.jing"), ("杨帆", "yang.fan"), ("赵磊", "zhao.lei"), ("黄敏", "huang.min"),
             ("周杰", "zhou.jie"), ("吴婷", "wu.ting"), ("徐明", "xu.ming"), ("孙丽", "sun.li"),
             ("马超", "ma.chao"), ("朱琳", "zhu.lin"), ("胡斌", "hu.bin"), ("郭静怡", "guo.jingyi"),
             ("何晓东", "he.xiaodong"), ("林晓燕", "lin.xiaoyan"), ("罗志强", "luo.zhiqiang"),
             ("高雪", "gao.xue"), ("梁文博", "liang.wenbo"), ("宋佳", "song.jia"), ("郑凯", "zheng.kai"),
             ("谢雨桐", "xie.yutong")]
EN_PEOPLE = [("Emily", "Carter"), ("James", "O'Neill"), ("Priya", "Raman"), ("Lukas", "Becker"),
             ("Sophie", "Martin"), ("Daniel", "Kim"), ("Olivia", "Brown"), ("Marco", "Rossi"),
             ("Hannah", "Schmidt"), ("Tom", "Whitfield"), ("Aisha", "Khan"), ("Carlos", "Mendes"),
             ("Grace", "Liu"), ("Noah", "Fischer"), ("Chloe", "Dubois"), ("Ethan", "Walker"),
             ("Isabel", "Garcia"), ("Ryan", "Murphy"), ("Mei", "Tanaka"), ("Jonas", "de Vries")]
COMPANIES_ZH = ["深圳市恒泰精密制造有限公司", "上海知数信息科技有限公司", "杭州云栖数据服务有限公司",
                "北京华信生物技术有限公司", "成都锦程物流有限公司", "广州南粤食品有限公司",
                "苏州新材科技股份有限公司", "武汉光谷智能装备有限公司", "青岛海岸贸易有限公司",
                "南京紫金建筑工程有限公司"]
COMPANIES_ZH_EN = ["Shenzhen Hengtai Precision Manufacturing Co., Ltd.",
                   "Shanghai Zhishu Information Technology Co., Ltd.",
                   "Hangzhou Yunqi Data Services Co., Ltd.", "Chengdu Jincheng Logistics Co., Ltd.",
                   "Suzhou Xincai Technology Co., Ltd.", "Qingdao Haian Trading Co., Ltd."]
COMPANIES_EN = ["Northwind Logistics Ltd", "Bluepeak Analytics Inc.", "Acme Holdings GmbH",
                "Lumen Studio BV", "Greenfield Partners LLP", "Harbor & Finch SARL"]
BANKS_ZH = ["中国工商银行", "招商银行", "中国建设银行", "中国农业银行", "中国银行", "交通银行", "浦发银行"]
BANKS_EN = ["Deutsche Bank", "Barclays", "BNP Paribas", "ING", "Santander", "UBS", "UniCredit"]
CITIES_ZH = ["上海", "北京", "深圳", "杭州", "成都", "武汉", "南京", "西安", "苏州", "青岛"]
CITIES_EN = ["Singapore", "Hamburg", "Lyon", "Rotterdam", "Milan", "Zurich", "Madrid", "Seattle"]
ROADS_ZH = [("上海市徐汇区", "漕溪北路"), ("北京市海淀区", "中关村大街"), ("深圳市南山区", "科技南十二路"),
            ("杭州市西湖区", "文三路"), ("成都市武侯区", "天府大道北段"), ("武汉市洪山区", "珞喻路")]
COURIERS = ["顺丰速运", "中通快递", "京东物流", "圆通速递"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]

ID_REGIONS = ["110101", "110105", "110108", "120101", "130102", "140105", "150102", "210102",
              "220102", "230103", "310104", "310115", "320102", "320583", "330106", "330203",
              "340104", "350203", "360102", "370102", "370203", "410105", "420106", "430104",
              "440106", "440305", "450103", "460105", "500103", "510107", "520102", "530102",
              "540102", "610113", "630104", "640104", "650102"]

UNIONPAY_BINS = [("622202", 19), ("621226", 19), ("621700", 19), ("622848", 19), ("621661", 19),
                 ("622588", 16), ("621483", 16), ("622262", 19), ("623058", 19), ("625965", 16),
                 ("621785", 18), ("622150", 17), ("620200", 18), ("622609", 16)]

ZH_MAIL = ["163.com", "126.com", "qq.com", "sina.cn", "foxmail.com", "aliyun.com"]
EN_MAIL = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com", "fastmail.com"]
WORK_DOMAINS = ["zhishu-tech.com", "hengtai-group.com.cn", "mail.huaxin-bio.cn", "northwind-logistics.com",
                "corp.bluepeak.io", "finance.acme-holdings.com", "lumen-analytics.io",
                "greenfield-partners.org", "hr.sinoparts.com.cn", "brightline-consulting.com"]
EDU_ZH = ["pku.edu.cn", "mails.tsinghua.edu.cn", "fudan.edu.cn", "zju.edu.cn"]
EDU_EN = ["students.eastbridge-college.org", "mail.northgate-university.org", "alumni.riverside-institute.org"]

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def digits(rng, n, first=DIGITS):
    return rng.choice(first) + "".join(rng.choice(DIGITS) for _ in range(n - 1)) if n else ""


def rand_date(rng, y0, y1):
    a = datetime.date(y0, 1, 1).toordinal()
    b = datetime.date(y1, 12, 31).toordinal()
    return datetime.date.fromordinal(rng.randint(a, b))


def ymd(d):
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def group4(s, sep=" "):
    return sep.join(s[i:i + 4] for i in range(0, len(s), 4))


def zh_py_display(py):
    return " ".join(p.capitalize() for p in py.split("."))


def en_slug(name):
    return re.sub(r"[^a-z]", "", name.lower())


def zh_local(rng, py):
    fam, given = py.split(".")
    return rng.choice([f"{fam}.{given}", f"{fam}{given}", f"{given}.{fam}", f"{fam}_{given}",
                       f"{fam}{given}{rng.randint(10, 99)}", f"{fam}.{given}+{rng.choice(['hr', 'work', 'travel'])}",
                       f"{fam[0]}{given}"])


def en_local(rng, person):
    f, l = en_slug(person[0]), en_slug(person[1])
    return rng.choice([f"{f}.{l}", f"{f}{l}", f"{f[0]}.{l}", f"{f}_{l}", f"{f}-{l}",
                       f"{f}.{l}+{rng.choice(['billing', 'news', 'jobs', 'travel'])}",
                       f"{l}.{f}", f"{f}.{l}{rng.randint(1, 9)}"])


def new_ctx(rng):
    return {"zh": rng.sample(ZH_PEOPLE, 2), "en": rng.sample(EN_PEOPLE, 2),
            "co_zh": rng.sample(COMPANIES_ZH, 2),
            "ver": (rng.randint(1, 16), rng.randint(0, 30), rng.randint(0, 12))}


# ---------------------------------------------------------------------------
# PII value generators: fn(rng, style, ctx) -> str
# ---------------------------------------------------------------------------


def gen_cn_id(rng, style, ctx):
    """Styles (joined with _): ux / lx force an X / x check char; adult
    (born 1955-2002) or child (born 2005-2010) narrow the birth year."""
    toks = (style or "").split("_")
    y0, y1 = (1955, 2002) if "adult" in toks else (2005, 2010) if "child" in toks else (1930, 2010)
    while True:
        body = rng.choice(ID_REGIONS) + ymd(rand_date(rng, y0, y1)) + digits(rng, 3)
        c = cn_id_check(body)
        if ("ux" in toks or "lx" in toks) and c != "X":
            continue
        return body + (c.lower() if "lx" in toks else c)


MOBILE_LIST = sorted(MOBILE_PREFIXES)


def gen_cn_mobile(rng, style, ctx):
    d = rng.choice(MOBILE_LIST) + digits(rng, 8)
    style = style or rng.choice(["plain"] * 6 + ["space", "space", "dash", "dash", "p86", "p86s",
                                                 "p86d", "n86", "pp86"])
    sp, da = f"{d[:3]} {d[3:7]} {d[7:]}", f"{d[:3]}-{d[3:7]}-{d[7:]}"
    return {"plain": d, "space": sp, "dash": da, "p86": "+86 " + d, "p86c": "+86" + d,
            "p86s": "+86 " + sp, "p86d": "+86-" + da,
            "n86": rng.choice(["86" + d, "86 " + d, "86-" + d]),
            "pp86": rng.choice(["(+86)" + d, "(+86) " + da, "(+86) " + sp])}[style]


def gen_bank_card(rng, style, ctx):
    bin6, n = rng.choice(UNIONPAY_BINS)
    body = bin6 + digits(rng, n - 7)
    d = body + luhn_digit(body)
    style = style or rng.choice(["plain", "space"])
    return d if style == "plain" else group4(d)


def gen_credit_card(rng, style, ctx):
    toks = (style or "").split("_")
    brand = next((t for t in toks if t in ("visa", "mc", "mc2", "amex", "jcb", "disc")), None)
    fmt = next((t for t in toks if t in ("plain", "space", "dash")), None)
    brand = brand or rng.choice(["visa", "visa", "mc", "mc2", "amex", "jcb", "disc"])
    fmt = fmt or rng.choice(["plain", "space", "dash"])
    if brand == "visa":
        prefix, n = "4", 16
    elif brand == "mc":
        prefix, n = str(rng.randint(51, 55)), 16
    elif brand == "mc2":
        prefix, n = str(rng.randint(2221, 2720)), 16
    elif brand == "amex":
        prefix, n = rng.choice(["34", "37"]), 15
    elif brand == "jcb":
        prefix, n = str(rng.randint(3528, 3589)), 16
    else:
        prefix, n = rng.choice(["6011", "65"]), 16
    body = prefix + digits(rng, n - len(prefix) - 1)
    d = body + luhn_digit(body)
    if fmt == "plain":
        return d
    sep = " " if fmt == "space" else "-"
    if n == 15:
        return sep.join([d[:4], d[4:10], d[10:]])
    return group4(d, sep)


def org_code(rng):
    if rng.random() < 0.6:
        body = "MA" + "".join(rng.choice(USCC_ALPHA) for _ in range(6))
    else:
        body = digits(rng, 8, "1234567")
    vals = [int(c, 36) for c in body]
    c = 11 - sum(v * w for v, w in zip(vals, (3, 7, 9, 10, 5, 8, 4, 2))) % 11
    return body + ("X" if c == 10 else "0" if c == 11 else str(c))


def uscc_body(rng, style=None):
    """Styles: co (enterprise, 91), sz (enterprise registered in Shenzhen),
    inst (public institution, 12), org (social organisation, 51/52/53)."""
    if style in ("co", "sz"):
        head = "91"
    elif style == "inst":
        head = "12"
    elif style == "org":
        head = rng.choice(["51", "52", "53"])
    else:
        head = rng.choice(["91", "91", "91", "91", "92", "93", "12", "11", "51", "52", "53"])
    region = rng.choice(["440303", "440304", "440305", "440306"]) if style == "sz" else rng.choice(ID_REGIONS)
    return head + region + org_code(rng)


def gen_uscc(rng, style, ctx):
    b = uscc_body(rng, style)
    return b + uscc_check(b)


def gen_passport(rng, style, ctx):
    style = style or rng.choice(["e8", "e8", "g8", "el7"])
    if style == "e8":
        return "E" + digits(rng, 8)
    if style == "g8":
        return "G" + digits(rng, 8)
    return "E" + rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + digits(rng, 7)


def gen_email(rng, style, ctx):
    style = style or rng.choice(["zhp", "enp", "work", "qq", "en"])
    if style == "zhp":
        return zh_local(rng, ctx["zh"][0][1]) + "@" + rng.choice(ZH_MAIL + WORK_DOMAINS)
    if style == "zhp2":
        return zh_local(rng, ctx["zh"][1][1]) + "@" + rng.choice(ZH_MAIL + WORK_DOMAINS)
    if style == "enp":
        return en_local(rng, ctx["en"][0]) + "@" + rng.choice(EN_MAIL)
    if style == "enp2":
        return en_local(rng, ctx["en"][1]) + "@" + rng.choice(EN_MAIL + WORK_DOMAINS)
    if style == "en":
        return en_local(rng, rng.choice(EN_PEOPLE)) + "@" + rng.choice(EN_MAIL)
    if style == "workzh":
        fam, given = ctx["zh"][0][1].split(".")
        return rng.choice([f"{fam}.{given}", f"{given}.{fam}", f"{fam}{given}"]) + "@" + rng.choice(WORK_DOMAINS)
    if style == "worken":
        f, l = en_slug(ctx["en"][0][0]), en_slug(ctx["en"][0][1])
        return rng.choice([f"{f}.{l}", f"{f[0]}{l}", f"{f}"]) + "@" + rng.choice(WORK_DOMAINS)
    if style == "work":
        if rng.random() < 0.5:
            fam, given = rng.choice(ZH_PEOPLE)[1].split(".")
            local = rng.choice([f"{fam}.{given}", f"{given}.{fam}", f"{fam}{given}"])
        else:
            p = rng.choice(EN_PEOPLE)
            local = rng.choice([f"{en_slug(p[0])}.{en_slug(p[1])}", f"{en_slug(p[0])[0]}{en_slug(p[1])}"])
        return local + "@" + rng.choice(WORK_DOMAINS)
    if style == "qq":
        return digits(rng, rng.randint(6, 10), "123456789") + "@qq.com"
    if style == "edu":
        return zh_local(rng, ctx["zh"][0][1]).split("+")[0] + "@" + rng.choice(EDU_ZH)
    if style == "edu_en":
        return en_local(rng, ctx["en"][0]).split("+")[0] + "@" + rng.choice(EDU_EN)
    raise KeyError(style)


def gen_us_ssn(rng, style, ctx):
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def es_dc(ten):
    w = (1, 2, 4, 8, 5, 10, 9, 7, 3, 6)
    d = 11 - sum(int(c) * x for c, x in zip(ten, w)) % 11
    return "0" if d == 11 else "1" if d == 10 else str(d)


IT_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]


def it_cin(s22):
    total = 0
    for i, c in enumerate(s22):
        v = int(c) if c.isdigit() else ord(c) - 65
        total += IT_ODD[v] if i % 2 == 0 else v
    return chr(65 + total % 26)


def iban_bban(rng, cc):
    if cc == "DE":
        return rng.choice(["37040044", "10070000", "50010517", "20041155", "70150000"]) + digits(rng, 10)
    if cc == "GB":
        return rng.choice(["NWBK", "BARC", "HBUK", "LOYD", "MIDL"]) + digits(rng, 6) + digits(rng, 8)
    if cc == "FR":
        bank, branch, acct = rng.choice(["30004", "30003", "20041", "10278", "30002"]), digits(rng, 5), digits(rng, 11)
        key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(acct)) % 97
        return bank + branch + acct + f"{key:02d}"
    if cc == "NL":
        return rng.choice(["ABNA", "INGB", "RABO", "TRIO", "SNSB"]) + digits(rng, 10)
    if cc == "ES":
        bank, branch, acct = rng.choice(["2100", "0049", "0182", "2085", "0081"]), digits(rng, 4), digits(rng, 10)
        return bank + branch + es_dc("00" + bank + branch) + es_dc(acct) + acct
    if cc == "CH":
        return rng.choice(["00762", "00230", "00700", "00235", "08390"]) + digits(rng, 12)
    if cc == "IT":
        rest = rng.choice(["03069", "02008", "05034", "01030"]) + digits(rng, 5) + digits(rng, 12)
        return it_cin(rest) + rest
    raise KeyError(cc)


def make_iban(cc, bban):
    cd = 98 - iban_mod97(cc + "00" + bban)
    return f"{cc}{cd:02d}{bban}"


def gen_iban(rng, style, ctx):
    toks = (style or "").split("_")
    cc = next((t.upper() for t in toks if t.upper() in IBAN_LEN), None)
    fmt = next((t for t in toks if t in ("print", "elec")), None)
    cc = cc or rng.choice(["DE", "GB", "FR", "NL", "ES", "CH", "IT"])
    fmt = fmt or rng.choice(["print", "print", "elec"])
    iban = make_iban(cc, iban_bban(rng, cc))
    return group4(iban) if fmt == "print" else iban


def gen_phone(rng, style, ctx):
    style = style or rng.choice(["us", "uk", "de", "jp", "hk", "sg", "fr", "au", "tw", "kr", "in"])
    if style in ("us", "us_dash", "us_e164"):
        area = rng.choice(["202", "206", "212", "213", "214", "404", "408", "412", "415", "617", "646"])
        ex, line = digits(rng, 3, "23456789"), digits(rng, 4)
        if style == "us_e164":
            return f"+1{area}{ex}{line}"
        sep = "-" if style == "us_dash" or rng.random() < 0.3 else " "
        return sep.join(["+1", area, ex, line])
    if style == "uk":
        return rng.choice([f"+44 20 7946 0{digits(rng, 3)}", f"+44 7700 900{digits(rng, 3)}",
                           f"+44 161 496 0{digits(rng, 3)}", "+442079460" + digits(rng, 3)])
    if style == "de":
        return rng.choice([f"+49 30 {digits(rng, rng.randint(6, 8), '123456789')}",
                           f"+49 89 {digits(rng, 7, '123456789')}",
                           f"+49 151 {digits(rng, 4)} {digits(rng, 4)}"])
    if style == "de30":
        return f"+49 30 {digits(rng, rng.randint(7, 8), '23456789')}"
    if style == "ch":
        return f"+41 {rng.choice(['44', '43', '58'])} {digits(rng, 3, '2345678')} {digits(rng, 2)} {digits(rng, 2)}"
    if style == "jp":
        return rng.choice([f"+81 3-{digits(rng, 4, '123456789')}-{digits(rng, 4)}",
                           f"+81 90-{digits(rng, 4)}-{digits(rng, 4)}",
                           f"+81 6-{digits(rng, 4, '123456789')}-{digits(rng, 4)}"])
    if style == "hk":
        return f"+852 {digits(rng, 4, '2359')} {digits(rng, 4)}"
    if style == "sg":
        return f"+65 {digits(rng, 4, '689')} {digits(rng, 4)}"
    if style == "fr":
        first = rng.choice("1234567")
        return "+33 " + first + " " + " ".join(digits(rng, 2) for _ in range(4))
    if style == "au":
        return rng.choice([f"+61 2 {digits(rng, 4, '89')} {digits(rng, 4)}",
                           f"+61 4{digits(rng, 2)} {digits(rng, 3)} {digits(rng, 3)}"])
    if style == "tw":
        return rng.choice([f"+886 2 {digits(rng, 4, '23')} {digits(rng, 4)}",
                           f"+886 9{digits(rng, 2)} {digits(rng, 3)} {digits(rng, 3)}"])
    if style == "kr":
        return rng.choice([f"+82 2-{digits(rng, 3, '23456789')}-{digits(rng, 4)}",
                           f"+82 10-{digits(rng, 4)}-{digits(rng, 4)}"])
    if style == "in":
        return f"+91 {digits(rng, 5, '6789')} {digits(rng, 5)}"
    raise KeyError(style)


GEN = {"cn_id": gen_cn_id, "cn_mobile": gen_cn_mobile, "bank_card": gen_bank_card,
       "credit_card": gen_credit_card, "uscc": gen_uscc, "passport": gen_passport,
       "email": gen_email, "us_ssn": gen_us_ssn, "iban": gen_iban, "phone": gen_phone}

# ---------------------------------------------------------------------------
# Fillers: name -> (fn(rng, ctx) -> str, kinds the value imitates)
# ---------------------------------------------------------------------------

FILL = {}


def filler(name, mimic=()):
    def deco(fn):
        FILL[name] = (fn, tuple(mimic))
        return fn
    return deco


filler("zhname")(lambda rng, ctx: ctx["zh"][0][0])
filler("zhname2")(lambda rng, ctx: ctx["zh"][1][0])
filler("zhname_py")(lambda rng, ctx: zh_py_display(ctx["zh"][0][1]))
filler("zhname_py2")(lambda rng, ctx: zh_py_display(ctx["zh"][1][1]))
filler("enname")(lambda rng, ctx: " ".join(ctx["en"][0]))
filler("enname2")(lambda rng, ctx: " ".join(ctx["en"][1]))
filler("company_zh")(lambda rng, ctx: ctx["co_zh"][0])
filler("company_zh2")(lambda rng, ctx: ctx["co_zh"][1])
filler("company_zh_en")(lambda rng, ctx: rng.choice(COMPANIES_ZH_EN))
filler("company_en")(lambda rng, ctx: rng.choice(COMPANIES_EN))
filler("bank_zh")(lambda rng, ctx: rng.choice(BANKS_ZH))
filler("bank_en")(lambda rng, ctx: rng.choice(BANKS_EN))
filler("city_zh")(lambda rng, ctx: rng.choice(CITIES_ZH))
filler("city_en")(lambda rng, ctx: rng.choice(CITIES_EN))
filler("courier")(lambda rng, ctx: rng.choice(COURIERS))
filler("swift")(lambda rng, ctx: rng.choice(["ICBKCNBJ", "BKCHCNBJ", "PCBCCNBJ", "CMBCCNBS",
                                             "DEUTDEFF", "HSBCHKHH", "BARCGB22", "COBADEFF"]))
filler("bic_de")(lambda rng, ctx: rng.choice(["DEUTDEFF", "COBADEFF", "BYLADEMM", "GENODEF1M04"]))
filler("d1")(lambda rng, ctx: digits(rng, 1, "123456789"))
filler("d2")(lambda rng, ctx: digits(rng, 2, "123456789"))
filler("d3")(lambda rng, ctx: digits(rng, 3, "123456789"))
filler("d4")(lambda rng, ctx: digits(rng, 4, "123456789"))
filler("d6")(lambda rng, ctx: digits(rng, 6))
filler("d7")(lambda rng, ctx: digits(rng, 7))
filler("d8")(lambda rng, ctx: digits(rng, 8, "2345678"))
filler("d10")(lambda rng, ctx: digits(rng, 10, "23456789"))
filler("last4")(lambda rng, ctx: digits(rng, 4))
filler("empid")(lambda rng, ctx: "ZS" + digits(rng, 6))
filler("ticket")(lambda rng, ctx: "INC" + digits(rng, 7))
filler("order_en")(lambda rng, ctx: "ORD-" + digits(rng, 8, "123456789"))
filler("ref_en")(lambda rng, ctx: "RF" + "".join(rng.choice(UPPER + DIGITS) for _ in range(10)))
filler("inv_en")(lambda rng, ctx: f"INV-{rng.randint(2023, 2025)}-{digits(rng, 5)}")
filler("badge")(lambda rng, ctx: "EMP-" + digits(rng, 6))
filler("lot")(lambda rng, ctx: "L" + digits(rng, 6))
filler("alert_id")(lambda rng, ctx: "ALM-" + digits(rng, 8))
filler("handle_word")(lambda rng, ctx: rng.choice(["ops-oncall", "devops-bot", "it-helpdesk", "qa_team",
                                                   "release-mgr", "data-platform"]))
filler("plate")(lambda rng, ctx: rng.choice("沪京粤浙苏川") + rng.choice("ABCDE")
                + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5)))
filler("room")(lambda rng, ctx: f"{rng.randint(1, 12)}栋{rng.randint(1, 4)}单元{rng.randint(2, 32)}0{rng.randint(1, 4)}")
filler("gate")(lambda rng, ctx: rng.choice("ABCDE") + str(rng.randint(1, 40)))
filler("time")(lambda rng, ctx: f"{rng.randint(6, 22):02d}:{rng.choice([0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]):02d}")
filler("postcode")(lambda rng, ctx: rng.choice(["200120", "100080", "518057", "310012", "610041", "430074"]))
filler("stock")(lambda rng, ctx: rng.choice(["600519", "000858", "300750", "601318", "002594"]))
filler("count_big")(lambda rng, ctx: f"{rng.randint(10000, 9999999):,}")
filler("sku")(lambda rng, ctx: "SKU-" + "".join(rng.choice("ABCDEFGHKMNPRSTWXYZ") for _ in range(3)) + digits(rng, 5))
filler("gift16")(lambda rng, ctx: "-".join("".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(4))
                                           for _ in range(4)))
filler("wire_ref")(lambda rng, ctx: f"FT{rng.randint(23, 25)}{rng.randint(1, 365):03d}"
                   + "".join(rng.choice(UPPER + DIGITS) for _ in range(6)))
filler("mac")(lambda rng, ctx: ":".join(f"{rng.getrandbits(8):02x}" for _ in range(6)))
filler("ipv6")(lambda rng, ctx: "2001:db8:" + ":".join(f"{rng.getrandbits(16):x}" for _ in range(3)) + "::" + f"{rng.getrandbits(12):x}")
filler("tracking_fedex")(lambda rng, ctx: digits(rng, 12, "7"))
filler("ups")(lambda rng, ctx: "1Z" + "".join(rng.choice(UPPER + DIGITS) for _ in range(6)) + "03" + digits(rng, 8))
filler("tracking_jd")(lambda rng, ctx: "JDVA" + digits(rng, 11, "02"))
filler("waybill_sf")(lambda rng, ctx: "SF14" + digits(rng, 11))
filler("area_zh")(lambda rng, ctx: rng.choice(["021", "010", "0755", "020", "0571", "028"]))


@filler("date_zh")
def _date_zh(rng, ctx):
    d = rand_date(rng, 2023, 2025)
    return f"{d.year}年{d.month}月{d.day}日"


@filler("date_zh_future")
def _date_zh_future(rng, ctx):
    d = rand_date(rng, 2026, 2034)
    return f"{d.year}年{d.month}月{d.day}日"


def en_date(d, rng):
    return rng.choice([f"{d.day} {MONTHS[d.month - 1]} {d.year}", f"{MONTHS[d.month - 1]} {d.day}, {d.year}"])


filler("date_en")(lambda rng, ctx: en_date(rand_date(rng, 2023, 2025), rng))
filler("date_en_future")(lambda rng, ctx: en_date(rand_date(rng, 2026, 2034), rng))
filler("date_iso")(lambda rng, ctx: rand_date(rng, 2023, 2025).isoformat())


@filler("dt_zh")
def _dt_zh(rng, ctx):
    d = rand_date(rng, 2023, 2025)
    return f"{d.isoformat()} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"


@filler("dt_iso")
def _dt_iso(rng, ctx):
    return _dt_zh(rng, ctx).replace(" ", "T") + "Z"


@filler("amount_cny")
def _amount_cny(rng, ctx):
    v = rng.randint(5000, 5000000) / 100
    return rng.choice([f"¥{v:,.2f}", f"{v:,.2f}元", f"人民币{v:,.2f}元"])


filler("amount_usd")(lambda rng, ctx: f"${rng.randint(1000, 9999999) / 100:,.2f}")
filler("amount_big")(lambda rng, ctx: f"{rng.randint(100000000, 99999999999) / 100:,.2f}")


@filler("addr_zh")
def _addr_zh(rng, ctx):
    district, road = rng.choice(ROADS_ZH)
    return f"{district}{road}{rng.randint(1, 300)}号{rng.randint(1, 30)}0{rng.randint(1, 9)}室"


@filler("version")
def _version(rng, ctx):
    return rng.choice(["v", ""]) + f"{rng.randint(1, 20)}.{rng.randint(0, 40)}.{rng.randint(0, 20)}"


@filler("ipv4")
def _ipv4(rng, ctx):
    return rng.choice([f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                       f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                       f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                       f"203.0.113.{rng.randint(1, 254)}", f"198.51.100.{rng.randint(1, 254)}"])


@filler("isbn")
def _isbn(rng, ctx):
    groups = rng.choice([["978", "7", digits(rng, 3, "1235"), digits(rng, 5)],
                         ["978", "0", digits(rng, 2, "123"), digits(rng, 6)],
                         ["978", "1", digits(rng, 4, "4"), digits(rng, 4)]])
    d12 = "".join(groups)
    check = (10 - sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(d12)) % 10) % 10
    return "-".join(groups + [str(check)])


@filler("ean13")
def _ean13(rng, ctx):
    d12 = str(rng.randint(690, 695)) + digits(rng, 9)
    return d12 + str((10 - sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(d12)) % 10) % 10)


@filler("serial")
def _serial(rng, ctx):
    al = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    return rng.choice(["C02" + "".join(rng.choice(al) for _ in range(9)),
                       "5CG" + digits(rng, 3) + "".join(rng.choice(al) for _ in range(4)),
                       "SN" + digits(rng, 4) + "-" + "".join(rng.choice(al) for _ in range(6)),
                       "FDO" + digits(rng, 4) + "".join(rng.choice(UPPER) for _ in range(4))])


def hexs(rng, n):
    return f"{rng.getrandbits(4 * n):0{n}x}"


@filler("version_old")
def _version_old(rng, ctx):
    major, minor, patch = ctx["ver"]
    return f"{major}.{minor}.{patch}"


@filler("version_new")
def _version_new(rng, ctx):
    major, minor, patch = ctx["ver"]
    return rng.choice([f"{major}.{minor + 1}.0", f"{major}.{minor}.{patch + 1}", f"{major + 1}.0.0"])


filler("semver")(lambda rng, ctx: f"{rng.randint(12, 22)}.{rng.randint(0, 19)}.{rng.randint(0, 9)}")
filler("amount_small")(lambda rng, ctx: f"{rng.randint(8, 99)}.{rng.choice(['00', '50', '90'])}")
filler("sha7")(lambda rng, ctx: hexs(rng, 7))
filler("sha40")(lambda rng, ctx: hexs(rng, 40))
filler("sha256")(lambda rng, ctx: hexs(rng, 64))
filler("hex8")(lambda rng, ctx: hexs(rng, 8).upper())
filler("hex16")(lambda rng, ctx: hexs(rng, 16))
filler("hex32")(lambda rng, ctx: hexs(rng, 32))


@filler("uuid")
def _uuid(rng, ctx):
    h = hexs(rng, 32)
    h = h[:12] + "4" + h[13:16] + rng.choice("89ab") + h[17:]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@filler("aba")
def _aba(rng, ctx):
    d8 = rng.choice(["02", "03", "04", "06", "07", "11", "12", "21", "22", "26", "31", "32"]) + digits(rng, 6)
    w = (3, 7, 1, 3, 7, 1, 3, 7)
    return d8 + str((10 - sum(int(c) * x for c, x in zip(d8, w)) % 10) % 10)


# --- lookalike fillers: each value must be invalid for the kinds it names ---

@filler("bad_id_check", ["cn_id"])
def _bad_id_check(rng, ctx):
    v = gen_cn_id(rng, None, ctx)
    wrong = [c for c in ID_CHECK if c != v[17].upper()]
    return v[:17] + rng.choice(wrong)


BAD_DATES = ["0230", "0231", "0229", "0431", "0631", "0931", "1131", "1301", "0015", "0000", "0732", "1200"]


@filler("bad_id_date", ["cn_id"])
def _bad_id_date(rng, ctx):
    while True:
        year = rng.randint(1950, 2005)
        mmdd = rng.choice(BAD_DATES)
        if mmdd == "0229" and year % 4 == 0:
            continue
        body = rng.choice(ID_REGIONS) + f"{year}{mmdd}" + digits(rng, 3)
        return body + cn_id_check(body)


@filler("bad_id_region", ["cn_id"])
def _bad_id_region(rng, ctx):
    region = rng.choice(["99", "00", "90", "80", "70", "20", "30", "16", "24", "38", "47", "55", "66", "19"]) + digits(rng, 4)
    body = region + ymd(rand_date(rng, 1940, 2005)) + digits(rng, 3)
    return body + cn_id_check(body)


@filler("bad_id_region09", ["cn_id"])
def _bad_id_region09(rng, ctx):
    region = rng.choice(["99", "98", "90", "00", "01", "09"]) + digits(rng, 4)
    body = region + ymd(rand_date(rng, 1940, 2005)) + digits(rng, 3)
    return body + cn_id_check(body)


filler("id17", ["cn_id"])(lambda rng, ctx: gen_cn_id(rng, None, ctx)[:17])


@filler("masked_id", ["cn_id"])
def _masked_id(rng, ctx):
    v = gen_cn_id(rng, None, ctx)
    return rng.choice([v[:6] + "*" * 8 + v[14:], v[:4] + "*" * 10 + v[14:], v[:3] + "*" * 11 + v[14:]])


def luhn_bad(rng, prefix, n):
    body = prefix + digits(rng, n - len(prefix) - 1)
    good = int(luhn_digit(body))
    return body + str((good + rng.randint(1, 9)) % 10)


filler("bad_luhn16", ["bank_card", "credit_card"])(
    lambda rng, ctx: luhn_bad(rng, rng.choice(["4", "51", "53", "55", "3530", "6011", "65", "2223", "62"]), 16))
filler("bad_luhn16_space", ["bank_card", "credit_card"])(
    lambda rng, ctx: group4(luhn_bad(rng, rng.choice(["4", "52", "54", "3566", "62", "6011"]), 16)))
filler("luhn_fail16", ["bank_card", "credit_card"])(
    lambda rng, ctx: luhn_bad(rng, rng.choice("123456789"), 16))


@filler("bad_luhn62", ["bank_card"])
def _bad_luhn62(rng, ctx):
    bin6, n = rng.choice(UNIONPAY_BINS)
    v = luhn_bad(rng, bin6, n)
    return v if rng.random() < 0.5 else group4(v)


@filler("bad_amex15", ["credit_card"])
def _bad_amex15(rng, ctx):
    v = luhn_bad(rng, rng.choice(["34", "37"]), 15)
    return f"{v[:4]} {v[4:10]} {v[10:]}"


@filler("masked_card", ["bank_card", "credit_card"])
def _masked_card(rng, ctx):
    bin6, _ = rng.choice(UNIONPAY_BINS)
    last = digits(rng, 4)
    return rng.choice([f"{bin6[:4]} **** **** {last}", f"{bin6}******{last}", f"{bin6[:4]}********{last}"])


filler("masked_card_en", ["credit_card"])(lambda rng, ctx: f"**** **** **** {digits(rng, 4)}")
filler("masked_mobile", ["cn_mobile"])(lambda rng, ctx: rng.choice(MOBILE_LIST) + "****" + digits(rng, 4))

BAD_MOBILE_PREFIXES = ["100", "101", "102", "104", "110", "111", "112", "120", "121", "123", "140",
                       "141", "142", "143", "144", "154", "160", "161", "163", "164", "168", "169",
                       "179", "194"]
filler("bad_mobile11", ["cn_mobile"])(lambda rng, ctx: rng.choice(BAD_MOBILE_PREFIXES) + digits(rng, 8))
@filler("order11", ["cn_mobile"])
def _order11(rng, ctx):
    p = rng.choice(BAD_MOBILE_PREFIXES + ["2", "3", "5", "7", "9"])
    return p + digits(rng, 11 - len(p))


filler("order12", ["cn_mobile"])(lambda rng, ctx: digits(rng, 12, "123456789"))
filler("order13", ["cn_mobile"])(lambda rng, ctx: "1" + rng.choice("3456789") + digits(rng, 11))
filler("ts10", ["cn_mobile"])(lambda rng, ctx: str(rng.randint(1500000000, 1760000000)))
filler("ts13", ["cn_mobile"])(lambda rng, ctx: str(rng.randint(1500000000, 1760000000) * 1000 + rng.randint(0, 999)))


@filler("ts10_utc", ["cn_mobile"])
def _ts10_utc(rng, ctx):
    t = rng.randint(1500000000, 1760000000)
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=t)
    return f"{t} ({d.strftime('%Y-%m-%d %H:%M:%S')} UTC)"


@filler("dt14", ["cn_mobile", "cn_id"])
def _dt14(rng, ctx):
    d = rand_date(rng, 2022, 2025)
    return ymd(d) + f"{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}"


filler("dt8")(lambda rng, ctx: ymd(rand_date(rng, 2022, 2025)))
filler("inv_code", ["cn_mobile"])(
    lambda rng, ctx: "1" + rng.choice(["4403", "3100", "1100", "4401", "3301", "5101"])
    + str(rng.randint(19, 24)) + digits(rng, 3) + digits(rng, 2))
filler("inv_no")(lambda rng, ctx: "00" + digits(rng, 6))
filler("customs18", ["cn_id"])(lambda rng, ctx: rng.choice(["2201", "5316", "4200", "2233"])
                               + str(rng.randint(2022, 2025)) + "1" + digits(rng, 9))
filler("snowflake", ["cn_id", "bank_card"])(lambda rng, ctx: rng.choice(["17", "18"]) + digits(rng, rng.randint(16, 17)))
filler("zoom", ["cn_mobile"])(lambda rng, ctx: f"8{digits(rng, 2)} {digits(rng, 4)} {digits(rng, 4)}")
filler("ein", ["us_ssn"])(lambda rng, ctx: f"{rng.randint(10, 99)}-{digits(rng, 7)}")


@filler("bad_uscc_check", ["uscc"])
def _bad_uscc_check(rng, ctx):
    b = uscc_body(rng)
    good = uscc_check(b)
    return b + rng.choice([c for c in USCC_ALPHA if c != good])


@filler("bad_uscc_char", ["uscc"])
def _bad_uscc_char(rng, ctx):
    v = gen_uscc(rng, None, ctx)
    i = rng.randint(8, 16)
    return v[:i] + rng.choice("IOSVZ") + v[i + 1:]


@filler("bad_iban_check", ["iban"])
def _bad_iban_check(rng, ctx):
    cc = rng.choice(["DE", "GB", "FR", "NL", "ES", "CH", "IT"])
    good = make_iban(cc, iban_bban(rng, cc))
    cd = int(good[2:4])
    bad = f"{good[:2]}{rng.choice([x for x in range(2, 99) if x != cd]):02d}{good[4:]}"
    return group4(bad) if rng.random() < 0.6 else bad


@filler("cn_iban", ["iban"])
def _cn_iban(rng, ctx):
    return group4("CN" + digits(rng, 2) + digits(rng, 19, "6"))


@filler("iban_badlen", ["iban"])
def _iban_badlen(rng, ctx):
    cc = rng.choice(["GB", "DE"])
    bban = iban_bban(rng, cc)
    bban = bban[:-1] if rng.random() < 0.5 else bban + digits(rng, 1)
    return group4(make_iban(cc, bban))


@filler("bad_ssn", ["us_ssn"])
def _bad_ssn(rng, ctx):
    area = rng.choice(["000", "666", str(rng.randint(900, 999))])
    return f"{area}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


filler("ssn_area000", ["us_ssn"])(lambda rng, ctx: f"000-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}")
filler("ssn_area666", ["us_ssn"])(lambda rng, ctx: f"666-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}")
filler("ssn_area9xx", ["us_ssn"])(lambda rng, ctx: f"9{rng.randint(0, 99):02d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}")


@filler("bad_ssn2", ["us_ssn"])
def _bad_ssn2(rng, ctx):
    area = f"{rng.randint(1, 665):03d}"
    if rng.random() < 0.5:
        return f"{area}-00-{rng.randint(1, 9999):04d}"
    return f"{area}-{rng.randint(1, 99):02d}-0000"


filler("bad_passport_short", ["passport"])(lambda rng, ctx: rng.choice("EG") + digits(rng, 7))
filler("bad_passport_letter", ["passport"])(lambda rng, ctx: "E" + rng.choice("IO") + digits(rng, 7))
filler("mention", ["email"])(lambda rng, ctx: "@" + rng.choice(["li.na", "wangfang", "chen.jing", "zhao.lei",
                                                                 "ops-oncall", "it-helpdesk", "qa_team"]))

# ---------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------

PII_ZH = [
    "员工入职登记表\n姓名：{~zhname}\n身份证号码：{cn_id/adult}\n联系电话：{cn_mobile}\n个人邮箱：{email/zhp}\n入职日期：{~date_zh}",
    "您好，我是{~zhname}，订单配送有问题，麻烦回电 {cn_mobile/dash}，谢谢。",
    "工资卡信息变更：原卡号作废，新卡号 {bank_card/space}，开户行{~bank_zh}{~city_zh}分行。",
    "请将签字后的合同扫描件发送至 {email/zhp}，并抄送法务部。",
    "甲方：{~company_zh}（统一社会信用代码：{uscc/co}）\n乙方：{~company_zh2}（统一社会信用代码：{uscc/co}）",
    "出差人员{~zhname}，护照号码 {passport}，有效期至{~date_zh_future}，请行政协助办理签证。",
    "客服：请提供一下预留手机号。\n用户：{cn_mobile/space}。身份证最后一位是X，全号是{cn_id/ux_adult}。",
    "报销打款账户：{~zhname}，{~bank_zh}，{bank_card}。报销金额{~amount_cny}。",
    "【快递】您的包裹已由{~courier}揽收，运单号{~waybill_sf}，收件人手机 {cn_mobile/p86}。",
    "供应商资质审核：{~company_zh}，统一社会信用代码 {uscc/co}，对接人邮箱 {email/work}。",
    "会议纪要\n与会人员联系方式：{~zhname} {cn_mobile}；{~zhname2} {email/zhp2}。",
    "住宿登记：{~zhname}，证件类型 居民身份证，证件号码 {cn_id/lx}，入住日期{~date_zh}，房号 1208。",
    "境外汇款信息：收款人 {~enname}，IBAN {iban/de_print}，SWIFT {~bic_de}，用途：货款。",
    "我的微信就是手机号 {cn_mobile}，加的时候备注一下公司名。",
    "团队签证名单：1. {~zhname}，护照号 {passport/e8}；2. {~zhname2}，护照号 {passport/el7}。",
    "用户反馈：信用卡 {credit_card/visa_space} 在境外网站被盗刷，已申请冻结。联系手机 {cn_mobile}。",
    "请于{~date_zh}前将押金退至以下账户：户名 {~zhname}，卡号 {bank_card/plain}。",
    "学生家长联系表：{~zhname}（父亲）{cn_mobile/dash}；{~zhname2}（母亲）{cn_mobile/space}",
    "经核实，投诉人{~zhname}（身份证号{cn_id}）反映的问题属实，已转交属地处理。",
    "发件人：{email/zhp}\n主题：请假申请\n本人因家中有事，申请{~date_zh}请假一天，期间可电话联系 {cn_mobile}。",
    "劳动合同\n乙方（劳动者）：{~zhname}\n居民身份证号码：{cn_id/adult}\n通讯地址：{~addr_zh}\n联系电话：{cn_mobile/n86}\n电子邮箱：{email/zhp}",
    "开票信息：名称 {~company_zh}；纳税人识别号 {uscc/co}；地址电话 {~addr_zh}；开户行 {~bank_zh}。",
    "面试安排：候选人{~zhname}，电话 {cn_mobile}，简历邮箱 {email}，面试时间{~date_zh} 14:30。",
    "退税申请表\n收款账户：{bank_card/space}（{~bank_zh}）\n申请人证件号：{cn_id}",
    "跨境电商客户资料：Email: {email/en}；Tel: {phone}；收货城市：{~city_en}。",
    "因公出国（境）人员备案：{~zhname}，因私护照 {passport/g8}，目的地 新加坡，出行日期{~date_zh}。",
    "机票预订确认：乘机人 {~zhname}，证件 护照 {passport}，联系电话 {cn_mobile/pp86}。",
    "贷款申请：借款人{~zhname}，身份证{cn_id/adult}，还款卡号{bank_card}，联系电话{cn_mobile}。",
    "尊敬的客户，您的信用卡（卡号 {credit_card/mc_space}）本期账单已出，最低还款额{~amount_cny}。",
    "网点投诉记录：客户称其名下银行卡 {bank_card/space} 被误冻结，联系方式 {cn_mobile/space}。",
    "HR系统导出：工号 {~empid}，姓名 {~zhname}，身份证 {cn_id/adult}，邮箱 {email/zhp}",
    "{~mention} 帮忙把新同事加到通讯录：{~zhname}，{cn_mobile/dash}，{email/zhp}",
    "租房合同附件：出租方身份证号 {cn_id/adult}，承租方身份证号 {cn_id/adult}。",
    "法人信息：{~company_zh}，统一社会信用代码{uscc/co}，法定代表人{~zhname}，身份证号{cn_id/adult}，联系电话{cn_mobile/dash}。",
    "海外供应商付款：收款行 Banco Santander，账户 {iban/es_elec}，请财务在{~date_zh}前完成付款。",
    "客户在电话里说：“我手机是一三八……算了我打字吧，{cn_mobile}。”",
    "快递面单：寄件人 {~zhname} {cn_mobile}；收件人 {~zhname2} {cn_mobile/dash}；物品：文件。",
    "您的注册邮箱 {email/qq} 已绑定成功，如非本人操作请拨打客服热线 400-{~d3}-{~d4}。",
    "社保转移申请：参保人{~zhname}，公民身份号码{cn_id/lx}，原参保地{~city_zh}。",
    "银行回单 付款人：{~zhname} 付款账号：{bank_card} 收款人：{~company_zh} 金额：{~amount_cny} 摘要：货款",
    "请注意：客户{~zhname}的美国社会安全号码 {us_ssn} 仅用于税务申报，不得外传。",
    "留学申请材料清单：护照首页（护照号 {passport}）、成绩单、推荐信。联系人邮箱 {email/zhp}。",
    "账号找回：系统已向 {email/zhp} 和 {cn_mobile/space} 发送验证码，验证码5分钟内有效。",
    "工程款结算单：施工单位 {~company_zh}（{uscc/co}），结算金额 {~amount_cny}，结算日期 {~date_zh}。",
    "门诊预约：就诊人 {~zhname}，证件号 {cn_id}，预约时间 {~date_zh} 上午，短信通知至 {cn_mobile}。",
    "香港办事处联系人：{~zhname}，电话 {phone/hk}，邮箱 {email/workzh}。",
    "客户来电挂失信用卡 {credit_card/amex_space}，挂失时间 {~date_zh} 21:40，已冻结。",
    "转账失败提示：收款卡号 {bank_card/plain} 与户名{~zhname}不符，请核对后重试。",
    "招聘网站投递：应聘者{~zhname}，手机{cn_mobile}，邮箱{email/zhp}",
    "我司银行账户变更函\n致各合作伙伴：自{~date_zh}起，{~company_zh}（统一社会信用代码{uscc/co}）的收款账户变更，请以新账户为准。",
    "签证中心通知：申请人 {~zhname} 的护照 {passport/el7} 已可领取，请携带身份证原件。",
    "亲戚在德国，汇款单上写的是 {iban/de_print}，这个账号对吗？我的手机 {cn_mobile}。",
    "车险投保单：投保人{~zhname}，身份证号码{cn_id/adult}，手机号码{cn_mobile/dash}，车牌号 {~plate}。",
    "值班表：{~date_zh} 白班 {~zhname} {cn_mobile}，夜班 {~zhname2} {cn_mobile/p86s}。",
    "客户把日本分公司的电话发来了：{phone/jp}，对接人邮箱 {email/en}。",
    "物业登记：业主{~zhname}，房号 {~room}，手机 {cn_mobile/space}，车位 B2-{~d3}。",
    "个税专项附加扣除 子女教育：子女身份证号 {cn_id/child}；纳税人{~zhname2}，身份证号 {cn_id/ux_adult}。",
    "学术会议注册：{~zhname}，单位邮箱 {email/edu}，护照号（境外参会者填写）{passport}。",
    "网购收货信息：{~addr_zh}，{~zhname}，{cn_mobile/p86s}",
    "支付记录：客户尾号{~last4}的借记卡在该境外商户交易失败，改用 JCB 卡 {credit_card/jcb_space} 完成支付。",
    "医院名称：{~city_zh}市第三人民医院，统一社会信用代码 {uscc/inst}，设备科联系人 {~zhname}，电话 {cn_mobile}。",
    "社会组织年检：{~city_zh}市软件行业协会，统一社会信用代码 {uscc/org}，秘书长邮箱 {email/workzh}。",
    "代扣协议\n扣款人：{~zhname}\n身份证号：{cn_id/adult}\n扣款卡号：{bank_card}\n预留手机：{cn_mobile/p86d}",
]

PII_EN = [
    "Hi team, please update my direct deposit to IBAN {iban/gb_print}. Thanks, {~enname}",
    "Name: {~enname}\nSSN: {us_ssn}\nDate of hire: {~date_en}\nPersonal email: {email/enp}\nMobile: {phone/us}",
    "Customer: my card {credit_card/visa_space} was charged twice for order {~order_en}.\nAgent: Sorry about that, I'll open a dispute now.",
    "You can reach me on {phone/uk} or at {email/enp} any time after 3 pm.",
    "Traveller: {~zhname_py}, PRC passport no. {passport}, expires {~date_en_future}.",
    "Please wire the deposit to {~enname}, IBAN {iban/de_print}, BIC {~bic_de}.",
    "Per our call, the contractor's SSN is {us_ssn} and the W-9 is on file.",
    "Shipping contact: {~enname}, {phone/us}, {email/enp}",
    "Employee record {~empid}: {~enname}, SSN {us_ssn}, emergency contact {phone/us}.",
    "Refund issued to Amex {credit_card/amex_space} on {~date_en}; reference {~ref_en}.",
    "The visa application for {~zhname_py} lists PRC passport {passport/g8} and a Shanghai mobile, {cn_mobile/p86s}.",
    "Invoice {~inv_en} is payable to {~company_en}, account {iban/fr_print}. Contact billing at {email/work}.",
    "Chat transcript\n[10:02] Customer: my new number is {phone/sg}\n[10:03] Agent: Thanks, I have updated your profile.",
    "Please charge my Mastercard {credit_card/mc_dash}, exp 09/27, for the conference fee of $450.",
    "Dear HR, my bank details have changed: IBAN {iban/nl_elec}. Kind regards, {~enname}",
    "Beneficiary: {~enname}\nIBAN: {iban/es_print}\nAmount: EUR 2,350.00\nReference: {~wire_ref}",
    "Forwarding {~enname}'s details for the background check: SSN {us_ssn}, personal email {email/enp}, mobile {phone/us}.",
    "Hotel booking for our colleague from Beijing: guest {~zhname_py}, passport {passport}, contact {email/zhp}.",
    "If anything comes up while I'm in Tokyo, call my hotel line {phone/jp}.",
    "Hi, this is {~enname} from accounts. The customer's card on file is {credit_card/jcb_plain}; please do not paste it into the ticket.",
    "Payroll exception: employee {~enname} (SSN {us_ssn}) was paid into IBAN {iban/ch_print} instead of the new account.",
    "Lease agreement\nTenant: {~enname}\nEmail: {email/enp}\nPhone: {phone/us}\nSSN (for the credit check): {us_ssn}",
    "Ticket {~ticket}: user reports that password reset mails to {email} never arrive.",
    "Vendor onboarding form\nCompany: {~company_zh_en}\nUnified Social Credit Code: {uscc/co}\nContact email: {email/work}",
    "Our Shenzhen supplier's USCC is {uscc/sz}; a copy of the business licence is attached.",
    "Customer service log: caller verified identity with the last card used, {credit_card/disc_space}.",
    "The new hire from Beijing provided her resident ID {cn_id/adult} and UnionPay card {bank_card/space} for payroll.",
    "Reminder: {~enname}'s Discover card {credit_card/disc_plain} expires next month.",
    "Please send the signed NDA to {email/enp} and cc {email/work}.",
    "Customer: can you call me back at {phone/au}?\nAgent: Sure, someone will call within 24 hours.",
    "Travel roster: {~zhname_py} - passport {passport/el7}; {~zhname_py2} - passport {passport/e8}.",
    "Payment memo: transfer EUR 12,400.00 to {iban/it_print} for supplier invoice {~inv_en}.",
    "From: {email/enp}\nTo: {email/work}\nSubject: Updated W-4\n\nHi, attached is my updated form.",
    "Applicant SSN: {us_ssn}    Applicant phone: {phone/us_dash}    Applicant email: {email/enp}",
    "Please don't post card numbers in Slack. Someone just pasted {credit_card/visa_plain} in #general.",
    "Account holder {~enname}, IBAN {iban/gb_elec}; the sort code is part of the IBAN.",
    "Our Hong Kong office: {phone/hk}. After hours, email {email/work}.",
    "Contact {~enname} on {phone/de30} about the Berlin lease.",
    "Cardholder: {~enname}\nCard: {credit_card/mc2_space}\nBilling city: {~city_en}\nEmail for receipts: {email/enp}",
    "The customer from Shanghai left a callback number {cn_mobile/dash} and an email address, {email/qq}.",
    "Tax IDs: the US employee's SSN is {us_ssn}; the Chinese employee's resident ID is {cn_id/ux_adult}.",
    "Please use the IBAN exactly as printed on the invoice: {iban/de_print}.",
    "Reservation for 2 guests under {~enname}, phone {phone/fr}, arriving Friday.",
    "Fraud alert: card {credit_card/amex_dash} was used in 3 countries within 2 hours.",
    "Please update the supplier master data: IBAN {iban/es_elec}, remittance email {email/work}.",
    "Student record: {~enname}, email {email/edu_en}, emergency phone {phone/uk}.",
    "The customer's PRC ID card number {cn_id/lx} does not match the name on the account.",
    "Re: refund\nPlease send the refund to my UnionPay card {bank_card} - I no longer use the Visa.",
    "Insurance claim form\nPolicyholder SSN: {us_ssn}\nContact: {email/enp}",
    "I'm travelling on passport {passport} until the renewal comes through; my Korean number is {phone/kr}.",
    "Conference speakers: {~enname} <{email/enp}>, {~enname2} <{email/enp2}>",
    "Leave a voicemail at {phone/in} if the Mumbai office does not answer.",
    "Merchant dispute: transaction on {credit_card/visa_dash} for $89.99 on {~date_en}.",
    "Employee {~enname} asked that bonus payments go to IBAN {iban/nl_print}.",
    "Call log 14:05, inbound from {phone/tw}; the caller asked about the shipment to Taipei.",
    "Contract party B: {~company_zh_en}, USCC {uscc/co}, represented by {~zhname_py}.",
    "KYC checklist: passport {passport/g8} (PRC), proof of address, and a mobile number: {cn_mobile/p86}.",
    "Your verification code was sent to {email/enp} and {phone/us_e164}.",
    "Dependents: {~enname} - SSN {us_ssn}; {~enname2} - SSN {us_ssn}.",
    "Forwarded message: \"Hi, my card number is {credit_card} and the billing zip is 94107.\"",
    "Wire to our Zurich partner: IBAN {iban/ch_elec}, contact {~enname}, {phone/ch}.",
]

LOOK_ZH = [
    "系统提示：身份证号 {~bad_id_check} 校验位不正确，请重新输入。",
    "证件号 {~bad_id_date} 中的出生日期不存在，资料已退回申请人补正。",
    "测试数据说明：行政区划代码无效的号码（如 {~bad_id_region}）不是合法的身份证号。",
    "订单号 {~order13}，下单时间 {~dt_zh}，请在24小时内完成付款。",
    "您的顺丰运单号 {~waybill_sf}，预计明天送达，请保持电话畅通。",
    "发票代码 {~inv_code} 发票号码 {~inv_no}，开票日期 {~date_zh}，价税合计 {~amount_cny}。",
    "日志：ts={~ts13} level=INFO msg=任务完成 cost=235ms",
    "接口返回 code=0，timestamp={~ts10}，message=success。",
    "备份文件名：db_backup_{~dt14}.tar.gz，大小 3.2GB。",
    "本季度营业收入 {~amount_big} 元，同比增长 12.5%。",
    "请把客户端升级到 {~version_new}，旧版本 {~version_old} 将于下月停止支持。",
    "服务器 {~ipv4} 的 22 端口被扫描，来源 IP {~ipv4}，已加入黑名单。",
    "图书馆新到《深度学习》，ISBN {~isbn}，索书号 TP181/{~d3}。",
    "设备序列号 {~serial}，保修截止 {~date_zh}。",
    "统一社会信用代码 {~bad_uscc_check} 校验失败，请核对营业执照原件。",
    "营业执照上的代码 {~bad_uscc_char} 含有编码规则不允许的字母，系统无法识别。",
    "这个 IBAN {~bad_iban_check} 校验不通过，银行已退回汇款。",
    "中国不使用 IBAN，像 {~cn_iban} 这种格式是客户自己拼出来的。",
    "客服热线 400-{~d3}-{~d4}，工作时间 9:00-18:00。",
    "公司总机 {~area_zh}-{~d8}，转分机 {~d4}。",
    "卡号 {~bad_luhn62} 未通过校验，请确认是否输错。",
    "交易流水号 {~luhn_fail16}，请妥善保存以备查询。",
    "您的银行卡 {~masked_card} 于 {~dt_zh} 消费 {~amount_cny}。",
    "尊敬的用户，您的手机号 {~masked_mobile} 已完成实名认证。",
    "身份证号为 {~masked_id} 的申请人已通过审核。",
    "会员卡号 {~bad_mobile11}，积分 {~d4}，有效期至 {~date_zh}。",
    "商品条码 {~ean13}，规格 500ml×12，单价 ¥{~amount_small}。",
    "公司注册地邮编 {~postcode}，股票代码 {~stock}。",
    "航班 CA{~d4} 于 {~time} 起飞，登机口 {~gate}。",
    "车次 G{~d4}，{~date_zh} {~time} 开，{~d1}车{~d1}F座。",
    "{~mention} 麻烦看下这个工单，用户反馈导出失败。",
    "邮箱格式统一为：姓名拼音 at 公司域名 dot com，例如 zhangsan at example dot com。",
    "提交 {~sha40} 已合入 main 分支，流水线编号 {~d4}。",
    "请求 ID：{~uuid}，请附在工单中以便排查。",
    "安装包 SHA-256：{~sha256}",
    "护照号码应为 9 位，您输入的 {~bad_passport_short} 位数不对，请核对护照资料页。",
    "对账单：期末余额 {~amount_big} 元，币种 CNY，账单日 {~date_zh}。",
    "监控告警 {~dt_zh}：CPU 使用率 97%，主机 {~ipv4}，告警编号 {~alert_id}。",
    "京东物流跟踪号 {~tracking_jd}，当前状态：运输中。",
    "合同编号 HT-{~dt8}-{~d4}，合同金额 {~amount_cny}。",
    "验证码 {~d6}，5分钟内有效，请勿泄露给他人。",
    "医保结算单号 {~order13}，个人自付 {~amount_cny}。",
    "测试用例：输入卡号 {~bad_luhn16_space}，预期结果：提示卡号无效。",
    "运营日报：今日新增用户 {~d4} 人，累计注册 {~count_big} 人。",
    "门店坐标 31.{~d6}, 121.{~d6}，定位误差 5 米。",
    "快递柜取件码 {~d8}，请于 {~date_zh} 前取件。",
    "身份证号 {~id17} 少了一位，请补全后再提交。",
    "表单校验：社会安全号码 {~ssn_area9xx} 无效，9 开头的区号从未发放。",
    "报关单号 {~customs18}，申报日期 {~date_zh}，状态：已放行。",
    "订单 {~order11} 已发货，物流公司 {~courier}。",
    "商品编码 {~sku}，库存 {~d3} 件。",
    "电费户号 {~d10}，本月用电 {~d3} 度，应缴 {~amount_cny}。",
    "对方给的 IBAN 位数不对：{~iban_badlen}，请让对方重新提供。",
    "话费充值：为号码 {~masked_mobile} 充值 100 元，订单号 {~order12}。",
    "门禁卡 UID {~hex8}，开通 A3 区权限。",
    "数据库主键 {~snowflake}，分片键 {~d4}。",
    "会议号 {~zoom}，入会密码 {~d6}。",
    "护照照片要求：尺寸 33×48 毫米，白色背景。注意护照号码中不会出现字母 I 和 O，形如 {~bad_passport_letter} 的号码会被系统拒绝。",
    "信用卡测试：美国运通格式的 {~bad_amex15} 不满足 Luhn 校验。",
    "采购申请单 PR-{~dt8}-{~d3}，预算 {~amount_cny}，审批人 {~mention}。",
    "美国同事说 {~ssn_area666} 这种以 666 开头的号码不会被分配为社会安全号码。",
]

LOOK_EN = [
    "Order #{~order12} shipped on {~date_en} via UPS, tracking {~ups}.",
    "Test card {~bad_luhn16_space} was declined: invalid card number (checksum).",
    "Unix timestamp {~ts10_utc} is when the job started.",
    "Build {~version} ({~sha7}) was released at {~dt_iso}.",
    "Server {~ipv4} returned 503; the load balancer retried on {~ipv4}.",
    "ISBN {~isbn}, second edition, 432 pages.",
    "Serial number: {~serial}. Warranty valid until {~date_en}.",
    "Revenue for FY2024 was ${~amount_big}, up 8.3% year over year.",
    "The form rejected {~ssn_area9xx} because area numbers starting with 9 are never issued.",
    "IBAN {~bad_iban_check} failed validation: the check digits do not match.",
    "Request ID {~uuid} - please include it when contacting support.",
    "Commit {~sha40} fixes the race condition in the scheduler.",
    "SHA-256 checksum: {~sha256}",
    "Ping {~mention} for review, cc {~mention}.",
    "For questions, write to support at example dot org (spelled out to avoid spam bots).",
    "Call our toll-free line (800) {~d3}-{~d4} for billing questions.",
    "Office switchboard: 020 7946 {~d4}, ext. {~d3}.",
    "Invoice no. {~inv_en}, due {~date_en}, amount {~amount_usd}.",
    "2024-12-05T09:30:15.123Z INFO worker={~d4} job={~d6} ts={~ts13}",
    "Backup file backup_{~dt14}.sql.gz was uploaded to the archive bucket.",
    "Card {~masked_card_en} was charged $42.10.",
    "Replacement filter, model {~ssn_area000}, fits all units made after 2019.",
    "Lab sample {~bad_ssn} was logged at {~time} and sent for analysis.",
    "Routing number {~aba}, account ending {~last4}.",
    "FedEx tracking number {~tracking_fedex}, estimated delivery {~date_en}.",
    "Customer ID {~d10} has 3 open tickets.",
    "USCC {~bad_uscc_check} was rejected by the registry: wrong check character.",
    "Field too short: {~id17} has only 17 digits, a resident ID has 18.",
    "Resident ID {~bad_id_date} was rejected because the embedded birth date does not exist.",
    "Region codes starting with 9 or 0 are unassigned, so {~bad_id_region09} cannot be a resident ID.",
    "Resident ID {~bad_id_check} has a bad check digit; ask the customer to re-enter it.",
    "Passport field error: {~bad_passport_short} is too short for a PRC passport number.",
    "Store location: latitude 37.{~d4}, longitude -122.{~d4}.",
    "We upgraded the cluster from {~version_old} to {~version_new} last night.",
    "Amount in figures: {~amount_big}; amount in words attached.",
    "MAC address {~mac} is whitelisted on the guest Wi-Fi.",
    "IPv6 prefix {~ipv6} is assigned to the lab network.",
    "Session token {~hex32} expires in 15 minutes.",
    "Meeting ID {~zoom}, passcode {~d6}.",
    "Flight UA{~d3} departs at {~time}, seat 32C.",
    "ERROR 0x{~hex8} at address 0x{~hex16}",
    "Unicode code point U+4E2D is the character for 'middle'.",
    "Badge {~badge} was deactivated on {~date_en}.",
    "Ticket {~ticket} resolved; root cause was an expired certificate.",
    "Our EIN is {~ein}; use it on the W-9 for the company.",
    "Amex-format number {~bad_amex15} fails the Luhn check.",
    "Gift card code {~gift16} can be redeemed online.",
    "Your order {~order13} is ready for pickup at store #{~d3}.",
    "Date and time stamp: {~dt14} (YYYYMMDDhhmmss).",
    "Case number {~bad_ssn2} has been assigned to the claims team.",
    "Wire reference {~wire_ref}, value date {~date_en}.",
    "SWIFT code {~swift}, branch code {~d3}.",
    "Addresses like admin@localhost are not routable from outside the cluster.",
    "Install the types with npm i -D @types/node@{~semver} before building.",
    "docker pull nginx@sha256:{~sha256}",
    "The reference {~cn_iban} is not an IBAN: China does not use the IBAN format.",
    "Customs declaration no. {~customs18}, cleared on {~date_en}.",
    "Batch {~dt8}-{~d3}, lot {~lot}, expiry {~date_en}.",
    "Your one-time code is {~d6}. It expires in 10 minutes.",
    "Card number {~luhn_fail16} failed the checksum; the payment was not attempted.",
    "Quarterly totals: {~count_big} orders, {~d3} returns, {~amount_usd} refunded.",
]

# ---------------------------------------------------------------------------
# Rendering and checks
# ---------------------------------------------------------------------------

PH_RE = re.compile(r"\{(~?)([a-z0-9_]+)(?:/([a-z0-9_]+))?\}")
PASSPORT_WORDS = ("护照", "passport")


def render(tpl, rng):
    ctx = new_ctx(rng)
    parts, spans, baits = [], [], []
    pos = last = 0
    for m in PH_RE.finditer(tpl):
        lit = tpl[last:m.start()]
        parts.append(lit)
        pos += len(lit)
        tilde, name, style = m.groups()
        if tilde:
            fn, mimic = FILL[name]
            val = fn(rng, ctx)
            if mimic:
                baits.append((val, mimic))
        else:
            val = GEN[name](rng, style, ctx)
            spans.append({"kind": name, "start": pos, "end": pos + len(val)})
        parts.append(val)
        pos += len(val)
        last = m.end()
    parts.append(tpl[last:])
    return "".join(parts), spans, baits


def problems(text, spans, baits, label, lang):
    errs = []
    if "{" in text or "}" in text:
        errs.append("unrendered placeholder")
    if lang == "zh" and not CJK.search(text):
        errs.append("zh text without Chinese")
    if lang == "en" and CJK.search(text):
        errs.append("en text with Chinese")
    if label == "pii" and not 1 <= len(spans) <= 3:
        errs.append(f"{len(spans)} spans")
    if label == "lookalike" and (spans or not re.search(r"[0-9@]| at ", text)):
        errs.append("lookalike with spans or without any digit, @ or ' at '")
    prev_end = -1
    for sp in spans:
        v = text[sp["start"]:sp["end"]]
        if sp["start"] < prev_end:
            errs.append("overlapping spans")
        prev_end = sp["end"]
        if not VALID[sp["kind"]](v):
            errs.append(f"invalid {sp['kind']} {v!r}")
        if sp["kind"] == "passport":
            before = text[max(0, sp["start"] - 30):sp["start"]].lower()
            if not any(w in before for w in PASSPORT_WORDS):
                errs.append(f"passport {v!r} without keyword")
        # the span must not start or end inside a longer alphanumeric token
        if sp["start"] > 0 and text[sp["start"] - 1].isascii() and text[sp["start"] - 1].isalnum():
            errs.append(f"span {v!r} glued to previous token")
        if sp["end"] < len(text) and text[sp["end"]].isascii() and text[sp["end"]].isalnum():
            errs.append(f"span {v!r} glued to next token")
    for val, kinds in baits:
        for k in kinds:
            if VALID[k](val):
                errs.append(f"lookalike {val!r} is a valid {k}")
    hits = scan(text)
    for kind, s, e in hits:
        if not any(sp["kind"] == kind and sp["start"] <= s and e <= sp["end"] for sp in spans):
            errs.append(f"undeclared {kind} {text[s:e]!r}")
    for sp in spans:
        if not any(k == sp["kind"] and sp["start"] <= s and e <= sp["end"] for k, s, e in hits):
            errs.append(f"scanner misses {sp['kind']} {text[sp['start']:sp['end']]!r}")
    return errs


def build_one(tpl, rng, label, lang):
    errs = []
    for _ in range(300):
        text, spans, baits = render(tpl, rng)
        errs = problems(text, spans, baits, label, lang)
        if not errs:
            return text, spans
    raise SystemExit(f"template never validated ({label}/{lang}): {tpl!r}\n  {errs}")


def build(seed=SEED):
    rng = random.Random(seed)
    groups = [("pii", "zh", PII_ZH), ("pii", "en", PII_EN),
              ("lookalike", "zh", LOOK_ZH), ("lookalike", "en", LOOK_EN)]
    records = []
    seen = {}
    for label, lang, templates in groups:
        for i, tpl in enumerate(templates):
            text, spans = build_one(tpl, rng, label, lang)
            if text in seen:
                raise SystemExit(f"duplicate text: {text!r}")
            seen[text] = True
            records.append({"lang": lang, "label": label, "split": "dev" if i % 2 == 0 else "test",
                            "text": text, "spans": spans})
    out = []
    for n, r in enumerate(records, 1):
        out.append({"id": f"pii-{n:03d}", "lang": r["lang"], "label": r["label"], "split": r["split"],
                    "text": r["text"], "spans": r["spans"]})
    return out


def summarize(records):
    by = {}
    kinds = {k: 0 for k in KINDS}
    kinds_by_lang = {}
    for r in records:
        key = (r["label"], r["lang"], r["split"])
        by[key] = by.get(key, 0) + 1
        for sp in r["spans"]:
            kinds[sp["kind"]] += 1
            kinds_by_lang[(sp["kind"], r["lang"])] = kinds_by_lang.get((sp["kind"], r["lang"]), 0) + 1
    return by, kinds, kinds_by_lang


def self_test():
    """Known-answer checks for the validators."""
    assert valid_cn_id("11010519491231002X") and valid_cn_id("11010519491231002x")
    assert not valid_cn_id("110105194912310021")
    assert valid_uscc("91350100M000100Y43") and not valid_uscc("91350100M000100Y44")
    assert valid_iban("DE89 3704 0044 0532 0130 00") and valid_iban("GB82WEST12345698765432")
    assert valid_iban("FR1420041010050500013M02606") and valid_iban("NL91ABNA0417164300")
    assert valid_iban("ES9121000418450200051332") and valid_iban("CH9300762011623852957")
    assert valid_iban("IT60X0542811101000000123456")
    assert not valid_iban("DE88 3704 0044 0532 0130 00")
    assert valid_credit_card("4111 1111 1111 1111") and valid_credit_card("378282246310005")
    assert valid_credit_card("5555-5555-5555-4444") and valid_credit_card("6011111111111117")
    assert valid_credit_card("3530111333300000") and valid_credit_card("2221000000000009")
    assert not valid_credit_card("4111111111111112")
    assert valid_us_ssn("123-45-6789") and not valid_us_ssn("666-12-3456") and not valid_us_ssn("912-34-5678")
    assert valid_cn_mobile("+86 138 1234 5678") and valid_cn_mobile("(+86)13812345678")
    assert not valid_cn_mobile("14012345678")
    assert valid_phone("+1 415 555 2671") and valid_phone("+44 20 7946 0958") and valid_phone("+49 30 901820")
    assert valid_phone("+81 3-1234-5678") and valid_phone("+852 2123 4567") and valid_phone("+65 6123 4567")
    assert not valid_phone("+86 138 1234 5678")
    assert valid_passport("E12345678") and valid_passport("EA1234567") and not valid_passport("EO1234567")
    assert valid_email("zhang.wei+hr@mail.hengtai-group.com.cn") and not valid_email("@li.na")
    # Spanish / French / Italian national check digits match the published examples
    assert es_dc("00" + "2100" + "0418") == "4" and es_dc("0200051332") == "5"
    assert it_cin("0542811101000000123456") == "X"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true",
                    help="regenerate in memory and fail if the file at --out differs")
    args = ap.parse_args()
    self_test()
    records = build()
    by, kinds, kinds_by_lang = summarize(records)
    for label in ("pii", "lookalike"):
        n = sum(v for (lb, _, _), v in by.items() if lb == label)
        if n < MIN_PER_LABEL:
            raise SystemExit(f"only {n} {label} texts")
    for k in KINDS:
        if kinds[k] < MIN_PER_KIND:
            raise SystemExit(f"kind {k} appears only {kinds[k]} times")
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if args.check:
        try:
            with open(args.out, encoding="utf-8", newline="") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != payload:
            print(f"{args.out} is out of date; rerun scripts/make_guard_pii_set.py", file=sys.stderr)
            return 1
        print(f"{os.path.relpath(args.out, ROOT)} is up to date ({len(records)} records)")
        return 0
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(payload)
    # read back and re-check every span against the written text
    with open(args.out, encoding="utf-8") as f:
        back = [json.loads(line) for line in f]
    assert back == records
    for r in back:
        for sp in r["spans"]:
            assert VALID[sp["kind"]](r["text"][sp["start"]:sp["end"]]), r["id"]
    print(f"wrote {len(records)} records to {os.path.relpath(args.out, ROOT)}")
    for key in sorted(by):
        print("  %-9s %-2s %-4s %3d" % (key + (by[key],)))
    print("  spans per kind: " + ", ".join(
        f"{k} {kinds[k]} (zh {kinds_by_lang.get((k, 'zh'), 0)}, en {kinds_by_lang.get((k, 'en'), 0)})" for k in KINDS))


if __name__ == "__main__":
    sys.exit(main())
