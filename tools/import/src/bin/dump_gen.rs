//! `referral-dump-gen ROWS FILE [MALFORMED_PER_MILLE] [SEED]`: a realistic member dump for
//! benchmarks and demos (format by extension, gzip for `.gz`).

use referral_import::dump::{Format, is_gzip};
use referral_import::generate::write_dump;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [rows, path, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: referral-dump-gen ROWS FILE [MALFORMED_PER_MILLE] [SEED]");
    };
    let rows: u64 = rows.parse()?;
    let path = PathBuf::from(path);
    let malformed: u32 = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(20);
    let seed: u64 = rest.get(1).map(|s| s.parse()).transpose()?.unwrap_or(13);
    let format = Format::from_path(&path).unwrap_or(Format::Tsv);
    let file = std::fs::File::create(&path)?;
    let mut out: Box<dyn Write> = if is_gzip(&path) {
        Box::new(flate2::write::GzEncoder::new(
            BufWriter::new(file),
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(BufWriter::new(file))
    };
    let stats = write_dump(&mut out, format, rows, malformed, seed)?;
    out.flush()?;
    drop(out);
    eprintln!(
        "{}: {} rows, {} malformed, {} qualified",
        path.display(),
        stats.rows,
        stats.malformed,
        stats.qualified
    );
    Ok(())
}
