//! The checkpoint (ADR 0007): the position after the longest fully applied prefix of the
//! input, the counters so far, the rejects file's length then, and a SHA-256 of that prefix
//! (what was applied: a re-run resumes only if the input still starts with exactly those
//! bytes). Written to a temporary file, fsynced, then renamed over the old one, so a
//! `kill -9` leaves the old or the new one.

use crate::dump::{Fingerprinted, NoBoundary, Position, Records};
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Rows read (valid or not).
    pub rows: u64,
    /// Profiles created.
    pub created: u64,
    /// Existing profiles whose missing fields were filled.
    pub completed: u64,
    /// Rows that changed nothing.
    pub already_present: u64,
    /// PERSONAL codes created (members qualified before launch).
    pub codes_created: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// SHA-256 (hex) of the input's (decompressed) bytes before `position`: the rows it
    /// applied. A re-run re-reads that prefix and resumes only if it is byte for byte the
    /// same ([`Checkpoint::verify`]). Absent in checkpoints of earlier versions (which
    /// fingerprinted only the first MiB): those are refused.
    #[serde(default)]
    pub applied_sha256: Option<String>,
    pub position: Position,
    pub counters: Counters,
    /// The rejects file's length at `position` (a re-run truncates it back to this).
    pub rejects_len: u64,
    /// The whole input was applied.
    pub complete: bool,
}

/// A checkpoint that cannot be resumed with this input: the rows it applied are not (or not
/// provably) the input's first rows now. `referral-import` exits with status 4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputChanged {
    pub checkpoint: PathBuf,
    pub input: PathBuf,
    /// The checkpoint's applied prefix.
    pub applied: Position,
    pub why: String,
}

impl std::fmt::Display for InputChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{input} changed since {checkpoint} was written: {why}. Resuming would skip the rows \
             of lines 1-{lines} without applying them as they are now, so nothing was done. To \
             import the input as it is now, delete {checkpoint} and run the same command again: \
             rows already in the table count as \"already present\", a corrected row is applied \
             like a new one (it fills what the stored profile lacks; a value already stored is \
             never overwritten)",
            input = self.input.display(),
            checkpoint = self.checkpoint.display(),
            why = self.why,
            lines = self.applied.lines,
        )
    }
}

impl std::error::Error for InputChanged {}

impl Checkpoint {
    /// The checkpoint in `path`, if any.
    pub fn load(path: &Path) -> anyhow::Result<Option<Checkpoint>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let checkpoint: Checkpoint = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a checkpoint", path.display()))?;
        Ok(Some(checkpoint))
    }

    /// Reads `records` (freshly opened) up to the checkpoint's position and checks that what
    /// it read is what the checkpoint applied; `Err(`[`InputChanged`]`)` if not. One
    /// sequential read of the applied prefix (decompressed, for gzip). `path` and `input` name
    /// the two in the message.
    pub fn verify(
        &self,
        records: &mut Fingerprinted,
        path: &Path,
        input: &Path,
    ) -> anyhow::Result<()> {
        let changed = |why: String| InputChanged {
            checkpoint: path.to_owned(),
            input: input.to_owned(),
            applied: self.position,
            why,
        };
        let Some(applied) = &self.applied_sha256 else {
            bail!(changed(
                "the checkpoint was written by an earlier referral-import, which recorded no \
                 fingerprint of the rows it applied, so an unchanged input cannot be told from a \
                 changed one"
                    .to_owned()
            ));
        };
        if let Err(e) = records.skip_to(self.position) {
            return match e.downcast::<NoBoundary>() {
                Ok(no_boundary) => Err(changed(no_boundary.to_string()).into()),
                Err(io) => Err(io),
            };
        }
        if records.sha256() != *applied {
            bail!(changed(format!(
                "its first {} bytes (lines 1-{}, the rows already applied) differ from the ones \
                 applied (SHA-256)",
                self.position.offset, self.position.lines
            )));
        }
        Ok(())
    }

    /// Replaces the checkpoint atomically.
    pub fn store(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = temp_path(path);
        let mut file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        Ok(())
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::{self, Format};
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    fn open(path: &Path) -> Fingerprinted {
        dump::open_fingerprinted(path, Format::Tsv, Arc::new(AtomicU64::new(0))).unwrap()
    }

    /// The checkpoint after the first `rows` records of `path`, as a run writes it.
    fn after(path: &Path, rows: usize) -> Checkpoint {
        let mut records = open(path);
        let mut position = Position::default();
        for _ in 0..rows {
            position = records.next_record().unwrap().unwrap().end;
        }
        Checkpoint {
            applied_sha256: Some(records.sha256()),
            position,
            counters: Counters {
                rows: rows as u64,
                ..Counters::default()
            },
            rejects_len: 3,
            complete: false,
        }
    }

    fn verify(c: &Checkpoint, path: &Path) -> anyhow::Result<()> {
        c.verify(&mut open(path), Path::new("c.json"), path)
    }

    /// Rewrites byte `at` of the (plain) dump in place: same size, same first MiB.
    fn change_byte(path: &Path, at: usize) {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn round_trip_and_only_the_input_whose_applied_prefix_is_unchanged_is_resumed() {
        let dir = std::env::temp_dir().join(format!("ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        assert_eq!(Checkpoint::load(&path).unwrap(), None);
        let input = dir.join("members.tsv");
        let mut file = std::fs::File::create(&input).unwrap();
        crate::generate::write_dump(&mut file, Format::Tsv, 15_000, 0, 3).unwrap();
        drop(file);
        let size = std::fs::metadata(&input).unwrap().len() as usize;
        assert!(size > (1 << 20) + 100_000);

        let c = after(&input, 14_000);
        let applied = c.position.offset as usize;
        assert!(applied > (1 << 20) + 50_000 && applied < size);
        c.store(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), Some(c.clone()));
        assert!(!temp_path(&path).exists());
        verify(&c, &input).unwrap();
        assert_eq!(verify(&after(&input, 0), &input).ok(), Some(()));

        // A change after the applied prefix: not applied yet, resumed.
        change_byte(&input, applied + 20);
        verify(&c, &input).unwrap();
        // A same-size change after the first MiB, inside the applied prefix: refused.
        change_byte(&input, applied - 20);
        let err = verify(&c, &input).unwrap_err();
        let changed = err.downcast_ref::<InputChanged>().expect("InputChanged");
        assert_eq!(changed.applied, c.position);
        assert!(err.to_string().contains("delete c.json"), "{err}");
        assert!(err.to_string().contains("lines 1-14000"), "{err}");
        // Shorter than the applied prefix, or without a record boundary there: refused.
        let text = std::fs::read(&input).unwrap();
        std::fs::write(&input, &text[..applied - 1]).unwrap();
        assert!(verify(&c, &input).unwrap_err().is::<InputChanged>());
        std::fs::write(
            &input,
            [&text[..applied - 1], b"xx".as_slice(), &text[applied..]].concat(),
        )
        .unwrap();
        assert!(verify(&c, &input).unwrap_err().is::<InputChanged>());
        // A checkpoint of an earlier version (no fingerprint of what it applied): refused.
        std::fs::write(&input, &text).unwrap();
        let old = Checkpoint {
            applied_sha256: None,
            ..after(&input, 10)
        };
        assert!(verify(&old, &input).unwrap_err().is::<InputChanged>());

        // Gzip: the fingerprint is of the decompressed stream, so a re-compressed but
        // otherwise identical dump resumes.
        let gz = dir.join("members.tsv.gz");
        for level in [1, 9] {
            let mut enc = flate2::write::GzEncoder::new(
                std::fs::File::create(&gz).unwrap(),
                flate2::Compression::new(level),
            );
            std::io::Write::write_all(&mut enc, &text).unwrap();
            enc.finish().unwrap();
            let c = after(&input, 14_000);
            verify(&c, &gz).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
