//! Personal data, found by validation rather than by shape.
//!
//! A bare pattern for "18 digits" flags every order number; a bank's
//! compliance team stops reading such alerts within a week. Each candidate
//! here is cut out of the text by a small scanner (digit groups, letter
//! and digit runs, e-mail addresses) and kept only if it *validates*: a
//! resident ID needs a real province, a real birth date and its MOD 11-2
//! check character; a card its issuer range and Luhn digit; a credit code
//! its GB 32100 check character; an IBAN its country length and mod 97.
//! Numbers behind an order, invoice or tracking label are not taken for
//! phone or card numbers.
//!
//! Offsets are original character offsets (see [`crate::normalize`]): the
//! scanner reads the width-folded text, so `１３８…` is found too.

pub mod validate;

use crate::normalize::{Depth, Folded};
use serde::Serialize;
use validate as v;

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    /// Mainland resident identity number (GB 11643).
    CnId,
    /// Mainland mobile number.
    CnMobile,
    /// Mainland bank card (China UnionPay, Luhn).
    BankCard,
    /// International credit card (Visa, Mastercard, Amex, JCB, Discover,
    /// Diners; Luhn).
    CreditCard,
    /// Unified social credit code (GB 32100).
    Uscc,
    /// Passport number (mainland formats, next to a passport label).
    Passport,
    /// E-mail address.
    Email,
    /// US social security number.
    UsSsn,
    /// International bank account number (mod 97).
    Iban,
    /// International phone number (`+` and an E.164 country code).
    Phone,
}

impl PiiKind {
    /// Every kind.
    pub const ALL: [PiiKind; 10] = [
        PiiKind::CnId,
        PiiKind::CnMobile,
        PiiKind::BankCard,
        PiiKind::CreditCard,
        PiiKind::Uscc,
        PiiKind::Passport,
        PiiKind::Email,
        PiiKind::UsSsn,
        PiiKind::Iban,
        PiiKind::Phone,
    ];

    /// The kind's name (the rule id is `pii.NAME`).
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::CnId => "cn_id",
            PiiKind::CnMobile => "cn_mobile",
            PiiKind::BankCard => "bank_card",
            PiiKind::CreditCard => "credit_card",
            PiiKind::Uscc => "uscc",
            PiiKind::Passport => "passport",
            PiiKind::Email => "email",
            PiiKind::UsSsn => "us_ssn",
            PiiKind::Iban => "iban",
            PiiKind::Phone => "phone",
        }
    }

    /// The rule id, `pii.NAME`.
    pub fn rule(self) -> &'static str {
        match self {
            PiiKind::CnId => "pii.cn_id",
            PiiKind::CnMobile => "pii.cn_mobile",
            PiiKind::BankCard => "pii.bank_card",
            PiiKind::CreditCard => "pii.credit_card",
            PiiKind::Uscc => "pii.uscc",
            PiiKind::Passport => "pii.passport",
            PiiKind::Email => "pii.email",
            PiiKind::UsSsn => "pii.us_ssn",
            PiiKind::Iban => "pii.iban",
            PiiKind::Phone => "pii.phone",
        }
    }

    /// The placeholder label, in Chinese and in English.
    pub fn label(self, chinese: bool) -> &'static str {
        match (self, chinese) {
            (PiiKind::CnId, true) => "身份证号",
            (PiiKind::CnId, false) => "ID-NUMBER",
            (PiiKind::CnMobile, true) => "手机号",
            (PiiKind::CnMobile, false) => "MOBILE",
            (PiiKind::BankCard, true) => "银行卡号",
            (PiiKind::BankCard, false) => "BANK-CARD",
            (PiiKind::CreditCard, true) => "信用卡号",
            (PiiKind::CreditCard, false) => "CREDIT-CARD",
            (PiiKind::Uscc, true) => "统一社会信用代码",
            (PiiKind::Uscc, false) => "CREDIT-CODE",
            (PiiKind::Passport, true) => "护照号",
            (PiiKind::Passport, false) => "PASSPORT",
            (PiiKind::Email, true) => "邮箱",
            (PiiKind::Email, false) => "EMAIL",
            (PiiKind::UsSsn, true) => "社会安全号",
            (PiiKind::UsSsn, false) => "SSN",
            (PiiKind::Iban, true) => "IBAN",
            (PiiKind::Iban, false) => "IBAN",
            (PiiKind::Phone, true) => "电话",
            (PiiKind::Phone, false) => "PHONE",
        }
    }
}

/// A validated value, at original character offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiMatch {
    /// What it is.
    pub kind: PiiKind,
    /// Start, in characters of the original text.
    pub start: usize,
    /// End (exclusive).
    pub end: usize,
    /// The value with separators removed (for stable placeholders; never
    /// recorded).
    pub value: String,
}

/// Longest span a value can take in text, in characters (an IBAN in print
/// form with its spaces, a long e-mail address is cut here for streams).
pub const MAX_SPAN: usize = 80;

/// Labels after which a number is an order, invoice or tracking number.
const NOT_PERSONAL: &[&str] = &[
    "订单",
    "单号",
    "运单",
    "快递",
    "物流",
    "编号",
    "流水",
    "发票",
    "合同号",
    "工单",
    "批次",
    "序列号",
    "order",
    "invoice",
    "tracking",
    "ref",
    "reference",
    "serial",
    "ticket",
    "batch",
    "sku",
    "transaction",
    "txn",
];

/// Labels that make a letter-and-digit code a passport number.
const PASSPORT: &[&str] = &["护照", "護照", "passport", "travel document"];

/// Labels that make nine bare digits a social security number.
const SSN: &[&str] = &["ssn", "social security", "社会安全"];

fn preceded_by(c: &[char], start: usize, labels: &[&str], window: usize) -> bool {
    let from = start.saturating_sub(window);
    let before: String = c[from..start].iter().collect::<String>().to_lowercase();
    labels.iter().any(|l| before.contains(l))
}

fn digits_of(c: &[char]) -> Vec<u8> {
    c.iter()
        .filter(|c| c.is_ascii_digit())
        .map(|&c| c as u8)
        .collect()
}

/// Finds every validated value in `text`.
pub fn scan(text: &str) -> Vec<PiiMatch> {
    scan_folded(&Folded::new(text, Depth::Width))
}

/// As [`scan`], over text already width-folded.
pub fn scan_folded(f: &Folded) -> Vec<PiiMatch> {
    let c = &f.chars;
    let mut raw: Vec<(PiiKind, usize, usize, String)> = Vec::new();
    numbers(c, &mut raw);
    codes(c, &mut raw);
    emails(c, &mut raw);
    // Longest first at each start; then drop what overlaps a kept match.
    raw.sort_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)));
    let mut out: Vec<PiiMatch> = Vec::new();
    let mut covered = 0usize;
    for (kind, from, to, value) in raw {
        if from < covered {
            continue;
        }
        covered = to;
        let (start, end) = f.span(from, to);
        out.push(PiiMatch {
            kind,
            start,
            end,
            value,
        });
    }
    out
}

/// Where, in a text that may still grow, a value might be forming: the
/// start (original characters) of the trailing run that could be part of
/// one, or the text's length when there is none. A run of letters and dots
/// alone can only become an e-mail address (its local part): it is
/// pending only when `email` says e-mail addresses matter.
pub fn pending(f: &Folded, email: bool) -> usize {
    let c = &f.chars;
    let part = |x: char| {
        x.is_ascii_alphanumeric() || matches!(x, '@' | '.' | '_' | '%' | '+' | '-' | '(' | ')')
    };
    let mut i = c.len();
    while i > 0 && c.len() - i < MAX_SPAN {
        let x = c[i - 1];
        // A space inside a value: between digit groups (cards, phones), or
        // between the upper-case groups of an IBAN in print form — never
        // between words.
        let group = |x: char| x.is_ascii_digit() || x.is_ascii_uppercase();
        // At the very end a space after a group may still be followed by
        // the next group ("138 " then "1234").
        let inner_space = x == ' '
            && i >= 2
            && (if i < c.len() {
                (c[i - 2].is_ascii_digit() && c[i].is_ascii_digit())
                    || (group(c[i - 2]) && group(c[i]))
            } else {
                group(c[i - 2])
            });
        if part(x) || inner_space {
            i -= 1;
        } else {
            break;
        }
    }
    let only_letters = c[i..]
        .iter()
        .all(|x| x.is_ascii_alphabetic() || matches!(x, '.' | '_' | '-'));
    if i == c.len() || (only_letters && !email) {
        f.original_len
    } else {
        f.origin[i] as usize
    }
}

/// Digit groups: resident IDs, mobiles, cards, SSNs, phone numbers.
fn numbers(c: &[char], out: &mut Vec<(PiiKind, usize, usize, String)>) {
    let mut i = 0;
    while i < c.len() {
        let plus = c[i] == '+' && c.get(i + 1).is_some_and(char::is_ascii_digit);
        let paren_plus = c[i] == '('
            && c.get(i + 1) == Some(&'+')
            && c.get(i + 2).is_some_and(char::is_ascii_digit);
        let starts = c[i].is_ascii_digit() || plus || paren_plus;
        let prev_ok = i == 0
            || !(c[i - 1].is_ascii_alphanumeric()
                || matches!(c[i - 1], '_' | '.' | '/' | '@' | '-' | '+'));
        if !starts || !prev_ok {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        let mut groups = vec![0usize];
        let mut seps = Vec::new();
        if paren_plus {
            j += 2;
        } else if plus {
            j += 1;
        }
        loop {
            while j < c.len() && c[j].is_ascii_digit() {
                if let Some(g) = groups.last_mut() {
                    *g += 1;
                }
                j += 1;
            }
            // ")" closing "(+86" or an area code "(415)", then a separator.
            let mut k = j;
            let open = c[start..j].iter().filter(|&&x| x == '(').count()
                > c[start..j].iter().filter(|&&x| x == ')').count();
            if open && k < c.len() && c[k] == ')' {
                k += 1;
            }
            if k < c.len() && matches!(c[k], ' ' | '-' | '.') && k + 1 < c.len() {
                let mut m = k + 1;
                if c[m] == '(' {
                    m += 1;
                }
                if m < c.len() && c[m].is_ascii_digit() {
                    seps.push(c[k]);
                    groups.push(0);
                    j = m;
                    continue;
                }
            }
            if k < c.len() && c[k] == '(' && k + 1 < c.len() && c[k + 1].is_ascii_digit() {
                groups.push(0);
                j = k + 1;
                continue;
            }
            if k > j {
                j = k;
            }
            break;
        }
        // 17 digits and an X: a resident ID.
        let digits = digits_of(&c[start..j]);
        let mut end = j;
        let mut value = digits.clone();
        if digits.len() == 17 && groups.len() == 1 && j < c.len() && matches!(c[j], 'X' | 'x') {
            value.push(b'X');
            end = j + 1;
        }
        while end > start && matches!(c[end - 1], ' ' | '-' | '.' | '(') {
            end -= 1;
        }
        if end < c.len() && c[end].is_ascii_alphanumeric() {
            // Glued to letters: a product code, not a number.
            i = end.max(i + 1);
            continue;
        }
        let found = classify(c, start, end, &value, &groups, &seps, plus || paren_plus);
        if let Some(kind) = found {
            out.push((
                kind,
                start,
                end,
                String::from_utf8_lossy(&value).into_owned(),
            ));
        } else if groups.len() > 1 && !plus && !paren_plus {
            // Two numbers side by side ("13812345678 13912345678"): try
            // each long group alone.
            let mut g0 = start;
            for (gi, &g) in groups.iter().enumerate() {
                while g0 < end && !c[g0].is_ascii_digit() {
                    g0 += 1;
                }
                let g1 = (g0 + g).min(end);
                if g >= 9 {
                    let value = digits_of(&c[g0..g1]);
                    let mut g1x = g1;
                    let mut value = value;
                    if value.len() == 17 && g1 < c.len() && matches!(c[g1], 'X' | 'x') {
                        value.push(b'X');
                        g1x += 1;
                    }
                    if let Some(kind) = classify(c, g0, g1x, &value, &[value.len()], &[], false) {
                        out.push((kind, g0, g1x, String::from_utf8_lossy(&value).into_owned()));
                    }
                }
                let _ = gi;
                g0 = g1;
            }
        }
        i = end.max(i + 1);
    }
}

fn classify(
    c: &[char],
    start: usize,
    end: usize,
    d: &[u8],
    groups: &[usize],
    seps: &[char],
    plus: bool,
) -> Option<PiiKind> {
    let plain = groups.len() == 1;
    if d.len() == 18 && (plain || groups == [6, 8, 4]) && v::cn_resident_id(d) {
        return Some(PiiKind::CnId);
    }
    if plus {
        let cc = v::country_code(d)?;
        if &d[..cc] == b"86" && v::cn_mobile(&d[cc..]) {
            return Some(PiiKind::CnMobile);
        }
        return ((8..=15).contains(&d.len()) && d.len() - cc >= 6).then_some(PiiKind::Phone);
    }
    let business = preceded_by(c, start, NOT_PERSONAL, 12);
    if d.len() == 11 && (plain || groups == [3, 4, 4]) && v::cn_mobile(d) && !business {
        return Some(PiiKind::CnMobile);
    }
    if d.len() == 13
        && d.starts_with(b"86")
        && (plain || groups == [2, 11] || groups == [2, 3, 4, 4])
        && v::cn_mobile(&d[2..])
        && !business
    {
        return Some(PiiKind::CnMobile);
    }
    if d.len() == 9 && v::us_ssn(d) && !business {
        let dashed = groups == [3, 2, 4] && seps.iter().all(|&s| s == '-' || s == ' ');
        if dashed || (plain && preceded_by(c, start, SSN, 24)) {
            return Some(PiiKind::UsSsn);
        }
    }
    if (13..=19).contains(&d.len()) && !business {
        let by_four = groups[..groups.len() - 1].iter().all(|&g| g == 4) && *groups.last()? <= 4;
        let amex = groups == [4, 6, 5] || groups == [4, 6, 4];
        if (plain || by_four || amex) && v::luhn(d) {
            match v::card_issuer(d) {
                Some(true) => return Some(PiiKind::BankCard),
                Some(false) => return Some(PiiKind::CreditCard),
                None => {}
            }
        }
    }
    if d.len() == 18 && plain && v::uscc(d) {
        return Some(PiiKind::Uscc);
    }
    let _ = end;
    None
}

/// Letter-and-digit codes: credit codes, passports, IBANs.
fn codes(c: &[char], out: &mut Vec<(PiiKind, usize, usize, String)>) {
    let is_tok = |x: char| x.is_ascii_alphanumeric();
    let mut i = 0;
    while i < c.len() {
        if !is_tok(c[i]) || (i > 0 && is_tok(c[i - 1])) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < c.len() && is_tok(c[j]) {
            j += 1;
        }
        let tok: Vec<u8> = c[i..j].iter().map(|&x| x as u8).collect();
        let has_letter = tok.iter().any(u8::is_ascii_alphabetic);
        let upper = tok
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if tok.len() == 18 && has_letter && upper && v::uscc(&tok) {
            out.push((
                PiiKind::Uscc,
                i,
                j,
                String::from_utf8_lossy(&tok).into_owned(),
            ));
        } else if passport(&tok) && preceded_by(c, i, PASSPORT, 20) {
            out.push((
                PiiKind::Passport,
                i,
                j,
                String::from_utf8_lossy(&tok).into_owned(),
            ));
        } else if tok.len() >= 4
            && tok[..2].iter().all(u8::is_ascii_uppercase)
            && tok[2..4].iter().all(u8::is_ascii_digit)
            && let Some(want) = v::iban_length(&tok[..2])
        {
            if tok.len() == want && v::iban(&tok) {
                out.push((
                    PiiKind::Iban,
                    i,
                    j,
                    String::from_utf8_lossy(&tok).into_owned(),
                ));
            } else if tok.len() == 4 {
                // Print form: groups of four after single spaces.
                let mut value = tok.clone();
                let mut k = j;
                while value.len() < want && k + 1 < c.len() && c[k] == ' ' && is_tok(c[k + 1]) {
                    let mut m = k + 1;
                    while m < c.len() && is_tok(c[m]) && m - k - 1 < 4 {
                        m += 1;
                    }
                    if m < c.len() && is_tok(c[m]) {
                        break;
                    }
                    value.extend(c[k + 1..m].iter().map(|&x| x.to_ascii_uppercase() as u8));
                    k = m;
                }
                if value.len() == want && v::iban(&value) {
                    out.push((
                        PiiKind::Iban,
                        i,
                        k,
                        String::from_utf8_lossy(&value).into_owned(),
                    ));
                    j = k;
                }
            }
        }
        i = j;
    }
}

fn passport(t: &[u8]) -> bool {
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match t {
        [b'E' | b'G' | b'D' | b'S' | b'P', rest @ ..] if rest.len() == 8 && digits(rest) => true,
        [b'E', l, rest @ ..]
            if l.is_ascii_uppercase()
                && !matches!(l, b'I' | b'O')
                && rest.len() == 7
                && digits(rest) =>
        {
            true
        }
        _ => false,
    }
}

/// E-mail addresses.
fn emails(c: &[char], out: &mut Vec<(PiiKind, usize, usize, String)>) {
    let local = |x: char| x.is_ascii_alphanumeric() || matches!(x, '.' | '_' | '%' | '+' | '-');
    let domain = |x: char| x.is_ascii_alphanumeric() || matches!(x, '.' | '-');
    for (at, _) in c.iter().enumerate().filter(|(_, x)| **x == '@') {
        let mut s = at;
        while s > 0 && local(c[s - 1]) && at - s < 64 {
            s -= 1;
        }
        while s < at && matches!(c[s], '.' | '-' | '+') {
            s += 1;
        }
        let mut e = at + 1;
        while e < c.len() && domain(c[e]) && e - at < 254 {
            e += 1;
        }
        while e > at + 1 && matches!(c[e - 1], '.' | '-') {
            e -= 1;
        }
        if s == at || e <= at + 1 {
            continue;
        }
        let l: String = c[s..at].iter().collect();
        let d: String = c[at + 1..e].iter().collect();
        if l.ends_with('.') || l.contains("..") {
            continue;
        }
        let labels: Vec<&str> = d.split('.').collect();
        let ok_labels = labels.len() >= 2
            && labels.iter().all(|x| {
                !x.is_empty() && x.len() <= 63 && !x.starts_with('-') && !x.ends_with('-')
            });
        let tld = labels.last().copied().unwrap_or_default();
        if ok_labels && tld.len() >= 2 && tld.chars().all(|x| x.is_ascii_alphabetic()) {
            out.push((
                PiiKind::Email,
                s,
                e,
                format!("{}@{}", l, d.to_ascii_lowercase()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(PiiKind, String)> {
        let chars: Vec<char> = text.chars().collect();
        scan(text)
            .into_iter()
            .map(|m| (m.kind, chars[m.start..m.end].iter().collect()))
            .collect()
    }

    #[test]
    fn each_kind_is_found_where_it_validates() {
        use PiiKind::*;
        assert_eq!(
            kinds("身份证号：11010519491231002X。"),
            vec![(CnId, "11010519491231002X".into())]
        );
        assert_eq!(
            kinds("电话138 1234 5678，谢谢"),
            vec![(CnMobile, "138 1234 5678".into())]
        );
        assert_eq!(
            kinds("call (+86) 13812345678"),
            vec![(CnMobile, "(+86) 13812345678".into())]
        );
        assert_eq!(
            kinds("card 4111 1111 1111 1111."),
            vec![(CreditCard, "4111 1111 1111 1111".into())]
        );
        assert_eq!(
            kinds("SSN 123-45-6789"),
            vec![(UsSsn, "123-45-6789".into())]
        );
        assert_eq!(
            kinds("IBAN GB82 WEST 1234 5698 7654 32 ok"),
            vec![(Iban, "GB82 WEST 1234 5698 7654 32".into())]
        );
        assert_eq!(
            kinds("mail a.b+c@mail.example.com."),
            vec![(Email, "a.b+c@mail.example.com".into())]
        );
        assert_eq!(
            kinds("护照号码 E12345678"),
            vec![(Passport, "E12345678".into())]
        );
        assert_eq!(
            kinds("Tel +44 20 7946 0958"),
            vec![(Phone, "+44 20 7946 0958".into())]
        );
        assert_eq!(
            kinds("１３８１２３４５６７８"),
            vec![(CnMobile, "１３８１２３４５６７８".into())]
        );
    }

    #[test]
    fn look_alikes_are_not_personal_data() {
        for text in [
            "订单号 13812345678",
            "110105194912310021",
            "timestamp 1733390400123",
            "4111111111111112",
            "SSN 666-12-3456",
            "v1.2.3 build 13812345678x",
            "E12345678 is a part number",
            "GB82 WEST 1234 5698 7654 33",
            "@mention and user@localhost",
        ] {
            assert!(kinds(text).is_empty(), "{text}: {:?}", kinds(text));
        }
    }

    #[test]
    fn a_trailing_partial_number_is_pending() {
        let f = Folded::new("我的手机是 138 12", Depth::Width);
        assert_eq!(pending(&f, true), 6);
        let f = Folded::new("好的。", Depth::Width);
        assert_eq!(pending(&f, true), 3);
        // A space after a group may be followed by the next group.
        let f = Folded::new("请拨打 138 ", Depth::Width);
        assert_eq!(pending(&f, true), 4);
        // Words are held only while they could be an address's local part.
        let f = Folded::new("write to john", Depth::Width);
        assert_eq!(pending(&f, true), 9);
        assert_eq!(pending(&f, false), 13);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A resident ID with its check character, from a region, a date
        /// and a sequence.
        fn resident_id(region: u32, y: u32, m: u32, d: u32, seq: u32) -> String {
            const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
            let body = format!("{region:06}{y:04}{m:02}{d:02}{seq:03}");
            let sum: u32 = body
                .bytes()
                .zip(W)
                .map(|(b, w)| u32::from(b - b'0') * w)
                .sum();
            let check = b"10X98765432"[(sum % 11) as usize] as char;
            format!("{body}{check}")
        }

        proptest! {
            /// A valid ID is found, exactly, wherever it sits in Chinese or
            /// English text; changing any one of its digits makes it no ID.
            #[test]
            fn valid_ids_are_found_and_one_changed_digit_is_not(
                region in prop::sample::select(vec![110101u32, 310104, 440305, 510107, 650102]),
                y in 1930u32..2010, m in 1u32..=12, d in 1u32..=28, seq in 0u32..1000,
                before in "[a-z 是的，：]{0,12}", after in "[a-z 。，]{0,12}",
                at in 0usize..17, delta in 1u8..10,
            ) {
                let id = resident_id(region, y, m, d, seq);
                let text = format!("{before} {id} {after}");
                let found = scan(&text);
                let start = before.chars().count() + 1;
                prop_assert_eq!(found.len(), 1, "{}", text);
                prop_assert_eq!((found[0].kind, found[0].start, found[0].end), (PiiKind::CnId, start, start + 18));
                let mut bytes = id.into_bytes();
                bytes[at] = b'0' + (bytes[at] - b'0' + delta) % 10;
                let changed = String::from_utf8(bytes).unwrap();
                prop_assert!(!validate::cn_resident_id(changed.as_bytes()), "{}", changed);
            }

            /// The scanner never panics and never reports a span outside
            /// the text, whatever the text.
            #[test]
            fn spans_stay_inside_any_text(text in "[0-9a-zA-Z +@.()\\-－１２３４５６７８９０中文]{0,80}") {
                let n = text.chars().count();
                for m in scan(&text) {
                    prop_assert!(m.start < m.end && m.end <= n, "{:?} in {}", m, text);
                }
            }
        }
    }
}
