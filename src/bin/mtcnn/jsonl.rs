//! `--jsonl OUT`: one line an image, written to a hidden partial file beside OUT and renamed to OUT when the run
//! completes, so OUT never holds a half-written line. `--resume` keeps the complete lines of OUT and of an
//! interrupted run's partial file, and skips their images.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

pub struct JsonlWriter {
    out: PathBuf,
    partial: PathBuf,
    file: File,
}

/// `.NAME.partial` beside `out`.
fn partial_path(out: &Path) -> PathBuf {
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    out.with_file_name(format!(".{name}.partial"))
}

/// The complete lines of `path` (ending in a newline and holding a JSON object with an "image"), or none if it
/// does not exist.
fn complete_lines(path: &Path) -> Result<Vec<(String, String)>, String> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut reader = BufReader::new(file);
    let mut lines = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 || !line.ends_with('\n') {
            break; // the end, or a line cut off by an interrupted run
        }
        let parsed: Option<serde_json::Value> = serde_json::from_str(line.trim_end()).ok();
        if let Some(image) = parsed
            .as_ref()
            .and_then(|v| v.get("image")?.as_str().map(str::to_owned))
        {
            lines.push((image, line.clone()));
        }
    }
    Ok(lines)
}

impl JsonlWriter {
    /// Opens the partial file; with `resume`, seeds it with the complete lines already written and returns their
    /// images.
    pub fn open(out: &Path, resume: bool) -> Result<(Self, HashSet<String>), String> {
        let partial = partial_path(out);
        let mut done = HashSet::new();
        let mut kept = Vec::new();
        if resume {
            for (image, line) in complete_lines(out)?.into_iter().chain(complete_lines(&partial)?) {
                if done.insert(image) {
                    kept.push(line);
                }
            }
        }
        // Seed through a second temporary file, so that an interruption here loses nothing either.
        let seed = partial.with_extension("partial.new");
        let error = |e: std::io::Error| format!("--jsonl {}: {e}", out.display());
        let mut file = File::create(&seed).map_err(error)?;
        for line in &kept {
            file.write_all(line.as_bytes()).map_err(error)?;
        }
        file.sync_all().map_err(error)?;
        std::fs::rename(&seed, &partial).map_err(error)?;
        let file = OpenOptions::new().append(true).open(&partial).map_err(error)?;
        Ok((
            JsonlWriter {
                out: out.to_path_buf(),
                partial,
                file,
            },
            done,
        ))
    }

    /// Appends one line, whole, in one write.
    pub fn write(&mut self, value: &serde_json::Value) -> Result<(), String> {
        let mut line = value.to_string();
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| format!("--jsonl {}: {e}", self.partial.display()))
    }

    /// Makes OUT the complete file.
    pub fn finish(self) -> Result<(), String> {
        let error = |e: std::io::Error| format!("--jsonl {}: {e}", self.out.display());
        self.file.sync_all().map_err(error)?;
        std::fs::rename(&self.partial, &self.out).map_err(error)
    }
}
