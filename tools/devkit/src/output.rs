//! What `referral-dev` prints: JSON, with personal data masked as the APIs mask it, through
//! [`say!`](crate::say) so that a reader that went away (`referral-dev code X | head`) ends the
//! command quietly instead of a panic.

use referral_shared::MemberProfile;
use referral_shared::ingest::BatchReport;
use serde_json::{Value, json};

/// `println!` for `referral-dev`'s stdout: see [`write`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to stdout. A closed stdout (the reading end of a pipe is gone, as with
/// `| head`) ends the process at once with status 0 and no message, as a command killed by
/// SIGPIPE would end but without the signal: nobody reads what is left to print. Any other
/// write error ends it with status 1 and the error on stderr. (`println!` panics on both.)
pub fn write(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// The consumers' EMF metric lines (`--emf`), printed through [`write`]: for
/// `referral_shared::telemetry::tap_metrics`.
pub fn emf(metric_line: &str) {
    crate::say!("{metric_line}");
}

/// A member profile as JSON, the phone number masked (`0912***678`): the profile's own
/// serialization is for storage and carries the full number.
pub fn member(profile: &MemberProfile) -> serde_json::Result<Value> {
    let mut value = serde_json::to_value(profile)?;
    if let Some(object) = value.as_object_mut() {
        match &profile.phone_number {
            Some(phone) => object.insert("phone_number".into(), json!(phone.masked())),
            None => object.remove("phone_number"),
        };
    }
    Ok(value)
}

/// What one MSK batch of `topic` did, as JSON.
pub fn batch(topic: &str, report: &BatchReport) -> Value {
    json!({
        "topic": topic,
        "records": report.records,
        "malformed": report.malformed,
        "parked": report.parked,
        "members_written": report.members_written,
        "write_conflicts": report.conflicts,
        "qualified": report.qualified,
        "rewards_created": report.rewards_created,
        "rewards_queued": report.rewards_queued,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use referral_shared::{AccountId, JkosId, PhoneNumber};

    #[test]
    fn a_member_prints_as_json_with_the_phone_masked() {
        let now = chrono::Utc::now();
        let mut profile = MemberProfile::new(
            AccountId::parse("acc-1").unwrap(),
            JkosId::parse("jk-acc-1").unwrap(),
            now,
        );
        let printed = member(&profile).unwrap();
        assert_eq!(printed["account_id"], "acc-1");
        assert!(printed.get("phone_number").is_none());
        profile.phone_number = Some(PhoneNumber::parse("0987650777").unwrap());
        let printed = member(&profile).unwrap();
        assert_eq!(printed["phone_number"], "0987***777");
        assert!(!printed.to_string().contains("0987650777"));
    }
}
