//! Rows of the dump that repeat an earlier row's `account_id`, found in memory that does not
//! grow with the dump: an external merge sort. `--emit-s3-import` needs it because it writes
//! every profile as if the table were empty (one item per row): a repeated account would be
//! two items with one key and, when both rows qualify, two codes for one member. (The API
//! import needs no such pass: its second row meets the first one's stored profile and only
//! fills what is missing.)
//!
//! Pass 1 sorts `(account_id, line)` pairs in runs of at most [`RUN_BYTES`] in memory, each
//! spilled to a temporary file; the runs are merged, and within one account every line after
//! the first is a repeat. The repeats are sorted again by line (the same sorter), so the emit
//! pass reads them in file order beside the dump, one at a time.

use anyhow::Context;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// In-memory bytes of one sorted run before it is spilled (keys + lines + overhead).
pub const RUN_BYTES: usize = 16 << 20;

/// One record: a key (compared as bytes) and a line number.
type Entry = (Vec<u8>, u64);

/// A directory removed (with what is in it) when dropped.
struct SpillDir(PathBuf);

impl SpillDir {
    fn new(parent: &Path) -> anyhow::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!(".dedupe-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the temporary directory {}", dir.display()))?;
        Ok(Self(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

/// Removes the spill directories under `parent` left by runs that died without cleaning up
/// (`kill -9`, a crash): `.dedupe-<pid>-<n>` whose process no longer exists. Another live
/// run's directories are left alone. Best effort: what cannot be removed stays.
pub fn remove_stale_spills(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(".dedupe-"))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sorts `(key, line)` entries by key, then line, in bounded memory.
pub struct ExternalSorter {
    dir: SpillDir,
    run: Vec<Entry>,
    run_bytes: usize,
    limit: usize,
    runs: Vec<PathBuf>,
}

impl ExternalSorter {
    /// Spills runs into a fresh temporary directory under `parent`.
    pub fn new(parent: &Path, limit: usize) -> anyhow::Result<Self> {
        let dir = SpillDir::new(parent)?;
        Ok(Self {
            dir,
            run: Vec::new(),
            run_bytes: 0,
            limit: limit.max(1),
            runs: Vec::new(),
        })
    }

    pub fn push(&mut self, key: &[u8], line: u64) -> anyhow::Result<()> {
        self.run_bytes += key.len() + std::mem::size_of::<Entry>();
        self.run.push((key.to_vec(), line));
        if self.run_bytes >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> anyhow::Result<()> {
        if self.run.is_empty() {
            return Ok(());
        }
        self.run.sort_unstable();
        let path = self.dir.path().join(format!("run-{}", self.runs.len()));
        let mut out = BufWriter::new(File::create(&path)?);
        for (key, line) in self.run.drain(..) {
            let len = u32::try_from(key.len()).context("a key longer than 4 GiB")?;
            out.write_all(&len.to_le_bytes())?;
            out.write_all(&key)?;
            out.write_all(&line.to_le_bytes())?;
        }
        out.flush()?;
        self.runs.push(path);
        self.run_bytes = 0;
        Ok(())
    }

    /// Every entry pushed, in order, to `each`.
    pub fn finish(
        mut self,
        mut each: impl FnMut(&[u8], u64) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.spill()?;
        let mut readers = self
            .runs
            .iter()
            .map(|p| Ok(BufReader::with_capacity(64 << 10, File::open(p)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some((key, line)) = read_entry(r)? {
                heap.push(Reverse((key, line, i)));
            }
        }
        while let Some(Reverse((key, line, i))) = heap.pop() {
            each(&key, line)?;
            if let Some((key, line)) = read_entry(&mut readers[i])? {
                heap.push(Reverse((key, line, i)));
            }
        }
        Ok(())
    }
}

fn read_entry(r: &mut impl Read) -> anyhow::Result<Option<Entry>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut key = vec![0u8; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut key)?;
    let mut line = [0u8; 8];
    r.read_exact(&mut line)?;
    Ok(Some((key, u64::from_le_bytes(line))))
}

/// A row whose account appeared on an earlier line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    pub line: u64,
    pub first_line: u64,
}

/// The repeats among `(account_id, line)` pairs, in line order, spilled under `parent`.
/// Feed it with [`Repeats::push`], then read them back with [`Repeats::finish`].
pub struct Repeats {
    accounts: ExternalSorter,
    parent: PathBuf,
    limit: usize,
}

impl Repeats {
    pub fn new(parent: &Path, limit: usize) -> anyhow::Result<Self> {
        remove_stale_spills(parent);
        Ok(Self {
            accounts: ExternalSorter::new(parent, limit)?,
            parent: parent.to_owned(),
            limit,
        })
    }

    pub fn push(&mut self, account_id: &str, line: u64) -> anyhow::Result<()> {
        self.accounts.push(account_id.as_bytes(), line)
    }

    /// The repeats in line order (an iterator over a spilled file: constant memory).
    pub fn finish(self) -> anyhow::Result<RepeatsInOrder> {
        // By line: the repeat's line as a big-endian key sorts numerically.
        let mut by_line = ExternalSorter::new(&self.parent, self.limit)?;
        let mut current: Option<(Vec<u8>, u64)> = None;
        self.accounts.finish(|account, line| {
            match &current {
                Some((seen, first)) if seen.as_slice() == account => {
                    by_line.push(&line.to_be_bytes(), *first)?;
                }
                _ => current = Some((account.to_vec(), line)),
            }
            Ok(())
        })?;
        let dir = SpillDir::new(&self.parent)?;
        let path = dir.path().join("repeats");
        let mut out = BufWriter::new(
            std::fs::OpenOptions::new()
                .create_new(true)
                .read(true)
                .write(true)
                .open(&path)?,
        );
        by_line.finish(|line, first| {
            let line: [u8; 8] = line.try_into().context("an 8-byte line key")?;
            out.write_all(&line)?;
            out.write_all(&first.to_be_bytes())?;
            Ok(())
        })?;
        let mut file = out.into_inner().context("flushing the repeats")?;
        std::io::Seek::rewind(&mut file)?;
        Ok(RepeatsInOrder {
            reader: BufReader::new(file),
            next: None,
            _dir: dir,
        })
    }
}

/// The repeats, read in line order.
pub struct RepeatsInOrder {
    reader: BufReader<File>,
    next: Option<Repeat>,
    _dir: SpillDir,
}

impl RepeatsInOrder {
    fn peek(&mut self) -> anyhow::Result<Option<Repeat>> {
        if self.next.is_none() {
            let mut buf = [0u8; 16];
            match self.reader.read_exact(&mut buf) {
                Ok(()) => {
                    let (line, first) = buf.split_at(8);
                    self.next = Some(Repeat {
                        line: u64::from_be_bytes(line.try_into().expect("8 bytes")),
                        first_line: u64::from_be_bytes(first.try_into().expect("8 bytes")),
                    });
                }
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self.next)
    }

    /// The repeat on `line`, if it is one. Lines must be asked in increasing order.
    pub fn at(&mut self, line: u64) -> anyhow::Result<Option<Repeat>> {
        while let Some(next) = self.peek()? {
            if next.line < line {
                self.next = None;
            } else if next.line == line {
                self.next = None;
                return Ok(Some(next));
            } else {
                break;
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    /// A scratch directory for one test, removed afterwards.
    struct TestDir(SpillDir);

    impl TestDir {
        fn new() -> Self {
            Self(SpillDir::new(&std::env::temp_dir()).unwrap())
        }
        fn path(&self) -> &Path {
            self.0.path()
        }
    }

    #[test]
    fn spills_of_dead_runs_are_removed_and_live_ones_kept() {
        let scratch = TestDir::new();
        let dead = scratch.path().join(".dedupe-4000000000-0");
        let mine = scratch
            .path()
            .join(format!(".dedupe-{}-77", std::process::id()));
        let other = scratch.path().join("not-a-spill");
        for dir in [&dead, &mine, &other] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("run-0"), b"x").unwrap();
        }
        remove_stale_spills(scratch.path());
        assert!(!dead.exists(), "a dead run's spill is removed");
        assert!(mine.exists() && other.exists());
    }

    #[test]
    fn sorts_across_many_runs() {
        let dir = TestDir::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut entries: Vec<(Vec<u8>, u64)> = (0..5_000u64)
            .map(|n| {
                (
                    format!("acc-{}", rng.random_range(0..2_000)).into_bytes(),
                    n,
                )
            })
            .collect();
        entries.shuffle(&mut rng);
        // ~100 bytes per run: dozens of runs.
        let mut sorter = ExternalSorter::new(dir.path(), 100).unwrap();
        for (k, l) in &entries {
            sorter.push(k, *l).unwrap();
        }
        let mut out = Vec::new();
        sorter
            .finish(|k, l| {
                out.push((k.to_vec(), l));
                Ok(())
            })
            .unwrap();
        entries.sort();
        assert_eq!(out, entries);
    }

    #[test]
    fn finds_every_repeat_with_its_first_line_in_line_order() {
        let dir = TestDir::new();
        let accounts = ["a", "b", "a", "c", "b", "a", "d"];
        for limit in [1, 64, RUN_BYTES] {
            let mut repeats = Repeats::new(dir.path(), limit).unwrap();
            for (i, a) in accounts.iter().enumerate() {
                repeats.push(a, i as u64 + 1).unwrap();
            }
            let mut found = repeats.finish().unwrap();
            let got: Vec<_> = (1..=accounts.len() as u64)
                .filter_map(|line| found.at(line).unwrap())
                .collect();
            assert_eq!(
                got,
                vec![
                    Repeat {
                        line: 3,
                        first_line: 1
                    },
                    Repeat {
                        line: 5,
                        first_line: 2
                    },
                    Repeat {
                        line: 6,
                        first_line: 1
                    },
                ],
                "run limit {limit}"
            );
        }
        // The temporary runs are gone with the sorters.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn skipped_lines_do_not_hide_a_later_repeat() {
        let dir = TestDir::new();
        let mut repeats = Repeats::new(dir.path(), 32).unwrap();
        for (line, a) in [(2, "x"), (10, "y"), (11, "x"), (40, "y")] {
            repeats.push(a, line).unwrap();
        }
        let mut found = repeats.finish().unwrap();
        assert_eq!(found.at(5).unwrap(), None);
        assert_eq!(
            found.at(20).unwrap(),
            None,
            "line 11 was passed over, not asked"
        );
        assert_eq!(
            found.at(40).unwrap(),
            Some(Repeat {
                line: 40,
                first_line: 10
            })
        );
        assert_eq!(found.at(41).unwrap(), None);
    }
}
