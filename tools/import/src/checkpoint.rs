//! The checkpoint (ADR 0007): the position after the longest fully applied prefix of the
//! input, the counters so far and the rejects file's length then. Written to a temporary file,
//! fsynced, then renamed over the old one, so a `kill -9` leaves the old or the new one.

use crate::dump::Position;
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

/// What a checkpoint recognises its input by: its size and a fingerprint (FNV-1a, 64 bits) of
/// its first MiB, so a corrected dump saved under the same name is not resumed at the old
/// position even when its size is the same (dumps that differ differ in their first rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputId {
    pub size: u64,
    pub head: u64,
}

impl InputId {
    pub const HEAD_BYTES: u64 = 1 << 20;

    pub fn of(path: &Path) -> anyhow::Result<Self> {
        use std::io::Read;
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let size = file.metadata()?.len();
        let mut head = Vec::new();
        file.take(Self::HEAD_BYTES).read_to_end(&mut head)?;
        Ok(Self {
            size,
            head: fnv1a(&head),
        })
    }
}

/// FNV-1a, 64 bits: stable across builds and toolchains (a checkpoint may outlive a binary).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The input's size in bytes: a checkpoint is never applied to another file.
    pub input_size: u64,
    /// [`InputId::head`] of the input (0 in checkpoints written before it existed: refused).
    #[serde(default)]
    pub input_head: u64,
    pub position: Position,
    pub counters: Counters,
    /// The rejects file's length at `position` (a re-run truncates it back to this).
    pub rejects_len: u64,
    /// The whole input was applied.
    pub complete: bool,
}

impl Checkpoint {
    /// The checkpoint in `path`, if any, checked against the input.
    pub fn load(path: &Path, input: InputId) -> anyhow::Result<Option<Checkpoint>> {
        let input_size = input.size;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let checkpoint: Checkpoint = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a checkpoint", path.display()))?;
        if checkpoint.input_size != input_size {
            bail!(
                "{} belongs to an input of {} bytes, this one has {}: remove it to start over",
                path.display(),
                checkpoint.input_size,
                input_size
            );
        }
        if checkpoint.input_head != input.head {
            bail!(
                "{} belongs to another input of the same size (its first MiB differs): remove \
                 it to start over",
                path.display()
            );
        }
        Ok(Some(checkpoint))
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

    #[test]
    fn round_trip_and_refusal_of_another_input() {
        let dir = std::env::temp_dir().join(format!("ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        let input = InputId { size: 10, head: 7 };
        assert_eq!(Checkpoint::load(&path, input).unwrap(), None);
        let c = Checkpoint {
            input_size: 10,
            input_head: 7,
            position: Position {
                offset: 5,
                lines: 1,
            },
            counters: Counters {
                rows: 1,
                ..Counters::default()
            },
            rejects_len: 3,
            complete: false,
        };
        c.store(&path).unwrap();
        assert_eq!(Checkpoint::load(&path, input).unwrap(), Some(c));
        assert!(Checkpoint::load(&path, InputId { size: 11, head: 7 }).is_err());
        // Same size, other content: refused.
        assert!(Checkpoint::load(&path, InputId { size: 10, head: 8 }).is_err());
        // The fingerprint reads the file's first MiB.
        let a = dir.join("a.tsv");
        std::fs::write(&a, "acc-1\tj\n").unwrap();
        let b = dir.join("b.tsv");
        std::fs::write(&b, "acc-2\tj\n").unwrap();
        let (ia, ib) = (InputId::of(&a).unwrap(), InputId::of(&b).unwrap());
        assert_eq!(ia.size, ib.size);
        assert_ne!(ia.head, ib.head);
        assert_eq!(ia, InputId::of(&a).unwrap());
        assert!(!temp_path(&path).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
