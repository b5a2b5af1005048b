//! A realistic dump for tests and benchmarks: `rows` members as MySQL would export them
//! (DATETIME in local time, `\N` for NULL), about 60 % with a KYC time and 40 % with both
//! times (qualified before launch), and `malformed_per_mille` ‰ of broken rows of several
//! kinds (bad phone, missing jkos id, bad time, too few fields). Deterministic for a seed.

use crate::dump::{COLUMNS, Format};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;

/// What a generated dump holds, for assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Generated {
    pub rows: u64,
    pub malformed: u64,
    /// Valid rows with both times.
    pub qualified: u64,
}

/// The account id of row `i` (0-based).
pub fn account(i: u64) -> String {
    format!("acc-{i:08}")
}

pub fn write_dump(
    out: &mut dyn Write,
    format: Format,
    rows: u64,
    malformed_per_mille: u32,
    seed: u64,
) -> std::io::Result<Generated> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stats = Generated::default();
    let null = match format {
        Format::Csv => "",
        Format::Tsv => "\\N",
    };
    let sep = match format {
        Format::Csv => ",",
        Format::Tsv => "\t",
    };
    if format == Format::Csv {
        writeln!(out, "{},updated_at,referral_code_id", COLUMNS.join(","))?;
    }
    let time = |rng: &mut StdRng, year: i32| {
        format!(
            "{year}-{:02}-{:02} {:02}:{:02}:{:02}",
            rng.random_range(1..=12),
            rng.random_range(1..=28),
            rng.random_range(0..24),
            rng.random_range(0..60),
            rng.random_range(0..60)
        )
    };
    for i in 0..rows {
        let year = rng.random_range(2019..=2023);
        let created = time(&mut rng, year);
        let kyc = rng.random_bool(0.6).then(|| time(&mut rng, 2024));
        let device = (kyc.is_some() && rng.random_bool(0.67)).then(|| time(&mut rng, 2025));
        let mut fields = vec![
            account(i),
            format!("jk-{:012}", i * 7919 % 1_000_000_000_007),
            format!("A{:08}", i % 100_000_000),
            format!("09{:08}", rng.random_range(0..100_000_000u32)),
            created,
            kyc.clone().unwrap_or_else(|| null.to_owned()),
            device.clone().unwrap_or_else(|| null.to_owned()),
        ];
        if rng.random_range(0..1000) < malformed_per_mille {
            stats.malformed += 1;
            match rng.random_range(0..4) {
                0 => fields[3] = "09-12-34".to_owned(),
                1 => fields[1] = null.to_owned(),
                2 => fields[4] = "31/12/2023".to_owned(),
                _ => fields.truncate(3),
            }
        } else if kyc.is_some() && device.is_some() {
            stats.qualified += 1;
        }
        if format == Format::Csv && fields.len() == COLUMNS.len() {
            fields.push(fields[4].clone());
            fields.push(null.to_owned());
        }
        writeln!(out, "{}", fields.join(sep))?;
        stats.rows += 1;
    }
    Ok(stats)
}
