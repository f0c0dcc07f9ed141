//! Check digits and structure of identifiers: what makes a number personal
//! data rather than an order number that happens to look like one.

/// Province-level region codes (the first two digits of a resident ID or
/// of a credit code's region): GB/T 2260, plus Taiwan, Hong Kong, Macao.
pub fn cn_province(code: u32) -> bool {
    matches!(code,
        11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81 | 82)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Whether `yyyymmdd` (8 ASCII digits) is a real date from 1900 to 2099.
pub fn valid_date(yyyymmdd: &[u8]) -> bool {
    let n = |s: &[u8]| s.iter().fold(0u32, |a, &b| a * 10 + u32::from(b - b'0'));
    let (y, m, d) = (n(&yyyymmdd[0..4]), n(&yyyymmdd[4..6]), n(&yyyymmdd[6..8]));
    (1900..=2099).contains(&y) && (1..=days_in_month(y, m)).contains(&d)
}

/// A mainland resident identity number (GB 11643-1999): 6-digit region
/// (valid province), birth date, sequence, ISO 7064 MOD 11-2 check
/// character. `id` is 18 ASCII characters.
pub fn cn_resident_id(id: &[u8]) -> bool {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    if id.len() != 18 || !id[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let province = u32::from(id[0] - b'0') * 10 + u32::from(id[1] - b'0');
    if !cn_province(province) || !valid_date(&id[6..14]) {
        return false;
    }
    let sum: u32 = id[..17]
        .iter()
        .zip(W)
        .map(|(&d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    id[17].to_ascii_uppercase() == check
}

/// The Luhn check of a card number's digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// The issuer of a card number, by its leading digits and length:
/// `Some(true)` for China UnionPay (a mainland bank card), `Some(false)`
/// for an international credit card brand, `None` for no issuer.
pub fn card_issuer(d: &[u8]) -> Option<bool> {
    let len = d.len();
    if len < 13 {
        return None;
    }
    let p = |n: usize| {
        d[..n]
            .iter()
            .fold(0u32, |a, &b| a * 10 + u32::from(b - b'0'))
    };
    if p(2) == 62 && (16..=19).contains(&len) {
        return Some(true);
    }
    let visa = d[0] == b'4' && matches!(len, 13 | 16 | 19);
    let mastercard = ((51..=55).contains(&p(2)) || (2221..=2720).contains(&p(4))) && len == 16;
    let amex = matches!(p(2), 34 | 37) && len == 15;
    let jcb = (3528..=3589).contains(&p(4)) && (16..=19).contains(&len);
    let discover =
        (p(4) == 6011 || p(2) == 65 || (644..=649).contains(&p(3))) && (16..=19).contains(&len);
    let diners =
        ((300..=305).contains(&p(3)) || matches!(p(2), 36 | 38 | 39)) && (14..=19).contains(&len);
    (visa || mastercard || amex || jcb || discover || diners).then_some(false)
}

/// Mainland mobile number segments (11 digits, by the first three).
pub fn cn_mobile(d: &[u8]) -> bool {
    if d.len() != 11 || d[0] != b'1' {
        return false;
    }
    let p = u32::from(d[1] - b'0') * 10 + u32::from(d[2] - b'0');
    matches!(p,
        30..=39 | 45..=49 | 50..=53 | 55..=59 | 62 | 65..=67 | 70..=78 | 80..=89 | 90..=93 | 95..=99)
}

/// The alphabet of unified social credit codes (no I, O, Z, S, V).
const USCC: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// A unified social credit code (GB 32100-2015): registration authority,
/// organisation type, region, organisation code, check character.
pub fn uscc(code: &[u8]) -> bool {
    const W: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    if code.len() != 18 {
        return false;
    }
    let val = |b: u8| USCC.iter().position(|&a| a == b).map(|v| v as u32);
    let Some(vals) = code.iter().map(|&b| val(b)).collect::<Option<Vec<u32>>>() else {
        return false;
    };
    if !matches!(code[0], b'1'..=b'9' | b'A' | b'N' | b'Y')
        || !code[2..8].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    if !cn_province(vals[2] * 10 + vals[3]) {
        return false;
    }
    let sum: u32 = vals[..17].iter().zip(W).map(|(v, w)| v * w).sum();
    vals[17] == (31 - sum % 31) % 31
}

/// IBAN lengths by country (ISO 13616 registry, the common ones).
pub fn iban_length(cc: &[u8]) -> Option<usize> {
    Some(match cc {
        b"AD" | b"CZ" | b"ES" | b"PK" | b"RO" | b"SA" | b"SE" | b"SK" => 24,
        b"AE" | b"IL" => 23,
        b"AT" | b"EE" | b"KZ" | b"LT" | b"LU" => 20,
        b"BE" => 16,
        b"BG" | b"BH" | b"DE" | b"GB" | b"IE" => 22,
        b"BR" | b"QA" | b"UA" => 29,
        b"CH" | b"HR" | b"LI" | b"LV" => 21,
        b"CY" | b"HU" | b"PL" => 28,
        b"DK" | b"FI" | b"NL" => 18,
        b"FR" | b"GR" | b"IT" | b"MC" | b"SM" => 27,
        b"IS" | b"TR" => 26,
        b"KW" => 30,
        b"MT" => 31,
        b"NO" => 15,
        b"PT" => 25,
        b"SI" => 19,
        _ => return None,
    })
}

/// Whether `iban` (upper-case letters and digits, no spaces) has its
/// country's length and passes ISO 7064 mod 97-10.
pub fn iban(iban: &[u8]) -> bool {
    if iban.len() < 15 || iban_length(&iban[..2]) != Some(iban.len()) {
        return false;
    }
    if !iban[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut rem = 0u32;
    for &b in iban[4..].iter().chain(&iban[..4]) {
        rem = match b {
            b'0'..=b'9' => (rem * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(b - b'A') + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}

/// A US social security number's digits: area not 000, 666 or 9xx; group
/// not 00; serial not 0000.
pub fn us_ssn(d: &[u8]) -> bool {
    d.len() == 9
        && &d[..3] != b"000"
        && &d[..3] != b"666"
        && d[0] != b'9'
        && &d[3..5] != b"00"
        && &d[5..] != b"0000"
}

/// The length of the ITU-T E.164 country calling code at the start of
/// `d`, if one is there.
pub fn country_code(d: &[u8]) -> Option<usize> {
    const TWO: &[&[u8]] = &[
        b"20", b"27", b"30", b"31", b"32", b"33", b"34", b"36", b"39", b"40", b"41", b"43", b"44",
        b"45", b"46", b"47", b"48", b"49", b"51", b"52", b"53", b"54", b"55", b"56", b"57", b"58",
        b"60", b"61", b"62", b"63", b"64", b"65", b"66", b"81", b"82", b"84", b"86", b"90", b"91",
        b"92", b"93", b"94", b"95", b"98",
    ];
    match d {
        [] => None,
        [b'1' | b'7', ..] => Some(1),
        [a, b, ..] if TWO.contains(&[*a, *b].as_slice()) => Some(2),
        [b'2' | b'3' | b'5' | b'6' | b'8' | b'9', _, _, ..] => Some(3),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_ids_need_region_date_and_check_digit() {
        assert!(cn_resident_id(b"11010519491231002X"));
        assert!(cn_resident_id(b"11010519491231002x"));
        assert!(!cn_resident_id(b"110105194912310021")); // check digit
        assert!(!cn_resident_id(b"110105194902300028")); // 30 February
        assert!(!cn_resident_id(b"99010519491231002X")); // no province 99
    }

    #[test]
    fn cards_ibans_and_credit_codes_check_out() {
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
        assert_eq!(card_issuer(b"6222021234567890123"), Some(true));
        assert_eq!(card_issuer(b"378282246310005"), Some(false));
        assert!(iban(b"GB82WEST12345698765432"));
        assert!(iban(b"DE89370400440532013000"));
        assert!(!iban(b"DE89370400440532013001"));
        assert!(us_ssn(b"123456789") && !us_ssn(b"666123456") && !us_ssn(b"900123456"));
    }
}
