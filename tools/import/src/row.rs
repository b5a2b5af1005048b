//! One dump row through the domain's validation: a [`MemberRow`] or a [`Reject`] naming the
//! column and a reason code. Nothing here quotes a value (a phone number could be anywhere);
//! the phone is only ever carried masked.

use crate::dump::{COLUMNS, RawError, RawRecord};
use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use referral_shared::domain::{AccountId, JkosAccount, JkosId, PhoneNumber};
use referral_shared::time::Instant;

/// A valid row of the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub line: u64,
    pub account_id: AccountId,
    pub jkos_id: JkosId,
    pub jkos_account: JkosAccount,
    pub phone_number: PhoneNumber,
    pub created_at: Instant,
    pub kyc_pass_time: Option<Instant>,
    pub device_bind_time: Option<Instant>,
}

/// Why a row (or its write) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A required column is NULL or empty.
    Missing,
    /// The domain refused the value.
    Invalid,
    /// Neither a MySQL DATETIME nor an RFC 3339 instant.
    BadTime,
    /// A local time that does not exist or is ambiguous in `--timezone`.
    AmbiguousTime,
    FieldCount,
    BadEncoding,
    /// The stored profile does not map onto the domain: the row cannot be merged into it.
    StoredProfileCorrupt,
    /// Still conflicting after the re-reads.
    Contended,
    /// `--emit-s3-import` only: the account is on an earlier line of the dump (the S3 import
    /// writes one item per row; the first row is the one emitted).
    Duplicate,
    /// The row's jkos id belongs to another account (stored, or on an earlier line of the
    /// dump), or its account to another jkos id: one jkos id is one member (ADR 0010).
    JkosIdTaken,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::Missing => "MISSING",
            Reason::Invalid => "INVALID",
            Reason::BadTime => "BAD_TIME",
            Reason::AmbiguousTime => "AMBIGUOUS_TIME",
            Reason::FieldCount => "FIELD_COUNT",
            Reason::BadEncoding => "BAD_ENCODING",
            Reason::StoredProfileCorrupt => "STORED_PROFILE_CORRUPT",
            Reason::Contended => "CONTENDED",
            Reason::Duplicate => "DUPLICATE_ACCOUNT",
            Reason::JkosIdTaken => "JKOS_ID_TAKEN",
        }
    }
}

/// A refused row, as the rejects file shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub line: u64,
    /// The column at fault (`-` when the row as a whole is).
    pub column: &'static str,
    pub reason: Reason,
    /// The rule that was broken, never the value.
    pub detail: String,
    /// The row's account id when it is a valid one (so the operator can find the member).
    pub account_id: Option<String>,
    pub phone_masked: Option<String>,
}

impl Reject {
    pub const HEADER: &'static str = "line,column,reason,detail,account_id,phone_masked\n";

    /// One CSV line of the rejects file.
    pub fn to_csv_line(&self) -> String {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        let line = self.line.to_string();
        let fields = [
            line.as_str(),
            self.column,
            self.reason.code(),
            self.detail.as_str(),
            self.account_id.as_deref().unwrap_or(""),
            self.phone_masked.as_deref().unwrap_or(""),
        ];
        // Writing to a Vec cannot fail.
        let _ = w.write_record(fields);
        w.into_inner()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

/// Masks whatever is in the phone column, valid or not: a valid number as the domain masks it
/// (first 4, last 3 shown); an invalid one the same way only when it is at least 10 characters
/// long (no more shown than of a valid number), otherwise all stars.
pub fn mask_phone(raw: &str) -> String {
    match PhoneNumber::parse(raw) {
        Ok(p) => p.masked(),
        Err(_) => {
            let chars: Vec<char> = raw.chars().collect();
            if chars.len() < 10 {
                "*".repeat(chars.len())
            } else {
                let head: String = chars[..4].iter().collect();
                let tail: String = chars[chars.len() - 3..].iter().collect();
                format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
            }
        }
    }
}

/// Validates one raw record.
pub fn validate(record: RawRecord, zone: Tz) -> Result<MemberRow, Reject> {
    let line = record.line;
    let fields = match record.fields {
        Ok(f) => f,
        Err(RawError::FieldCount { found, expected }) => {
            return Err(Reject {
                line,
                column: "-",
                reason: Reason::FieldCount,
                detail: format!("{found} fields, expected {expected}"),
                account_id: None,
                phone_masked: None,
            });
        }
        Err(RawError::Encoding { column }) => {
            return Err(Reject {
                line,
                column,
                reason: Reason::BadEncoding,
                detail: "not UTF-8".into(),
                account_id: None,
                phone_masked: None,
            });
        }
    };
    let [account, jkos, jkos_account, phone, created, kyc, device] = fields;
    let account_ok = account.as_deref().and_then(|a| AccountId::parse(a).ok());
    let masked = phone.as_deref().map(mask_phone);
    let reject = |column: &'static str, reason: Reason, detail: String| Reject {
        line,
        column,
        reason,
        detail,
        account_id: account_ok.as_ref().map(|a| a.to_string()),
        phone_masked: masked.clone(),
    };
    fn required<'a>(
        value: &'a Option<String>,
        column: &'static str,
    ) -> Result<&'a str, (&'static str, Reason, String)> {
        value.as_deref().filter(|v| !v.is_empty()).ok_or((
            column,
            Reason::Missing,
            "required".to_owned(),
        ))
    }
    let parsed = (|| {
        let invalid = |column: &'static str| {
            move |e: referral_shared::domain::ValidationError| (column, Reason::Invalid, e.message)
        };
        let account_id =
            AccountId::parse(required(&account, COLUMNS[0])?).map_err(invalid(COLUMNS[0]))?;
        let jkos_id = JkosId::parse(required(&jkos, COLUMNS[1])?).map_err(invalid(COLUMNS[1]))?;
        let jkos_account = JkosAccount::parse(required(&jkos_account, COLUMNS[2])?)
            .map_err(invalid(COLUMNS[2]))?;
        let phone_number =
            PhoneNumber::parse(required(&phone, COLUMNS[3])?).map_err(invalid(COLUMNS[3]))?;
        let created_at = match parse_time(required(&created, COLUMNS[4])?, zone) {
            Ok(Some(t)) => t,
            Ok(None) => return Err((COLUMNS[4], Reason::Missing, "a zero date".to_owned())),
            Err((reason, detail)) => return Err((COLUMNS[4], reason, detail)),
        };
        let optional = |value: &Option<String>, column: &'static str| match value.as_deref() {
            None | Some("") => Ok(None),
            Some(text) => {
                parse_time(text, zone).map_err(|(reason, detail)| (column, reason, detail))
            }
        };
        Ok(MemberRow {
            line,
            account_id,
            jkos_id,
            jkos_account,
            phone_number,
            created_at,
            kyc_pass_time: optional(&kyc, COLUMNS[5])?,
            device_bind_time: optional(&device, COLUMNS[6])?,
        })
    })();
    parsed.map_err(|(column, reason, detail)| reject(column, reason, detail))
}

/// A time of the dump: RFC 3339 as it is, or a MySQL DATETIME (`YYYY-MM-DD HH:MM:SS[.f]`) in
/// `zone`. `Ok(None)` = MySQL's zero date (no value).
pub fn parse_time(text: &str, zone: Tz) -> Result<Option<Instant>, (Reason, String)> {
    if text.starts_with("0000-00-00") {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .map_err(|_| {
            (
                Reason::BadTime,
                "must be a MySQL DATETIME (YYYY-MM-DD HH:MM:SS) or an RFC 3339 instant".to_owned(),
            )
        })?;
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(Some(t.with_timezone(&Utc))),
        _ => Err((
            Reason::AmbiguousTime,
            format!("does not exist or is ambiguous in {zone}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::Position;

    fn raw(fields: [Option<&str>; 7]) -> RawRecord {
        RawRecord {
            line: 7,
            end: Position::default(),
            fields: Ok(fields.map(|f| f.map(str::to_owned))),
        }
    }

    const TAIPEI: Tz = chrono_tz::Asia::Taipei;

    #[test]
    fn mysql_datetimes_are_read_in_the_zone_and_rfc3339_as_is() {
        let t = parse_time("2024-03-01 08:00:00", TAIPEI).unwrap().unwrap();
        assert_eq!(
            referral_shared::time::format(&t),
            "2024-03-01T00:00:00.000Z"
        );
        let t = parse_time("2024-03-01 08:00:00.250", TAIPEI)
            .unwrap()
            .unwrap();
        assert_eq!(
            referral_shared::time::format(&t),
            "2024-03-01T00:00:00.250Z"
        );
        let t = parse_time("2024-03-01T08:00:00+09:00", TAIPEI)
            .unwrap()
            .unwrap();
        assert_eq!(
            referral_shared::time::format(&t),
            "2024-02-29T23:00:00.000Z"
        );
        assert_eq!(parse_time("0000-00-00 00:00:00", TAIPEI), Ok(None));
        assert_eq!(
            parse_time("yesterday", TAIPEI).unwrap_err().0,
            Reason::BadTime
        );
        // 02:30 on the spring-forward day does not exist in New York.
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            parse_time("2024-03-10 02:30:00", ny).unwrap_err().0,
            Reason::AmbiguousTime
        );
    }

    #[test]
    fn a_valid_row_and_each_kind_of_reject() {
        let ok = [
            Some("acc-1"),
            Some("jk-1"),
            Some("A12345678"),
            Some("0912345678"),
            Some("2024-01-01 00:00:00"),
            Some("2024-01-02 00:00:00"),
            None,
        ];
        let row = validate(raw(ok), TAIPEI).unwrap();
        assert_eq!(row.account_id.as_str(), "acc-1");
        assert!(row.kyc_pass_time.is_some() && row.device_bind_time.is_none());

        let mut bad_phone = ok;
        bad_phone[3] = Some("09123456789999");
        let r = validate(raw(bad_phone), TAIPEI).unwrap_err();
        assert_eq!(
            (r.line, r.column, r.reason),
            (7, "phone_number", Reason::Invalid)
        );
        assert_eq!(r.phone_masked.as_deref(), Some("0912*******999"));
        assert_eq!(r.account_id.as_deref(), Some("acc-1"));
        assert!(!r.to_csv_line().contains("09123456789999"));

        let mut no_jkos = ok;
        no_jkos[1] = None;
        let r = validate(raw(no_jkos), TAIPEI).unwrap_err();
        assert_eq!((r.column, r.reason), ("member_jkos_id", Reason::Missing));

        let mut bad_time = ok;
        bad_time[6] = Some("31/12/2024");
        let r = validate(raw(bad_time), TAIPEI).unwrap_err();
        assert_eq!((r.column, r.reason), ("device_bind_time", Reason::BadTime));
        assert_eq!(
            r.to_csv_line(),
            "7,device_bind_time,BAD_TIME,must be a MySQL DATETIME (YYYY-MM-DD HH:MM:SS) or an RFC 3339 instant,acc-1,0912***678\n"
        );

        let mut bad_account = ok;
        bad_account[0] = Some("acc 1!");
        let r = validate(raw(bad_account), TAIPEI).unwrap_err();
        assert_eq!(
            (r.column, r.reason, r.account_id),
            ("account_id", Reason::Invalid, None)
        );
    }

    #[test]
    fn masking_never_shows_the_middle() {
        assert_eq!(mask_phone("0912345678"), "0912***678");
        assert_eq!(mask_phone("12345"), "*****");
        assert_eq!(mask_phone("09-12-34"), "********");
        assert_eq!(mask_phone("0912-345-678"), "0912*****678");
        assert_eq!(mask_phone("+886912345678"), "+886******678");
    }
}
