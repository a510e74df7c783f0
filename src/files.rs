//! Writing files so that a reader never sees half of one: a temporary file
//! beside the target, then a rename over it.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `contents` to `path` atomically, creating the parent folder.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut w = AtomicFile::create(path)?;
    w.write_all(contents)?;
    w.commit()
}

/// [`write_atomic`] for a secret: readable and writable by its owner only,
/// from the moment the file exists.
pub fn write_secret(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut w = AtomicFile::create(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&w.tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    w.write_all(contents)?;
    w.commit()
}

/// Whether `path` can be written (its folder is made if missing): checked
/// before a run, so a bad report path is not found after it. Only an
/// absent path or a regular file is ever replaced.
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    refuse_special(path)?;
    let w = AtomicFile::create(path)?;
    drop(w);
    Ok(())
}

/// Refuses a path that exists and is not a regular file: a folder, a
/// device, a FIFO, a socket, or a symlink (whatever it points at; a rename
/// over it would replace the link, a write through it a file elsewhere).
pub fn refuse_special(path: &Path) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let kind = meta.file_type();
    let what = if kind.is_symlink() {
        "is a symlink (give the real path)"
    } else if kind.is_dir() {
        "is a folder"
    } else if !kind.is_file() {
        "is not a regular file (a device, FIFO or socket)"
    } else {
        return Ok(());
    };
    Err(std::io::Error::other(what))
}

/// Reads a whole file, refusing one larger than `cap` bytes (a device or
/// a runaway file is not read into memory).
pub fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut out = Vec::new();
    file.take(cap + 1).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(std::io::Error::other(format!(
            "larger than {} bytes: not a file this tool reads",
            cap
        )));
    }
    Ok(out)
}

/// Reads a text file with [`read_capped`].
pub fn read_text_capped(path: &Path, cap: u64) -> std::io::Result<String> {
    String::from_utf8(read_capped(path, cap)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
}

/// The size cap for the files a user hands in (target files, baselines,
/// curated cases, snapshots).
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// One identity per file, whether it exists or not: the canonical folder
/// and the name (so `./r.json` and `r.json` are the same).
fn identity(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let dir = std::fs::canonicalize(parent_of(path)).unwrap_or_else(|_| parent_of(path).into());
    dir.join(path.file_name().unwrap_or_default())
}

/// Refuses outputs that name the same file twice, or one of the inputs:
/// a report must never replace the target file or another report.
/// Returns the first clash as (output, what it clashes with).
pub fn find_clash<'a>(outputs: &[&'a Path], inputs: &[&'a Path]) -> Option<(&'a Path, &'a Path)> {
    let ids: Vec<PathBuf> = outputs.iter().map(|p| identity(p)).collect();
    for (i, out) in outputs.iter().enumerate() {
        if let Some(j) = (0..i).find(|j| ids[*j] == ids[i]) {
            return Some((out, outputs[j]));
        }
        if let Some(input) = inputs.iter().find(|p| identity(p) == ids[i]) {
            return Some((out, input));
        }
    }
    None
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A file written in pieces and put in place whole by [`AtomicFile::commit`];
/// dropped uncommitted, it leaves nothing behind.
pub struct AtomicFile {
    tmp: PathBuf,
    path: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> std::io::Result<AtomicFile> {
        let dir = parent_of(path);
        std::fs::create_dir_all(dir)?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{}.{}.{n}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
            std::process::id()
        ));
        let file = std::fs::File::create(&tmp)?;
        Ok(AtomicFile {
            tmp,
            path: path.to_path_buf(),
            file: Some(std::io::BufWriter::new(file)),
        })
    }

    /// Flushes the file to disk and renames it over the target, unless
    /// the target has become something other than a regular file.
    pub fn commit(mut self) -> std::io::Result<()> {
        refuse_special(&self.path)?;
        if let Some(f) = self.file.take() {
            let f = f.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
        }
        std::fs::rename(&self.tmp, &self.path)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(std::io::Error::other("already committed")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("out.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.json")]);
    }

    #[cfg(unix)]
    #[test]
    fn only_absent_paths_and_regular_files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let regular = dir.path().join("r.json");
        std::fs::write(&regular, "x").unwrap();
        check_writable(&regular).unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&regular, &link).unwrap();
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        for (path, why) in [
            (&link, "symlink"),
            (&fifo, "not a regular file"),
            (&dir.path().to_path_buf(), "folder"),
        ] {
            let e = check_writable(path).unwrap_err().to_string();
            assert!(e.contains(why), "{}: {e}", path.display());
            assert!(write_atomic(path, b"y").is_err(), "{}", path.display());
        }
        assert_eq!(std::fs::read(&regular).unwrap(), b"x");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let same = dir.path().join(".").join("r.json");
        let other = dir.path().join("o.json");
        assert_eq!(
            find_clash(&[other.as_path(), same.as_path()], &[regular.as_path()]),
            Some((same.as_path(), regular.as_path()))
        );
        assert_eq!(
            find_clash(&[other.as_path(), other.as_path()], &[]).map(|c| c.1),
            Some(other.as_path())
        );
        assert_eq!(find_clash(&[other.as_path()], &[regular.as_path()]), None);
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 11]).unwrap();
        assert!(
            read_capped(&big, 10)
                .unwrap_err()
                .to_string()
                .contains("larger than 10")
        );
        assert_eq!(read_capped(&big, 11).unwrap().len(), 11);
    }
}
