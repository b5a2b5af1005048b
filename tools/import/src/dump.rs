//! Reading the dump: CSV with a header, or MySQL's tab-separated export, optionally gzip.
//! Produces raw records (the seven columns as text or NULL) with the line they start on and
//! the byte offset just after them in the (decompressed) stream, which is what a checkpoint
//! records.

use anyhow::Context;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The dump's columns (seed 004, `member_profile`), in MySQL's export order.
pub const COLUMNS: [&str; 7] = [
    "account_id",
    "member_jkos_id",
    "jkos_account",
    "phone_number",
    "created_at",
    "kyc_pass_time",
    "device_bind_time",
];

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Tsv,
}

impl Format {
    /// `.csv` → CSV, `.tsv` / `.txt` → TSV (MySQL's `INTO OUTFILE` and `mysqldump --tab`
    /// write `.txt`), each optionally followed by `.gz`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        if name.ends_with(".csv") {
            Some(Format::Csv)
        } else if name.ends_with(".tsv") || name.ends_with(".txt") {
            Some(Format::Tsv)
        } else {
            None
        }
    }
}

pub fn is_gzip(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Where a record ends: the byte offset just after it (in the decompressed stream) and the
/// number of physical lines up to there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub offset: u64,
    pub lines: u64,
}

/// One record of the dump, not yet validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// 1-based physical line the record starts on.
    pub line: u64,
    pub end: Position,
    pub fields: Result<[Option<String>; 7], RawError>,
}

/// A record that cannot even be split into the seven columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawError {
    /// Not as many fields as the header (CSV) or the seven columns (TSV): a field was split by
    /// an unquoted separator or lost, so no field can be trusted to be the column its
    /// position says (a phone fragment must never be read as an account id).
    FieldCount { found: usize, expected: usize },
    /// A field that is not UTF-8 (the column is named).
    Encoding { column: &'static str },
}

/// Counts the bytes read from the file (compressed, for gzip), for the progress bar's ETA.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens `path` as a stream of records in `format`. `file_bytes_read` counts what is read
/// from the file itself.
pub fn open(
    path: &Path,
    format: Format,
    file_bytes_read: Arc<AtomicU64>,
) -> anyhow::Result<Box<dyn Records>> {
    open_with(path, format, file_bytes_read, None)
}

/// [`open`], with a running SHA-256 of the (decompressed) stream up to the end of the last
/// record read: what a checkpoint recognises the applied prefix of its input by (ADR 0007).
pub fn open_fingerprinted(
    path: &Path,
    format: Format,
    file_bytes_read: Arc<AtomicU64>,
) -> anyhow::Result<Fingerprinted> {
    let hashing = Arc::new(Mutex::new(Hashing::default()));
    Ok(Fingerprinted {
        records: open_with(path, format, file_bytes_read, Some(hashing.clone()))?,
        hashing,
    })
}

fn open_with(
    path: &Path,
    format: Format,
    file_bytes_read: Arc<AtomicU64>,
    hashing: Option<Arc<Mutex<Hashing>>>,
) -> anyhow::Result<Box<dyn Records>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let counted = Counting {
        inner: file,
        read: file_bytes_read,
    };
    let mut reader: Box<dyn Read + Send> = if is_gzip(path) {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            counted,
        )))
    } else {
        Box::new(counted)
    };
    if let Some(state) = hashing {
        reader = Box::new(Hashed {
            inner: reader,
            state,
        });
    }
    let reader = BufReader::with_capacity(1 << 16, reader);
    Ok(match format {
        Format::Csv => Box::new(CsvRecords::new(reader)?),
        Format::Tsv => Box::new(TsvRecords::new(reader)),
    })
}

/// The running hash of [`Fingerprinted`]: the parsers read ahead, so the bytes read but not
/// yet known to belong to a returned record wait in `pending` (at most a read-ahead buffer).
#[derive(Default)]
struct Hashing {
    hasher: Sha256,
    /// Bytes of the stream hashed so far.
    hashed: u64,
    /// The bytes read after them.
    pending: VecDeque<u8>,
}

impl Hashing {
    /// Hashes the stream up to `offset` (not before what is hashed, not past what is read).
    fn advance(&mut self, offset: u64) {
        let n = usize::try_from(offset - self.hashed).expect("a read-ahead fits in memory");
        assert!(
            n <= self.pending.len(),
            "a record ends in bytes already read"
        );
        let (front, back) = self.pending.as_slices();
        let from_front = n.min(front.len());
        self.hasher.update(&front[..from_front]);
        self.hasher.update(&back[..n - from_front]);
        self.pending.drain(..n);
        self.hashed = offset;
    }
}

/// Hands the bytes it reads to [`Hashing`].
struct Hashed<R> {
    inner: R,
    state: Arc<Mutex<Hashing>>,
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = self.state.lock().expect("never poisoned");
        state.pending.extend(&buf[..n]);
        Ok(n)
    }
}

/// Records with the SHA-256 of the stream up to the end of the last one returned
/// ([`open_fingerprinted`]).
pub struct Fingerprinted {
    records: Box<dyn Records>,
    hashing: Arc<Mutex<Hashing>>,
}

impl Fingerprinted {
    /// The SHA-256 (lowercase hex) of the stream's bytes before the end of the last record
    /// returned (of no bytes before the first).
    pub fn sha256(&self) -> String {
        let state = self.hashing.lock().expect("never poisoned");
        hex(&state.hasher.clone().finalize())
    }
}

/// The SHA-256 of nothing: the fingerprint of an empty prefix.
pub fn empty_sha256() -> String {
    hex(&Sha256::new().finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Records for Fingerprinted {
    fn next_record(&mut self) -> Option<anyhow::Result<RawRecord>> {
        let record = self.records.next_record();
        if let Some(Ok(r)) = &record {
            self.hashing
                .lock()
                .expect("never poisoned")
                .advance(r.end.offset);
        }
        record
    }
}

/// The input has no record boundary where a checkpoint recorded one: it is not the input the
/// checkpoint was written for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoBoundary {
    /// The checkpoint's position.
    pub wanted: Position,
    /// Where the input's records end instead: the input's end, or the first record end past
    /// `wanted`.
    pub found: Position,
    pub input_ended: bool,
}

impl std::fmt::Display for NoBoundary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.input_ended {
            write!(
                f,
                "the input ends at byte {} before the checkpoint's offset {}",
                self.found.offset, self.wanted.offset
            )
        } else {
            write!(
                f,
                "the checkpoint's position (byte {}, line {}) is not a record boundary of this input (byte {}, line {})",
                self.wanted.offset, self.wanted.lines, self.found.offset, self.found.lines
            )
        }
    }
}

impl std::error::Error for NoBoundary {}

/// A stream of raw records. `None` = end of input; `Err` = the input itself failed (I/O,
/// corrupt gzip): the run stops there.
pub trait Records: Send {
    fn next_record(&mut self) -> Option<anyhow::Result<RawRecord>>;

    /// Reads and drops records up to `to` (a position a checkpoint recorded: a record
    /// boundary). Re-reading rather than seeking works the same for gzip input.
    fn skip_to(&mut self, to: Position) -> anyhow::Result<()> {
        let mut at = Position::default();
        while at.offset < to.offset {
            match self.next_record() {
                Some(Ok(r)) => at = r.end,
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(NoBoundary {
                        wanted: to,
                        found: at,
                        input_ended: true,
                    }
                    .into());
                }
            }
        }
        if at != to {
            return Err(NoBoundary {
                wanted: to,
                found: at,
                input_ended: false,
            }
            .into());
        }
        Ok(())
    }
}

/// CSV with a header row; columns found by name, extra columns ignored. NULL is an empty
/// field, `\N` or `NULL`.
pub struct CsvRecords<R: Read> {
    reader: csv::Reader<R>,
    /// For each of [`COLUMNS`], its index in the file.
    index: [usize; 7],
    /// The header's field count: every record must have exactly as many.
    width: usize,
    record: csv::ByteRecord,
}

impl<R: Read + Send> CsvRecords<R> {
    pub fn new(inner: R) -> anyhow::Result<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(inner);
        let headers = reader
            .headers()
            .context("reading the CSV header row")?
            .clone();
        let mut index = [0; 7];
        for (slot, column) in index.iter_mut().zip(COLUMNS) {
            *slot = headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(column))
                .with_context(|| format!("the CSV header has no column {column:?}"))?;
        }
        Ok(Self {
            reader,
            index,
            width: headers.len(),
            record: csv::ByteRecord::new(),
        })
    }
}

impl<R: Read + Send> Records for CsvRecords<R> {
    fn next_record(&mut self) -> Option<anyhow::Result<RawRecord>> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => return None,
            Ok(true) => {}
            Err(e) => return Some(Err(anyhow::Error::new(e).context("reading the CSV input"))),
        }
        let line = self.record.position().map(|p| p.line()).unwrap_or(0);
        let after = self.reader.position();
        // The line count after a record: the next record starts on `line()`, so the record
        // ends on the line before it.
        let end = Position {
            offset: after.byte(),
            lines: after.line().saturating_sub(1),
        };
        let fields = if self.record.len() != self.width {
            Err(RawError::FieldCount {
                found: self.record.len(),
                expected: self.width,
            })
        } else {
            csv_fields(&self.record, &self.index)
        };
        Some(Ok(RawRecord { line, end, fields }))
    }
}

fn csv_fields(
    record: &csv::ByteRecord,
    index: &[usize; 7],
) -> Result<[Option<String>; 7], RawError> {
    let mut out: [Option<String>; 7] = Default::default();
    for ((slot, &i), column) in out.iter_mut().zip(index).zip(COLUMNS) {
        let text = std::str::from_utf8(&record[i]).map_err(|_| RawError::Encoding { column })?;
        let text = text.trim();
        *slot = match text {
            "" | "\\N" | "NULL" => None,
            other => Some(other.to_owned()),
        };
    }
    Ok(out)
}

/// MySQL's tab-separated export (`FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES
/// TERMINATED BY '\n'`, the defaults): `\N` is NULL, a backslash escapes the next byte
/// (`\t`, `\n`, `\r`, `\0`, `\b`, `\Z`, `\\`, or an actual tab or newline). No header, the
/// columns in [`COLUMNS`] order; a first row whose first field is `account_id` is a header.
pub struct TsvRecords<R: BufRead> {
    reader: R,
    at: Position,
    buf: Vec<u8>,
    first: bool,
}

impl<R: BufRead + Send> TsvRecords<R> {
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            at: Position::default(),
            buf: Vec::new(),
            first: true,
        }
    }

    /// One physical record: lines joined while a line ends in an escaped newline.
    fn read_raw(&mut self) -> std::io::Result<Option<(u64, Vec<u8>)>> {
        self.buf.clear();
        let start_line = self.at.lines + 1;
        loop {
            let n = self.reader.read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                break;
            }
            self.at.offset += n as u64;
            self.at.lines += 1;
            if self.buf.last() != Some(&b'\n') {
                break; // last line without a newline
            }
            let body = &self.buf[..self.buf.len() - 1];
            let trailing = body.iter().rev().take_while(|b| **b == b'\\').count();
            if trailing % 2 == 0 {
                break; // an unescaped newline ends the record
            }
        }
        let mut record = std::mem::take(&mut self.buf);
        if record.last() == Some(&b'\n') {
            record.pop();
            let trailing_backslashes = record
                .iter()
                .rev()
                .skip(1)
                .take_while(|b| **b == b'\\')
                .count();
            if record.last() == Some(&b'\r') && trailing_backslashes % 2 == 0 {
                record.pop();
            }
        }
        Ok(Some((start_line, record)))
    }
}

/// Splits one TSV record into unescaped fields (`None` = `\N`).
pub fn split_tsv(record: &[u8]) -> Vec<Result<Option<String>, ()>> {
    let mut fields = Vec::new();
    let mut field: Vec<u8> = Vec::new();
    let mut raw_null = true; // the raw field is exactly `\N` so far
    let mut raw_len = 0usize;
    let mut bytes = record.iter().copied();
    let finish = |field: &mut Vec<u8>, raw_null: bool, raw_len: usize| {
        if raw_null && raw_len == 2 {
            field.clear();
            return Ok(None);
        }
        String::from_utf8(std::mem::take(field))
            .map(Some)
            .map_err(|_| ())
    };
    while let Some(b) = bytes.next() {
        match b {
            b'\t' => {
                fields.push(finish(&mut field, raw_null, raw_len));
                raw_null = true;
                raw_len = 0;
            }
            b'\\' => {
                let Some(next) = bytes.next() else {
                    field.push(b'\\');
                    raw_null = false;
                    raw_len += 1;
                    continue;
                };
                raw_null &= raw_len == 0 && next == b'N';
                raw_len += 2;
                field.push(match next {
                    b'0' => 0,
                    b'b' => 8,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'Z' => 26,
                    b'N' => b'N',
                    other => other,
                });
            }
            other => {
                raw_null = false;
                raw_len += 1;
                field.push(other);
            }
        }
    }
    fields.push(finish(&mut field, raw_null, raw_len));
    fields
}

impl<R: BufRead + Send> Records for TsvRecords<R> {
    fn next_record(&mut self) -> Option<anyhow::Result<RawRecord>> {
        loop {
            let (line, record) = match self.read_raw() {
                Ok(Some(r)) => r,
                Ok(None) => return None,
                Err(e) => return Some(Err(anyhow::Error::new(e).context("reading the TSV input"))),
            };
            let first = std::mem::replace(&mut self.first, false);
            if first && record.starts_with(b"account_id\t") {
                continue; // an optional header row
            }
            if record.is_empty() {
                continue; // a blank line (a trailing newline at the end of a file)
            }
            let split = split_tsv(&record);
            let fields = if split.len() != COLUMNS.len() {
                Err(RawError::FieldCount {
                    found: split.len(),
                    expected: COLUMNS.len(),
                })
            } else {
                let mut out: [Option<String>; 7] = Default::default();
                let mut bad = None;
                for ((slot, value), column) in out.iter_mut().zip(split).zip(COLUMNS) {
                    match value {
                        Ok(v) => *slot = v.map(|s| s.trim().to_owned()),
                        Err(()) => {
                            bad.get_or_insert(RawError::Encoding { column });
                        }
                    }
                }
                bad.map_or(Ok(out), Err)
            };
            return Some(Ok(RawRecord {
                line,
                end: self.at,
                fields,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(records: &mut dyn Records) -> Vec<RawRecord> {
        std::iter::from_fn(|| records.next_record())
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn format_by_extension() {
        assert_eq!(
            Format::from_path(Path::new("a/members.csv.gz")),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::from_path(Path::new("members.TXT")),
            Some(Format::Tsv)
        );
        assert_eq!(
            Format::from_path(Path::new("members.tsv")),
            Some(Format::Tsv)
        );
        assert_eq!(Format::from_path(Path::new("members.json")), None);
        assert!(is_gzip(Path::new("x.tsv.gz")) && !is_gzip(Path::new("x.tsv")));
    }

    #[test]
    fn tsv_nulls_escapes_and_escaped_newlines() {
        assert_eq!(
            split_tsv(b"a\\tb\t\\N\t\\\\N\tx\\\ny\t"),
            vec![
                Ok(Some("a\tb".to_owned())),
                Ok(None),
                Ok(Some("\\N".to_owned())),
                Ok(Some("x\ny".to_owned())),
                Ok(Some(String::new())),
            ]
        );
        let input = b"account_id\tmember_jkos_id\tjkos_account\tphone_number\tcreated_at\tkyc_pass_time\tdevice_bind_time\n\
a1\tj1\tA1\t0912345678\t2024-01-01 00:00:00\t\\N\t\\N\n\
a2\tj\\\n2\tA2\t0912345678\t2024-01-01 00:00:00\t\\N\t\\N\r\n\
a3\tshort\n";
        let mut r = TsvRecords::new(&input[..]);
        let rows = all(&mut r);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].fields.as_ref().unwrap()[5], None);
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[1].end.lines, 4);
        assert_eq!(rows[1].fields.as_ref().unwrap()[1].as_deref(), Some("j\n2"));
        assert_eq!(
            rows[1].fields.as_ref().unwrap()[6],
            None,
            "\\r\\n is a line end"
        );
        assert_eq!(rows[2].line, 5);
        assert_eq!(
            rows[2].fields,
            Err(RawError::FieldCount {
                found: 2,
                expected: 7
            })
        );
        assert_eq!(rows[2].end.offset, input.len() as u64);
    }

    #[test]
    fn csv_columns_by_name_and_positions_for_resuming() {
        let input = "phone_number,account_id,member_jkos_id,jkos_account,created_at,kyc_pass_time,device_bind_time,extra\n\
0912345678,a1,j1,A1,2024-01-01 00:00:00,,\\N,x\n\
\"09123\n45678\",a2,j2,A2,2024-01-01 00:00:00,NULL,2024-01-02 00:00:00,y\n\
0912345678,a3\n\
09123,45678,a4,j4,A4,2024-01-01 00:00:00,,,z\n";
        let mut r = CsvRecords::new(input.as_bytes()).unwrap();
        let rows = all(&mut r);
        assert_eq!(rows.len(), 4);
        let first = rows[0].fields.as_ref().unwrap();
        assert_eq!(first[0].as_deref(), Some("a1"));
        assert_eq!(first[3].as_deref(), Some("0912345678"));
        assert_eq!((first[5].clone(), first[6].clone()), (None, None));
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[1].end.lines, 4);
        assert!(matches!(rows[2].fields, Err(RawError::FieldCount { .. })));
        // One field too many (an unquoted comma in the phone): refused whole, not shifted.
        assert_eq!(
            rows[3].fields,
            Err(RawError::FieldCount {
                found: 9,
                expected: 8
            })
        );
        assert_eq!(rows[3].end.offset, input.len() as u64);

        // Skipping to a recorded position continues with the next record.
        let mut again = CsvRecords::new(input.as_bytes()).unwrap();
        again.skip_to(rows[0].end).unwrap();
        assert_eq!(all(&mut again), rows[1..].to_vec());
        let mut tsv = TsvRecords::new(&b"a\n"[..]);
        assert!(
            tsv.skip_to(Position {
                offset: 1,
                lines: 0
            })
            .is_err()
        );
    }

    #[test]
    fn a_missing_csv_column_is_refused_up_front() {
        let err = CsvRecords::new("account_id,phone_number\n".as_bytes())
            .err()
            .unwrap();
        assert!(err.to_string().contains("member_jkos_id"), "{err}");
    }
}
