//! The lexicon folder: loaded at start, reloaded when its files change,
//! edited through the CLI and the admin API.
//!
//! The lists in force are swapped whole: a request sees either the old or
//! the new lists, never half of each. A file that does not parse is
//! refused and its error (file and line) reported; the version of that list
//! last loaded stays in force, and the other files load normally.

use crate::GuardError;
use crate::lexicon::{Compiled, Lexicon, list_files, read_file, valid_name};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// The list shipped with Zhishu, written into a missing lexicon folder.
pub const SHIPPED: &str = include_str!("../../../configs/guard/sensitive.txt");

/// A summary of one list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LexiconInfo {
    /// The list's name (`lexicon.NAME`).
    pub name: String,
    /// Its entries.
    pub entries: usize,
}

type Stamps = Vec<(PathBuf, Option<SystemTime>, u64)>;

/// What a reload did.
#[derive(Debug)]
pub struct Reload {
    /// The lists in force now.
    pub lists: Vec<LexiconInfo>,
    /// Files refused (each error names file and line); their last loaded
    /// version, if any, stays in force.
    pub refused: Vec<GuardError>,
}

/// The lexicon folder and the lists in force.
#[derive(Debug)]
pub struct LexiconStore {
    dir: Option<PathBuf>,
    current: RwLock<Arc<Compiled>>,
    stamps: Mutex<Stamps>,
    /// The last version of each list that parsed.
    last_good: Mutex<BTreeMap<String, Lexicon>>,
    /// Held by every change and reload, so a reload that read the folder
    /// earlier cannot install its lists after a later one.
    edits: Mutex<()>,
}

fn stamps(dir: &Path) -> Result<Stamps, GuardError> {
    Ok(list_files(dir)?
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).ok();
            let t = m.as_ref().and_then(|m| m.modified().ok());
            let len = m.map_or(0, |m| m.len());
            (p, t, len)
        })
        .collect())
}

/// Reads every file of `dir`: the lists that parse, and the errors of
/// those that do not.
fn read_all(dir: &Path) -> Result<(Vec<Lexicon>, Vec<GuardError>), GuardError> {
    let mut lists = Vec::new();
    let mut refused = Vec::new();
    for p in list_files(dir)? {
        match read_file(&p) {
            Ok(l) => lists.push(l),
            Err(e) => refused.push(e),
        }
    }
    Ok((lists, refused))
}

impl LexiconStore {
    /// Opens `dir`, creating it with the shipped list when it does not
    /// exist.
    ///
    /// # Errors
    /// When the folder cannot be created or read, or a file does not parse
    /// (the error names file and line): a guard must not start without its
    /// lists.
    pub fn open(dir: &Path) -> Result<Self, GuardError> {
        if !dir.exists() {
            let io = |source| GuardError::Io {
                path: dir.to_path_buf(),
                source,
            };
            std::fs::create_dir_all(dir).map_err(io)?;
            std::fs::write(dir.join("sensitive.txt"), SHIPPED).map_err(io)?;
            tracing::info!(dir = %dir.display(), "created the lexicon folder with the shipped list");
        }
        let stamp = stamps(dir)?;
        let (lists, mut refused) = read_all(dir)?;
        if !refused.is_empty() {
            return Err(refused.swap_remove(0));
        }
        let last_good = lists.iter().map(|l| (l.name.clone(), l.clone())).collect();
        let compiled = Compiled::new(lists);
        tracing::info!(dir = %dir.display(), lists = compiled.lexicons().len(), entries = compiled.entries(), "lexicons loaded");
        Ok(Self {
            dir: Some(dir.to_path_buf()),
            current: RwLock::new(Arc::new(compiled)),
            stamps: Mutex::new(stamp),
            last_good: Mutex::new(last_good),
            edits: Mutex::new(()),
        })
    }

    /// Lists held in memory only (tests, `zhishu guard check --lexicon`).
    pub fn in_memory(lists: Vec<Lexicon>) -> Self {
        Self {
            dir: None,
            last_good: Mutex::new(lists.iter().map(|l| (l.name.clone(), l.clone())).collect()),
            current: RwLock::new(Arc::new(Compiled::new(lists))),
            stamps: Mutex::new(Vec::new()),
            edits: Mutex::new(()),
        }
    }

    /// The lists in force.
    pub fn current(&self) -> Arc<Compiled> {
        self.current
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The folder.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Reloads every list from the folder. A file that does not parse is
    /// refused (reported in [`Reload::refused`]) and its last good version
    /// stays in force; a deleted file's list goes.
    ///
    /// # Errors
    /// When the folder cannot be read; the lists in force stay.
    pub fn reload(&self) -> Result<Reload, GuardError> {
        let _edits = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        self.reload_locked()
    }

    fn reload_locked(&self) -> Result<Reload, GuardError> {
        let Some(dir) = &self.dir else {
            return Ok(Reload {
                lists: self.list(),
                refused: Vec::new(),
            });
        };
        let stamp = stamps(dir)?;
        // Whatever the outcome, this state of the folder has been seen: a
        // broken file is reported once, not every few seconds.
        if let Ok(mut s) = self.stamps.lock() {
            *s = stamp;
        }
        let (mut lists, refused) = read_all(dir)?;
        let mut last_good = self.last_good.lock().unwrap_or_else(|p| p.into_inner());
        let present: Vec<String> = list_files(dir)?
            .iter()
            .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
            .collect();
        last_good.retain(|name, _| present.contains(name));
        for l in &lists {
            last_good.insert(l.name.clone(), l.clone());
        }
        for (name, l) in last_good.iter() {
            if !lists.iter().any(|x| &x.name == name) {
                lists.push(l.clone());
            }
        }
        lists.sort_by(|a, b| a.name.cmp(&b.name));
        drop(last_good);
        let compiled = Compiled::new(lists);
        match self.current.write() {
            Ok(mut c) => *c = Arc::new(compiled),
            Err(p) => *p.into_inner() = Arc::new(compiled),
        }
        Ok(Reload {
            lists: self.list(),
            refused,
        })
    }

    /// Reloads when a file was added, removed or changed since the last
    /// load; `None` when nothing changed.
    pub fn reload_if_changed(&self) -> Option<Result<Reload, GuardError>> {
        let dir = self.dir.as_ref()?;
        let _edits = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        let now = match stamps(dir) {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        let changed = self.stamps.lock().map(|s| *s != now).unwrap_or(true);
        changed.then(|| self.reload_locked())
    }

    /// The lists in force.
    pub fn list(&self) -> Vec<LexiconInfo> {
        self.current()
            .lexicons()
            .iter()
            .map(|l| LexiconInfo {
                name: l.name.clone(),
                entries: l.entries.len(),
            })
            .collect()
    }

    /// One list in force.
    ///
    /// # Errors
    /// [`GuardError::NoLexicon`].
    pub fn get(&self, name: &str) -> Result<Lexicon, GuardError> {
        self.current()
            .lexicons()
            .iter()
            .find(|l| l.name == name)
            .cloned()
            .ok_or_else(|| GuardError::NoLexicon(name.to_owned()))
    }

    fn path_of(&self, name: &str) -> Result<PathBuf, GuardError> {
        if !valid_name(name) {
            return Err(GuardError::BadName(name.to_owned()));
        }
        let dir = self
            .dir
            .as_ref()
            .ok_or_else(|| GuardError::NoLexicon(name.to_owned()))?;
        Ok(dir.join(format!("{name}.txt")))
    }

    /// Writes list `name` (creating or replacing it) and loads it.
    ///
    /// # Errors
    /// A text that does not parse (nothing is written), or I/O.
    pub fn put(&self, name: &str, text: &str) -> Result<Lexicon, GuardError> {
        let _edits = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        self.put_locked(name, text)
    }

    fn put_locked(&self, name: &str, text: &str) -> Result<Lexicon, GuardError> {
        let path = self.path_of(name)?;
        if text.len() as u64 > crate::lexicon::MAX_FILE_BYTES {
            return Err(GuardError::Lexicon {
                file: path,
                line: 0,
                message: format!(
                    "the list is larger than {} MiB",
                    crate::lexicon::MAX_FILE_BYTES >> 20
                ),
            });
        }
        let parsed = Lexicon::parse(name, text, &path)?;
        let io = |source| GuardError::Io {
            path: path.clone(),
            source,
        };
        // Write then rename: a reader never sees half a file (the name is
        // this process's, for a CLI writing beside a server).
        let tmp = path.with_extension(format!("txt.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        // Other files' errors do not undo this change; the watch reports
        // them.
        self.reload_locked()?;
        Ok(parsed)
    }

    /// Adds entries to list `name` (created if missing); entries already
    /// there are not repeated.
    ///
    /// # Errors
    /// As [`LexiconStore::put`].
    pub fn add(&self, name: &str, entries: &[String]) -> Result<Lexicon, GuardError> {
        let _edits = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.path_of(name)?;
        let mut text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            // Unreadable or not UTF-8: never rewrite a list from nothing.
            Err(source) => return Err(GuardError::Io { path, source }),
        };
        let have: Vec<String> = text.lines().map(|l| l.trim().to_owned()).collect();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        for e in entries {
            if !have.contains(&e.trim().to_owned()) {
                text.push_str(e.trim());
                text.push('\n');
            }
        }
        self.put_locked(name, &text)
    }

    /// Removes entries (as written, flags included) from list `name`.
    ///
    /// # Errors
    /// [`GuardError::NoLexicon`], or as [`LexiconStore::put`].
    pub fn remove(&self, name: &str, entries: &[String]) -> Result<Lexicon, GuardError> {
        let _edits = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.path_of(name)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(GuardError::NoLexicon(name.to_owned()));
            }
            Err(source) => return Err(GuardError::Io { path, source }),
        };
        let drop: Vec<&str> = entries.iter().map(|e| e.trim()).collect();
        let kept: String = text
            .lines()
            .filter(|l| {
                let t = l.trim();
                let term = t.split('|').next().unwrap_or_default().trim();
                !drop.contains(&t) && !drop.contains(&term)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        self.put_locked(name, &kept)
    }

    /// Deletes list `name`.
    ///
    /// # Errors
    /// [`GuardError::NoLexicon`] or I/O.
    pub fn delete(&self, name: &str) -> Result<(), GuardError> {
        let _edits = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.path_of(name)?;
        if !path.exists() {
            return Err(GuardError::NoLexicon(name.to_owned()));
        }
        std::fs::remove_file(&path).map_err(|source| GuardError::Io { path, source })?;
        self.reload_locked()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_file_is_refused_and_the_lists_in_force_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = LexiconStore::open(&dir.path().join("guard")).unwrap();
        assert_eq!(store.list()[0].name, "sensitive");
        let before = store.current().entries();
        std::fs::write(dir.path().join("guard/extra.txt"), "好词\n坏 | 字\n").unwrap();
        let r = store.reload_if_changed().unwrap().unwrap();
        let e = &r.refused[0];
        assert!(e.to_string().ends_with("extra.txt:2: unknown flag `字` after `|`: the only flag is `word` (whole-word match)"), "{e}");
        assert_eq!(store.current().entries(), before);
        // Seen once: not reported again until the folder changes.
        assert!(store.reload_if_changed().is_none());
        std::fs::write(dir.path().join("guard/extra.txt"), "好词\n坏字 | word\n").unwrap();
        let r = store.reload_if_changed().unwrap().unwrap();
        assert_eq!(r.lists.len(), 2);
        assert_eq!(store.current().entries(), before + 2);
        // Broken again: its last good version stays, the rest reloads.
        std::fs::write(dir.path().join("guard/extra.txt"), "|\n").unwrap();
        std::fs::write(dir.path().join("guard/more.txt"), "三词\n").unwrap();
        let r = store.reload_if_changed().unwrap().unwrap();
        assert_eq!(r.refused.len(), 1);
        assert_eq!(store.current().entries(), before + 3);
        // A startup with a broken file fails closed.
        assert!(LexiconStore::open(&dir.path().join("guard")).is_err());
    }

    #[test]
    fn put_add_remove_and_delete_edit_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = LexiconStore::open(dir.path()).unwrap_or_else(|_| unreachable!());
        // An existing empty folder is not seeded.
        assert!(store.list().is_empty());
        assert!(matches!(
            store.put("x", "ok\n|bad\n"),
            Err(GuardError::Lexicon { line: 2, .. })
        ));
        assert!(!dir.path().join("x.txt").exists());
        store.add("x", &["甲".into(), "乙 | word".into()]).unwrap();
        store.add("x", &["甲".into()]).unwrap();
        assert_eq!(store.get("x").unwrap().entries.len(), 2);
        store.remove("x", &["乙".into()]).unwrap();
        assert_eq!(store.get("x").unwrap().to_text(), "甲\n");
        store.delete("x").unwrap();
        assert!(matches!(store.get("x"), Err(GuardError::NoLexicon(_))));
        assert!(matches!(
            store.put("../evil", "a"),
            Err(GuardError::BadName(_))
        ));
    }
}
