//! Which files a `detect` run reads: files named on the command line as they are, folders expanded to the images
//! in them (by extension), in name order, their subfolders too with `--recursive`.

use std::path::{Path, PathBuf};

/// Extensions taken from folders (case-insensitive); files named explicitly are tried whatever their name.
const IMAGE_EXTENSIONS: [&str; 9] = ["jpg", "jpeg", "png", "bmp", "webp", "gif", "tif", "tiff", "pnm"];

pub fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// The files to process, and the folders that could not be listed (with the reason).
pub fn expand(paths: &[PathBuf], recursive: bool) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let (mut files, mut failures) = (Vec::new(), Vec::new());
    for path in paths {
        if path.is_dir() {
            walk(path, recursive, &mut files, &mut failures);
        } else {
            // A missing or unreadable file is reported when it is decoded, like any other bad file.
            files.push(path.clone());
        }
    }
    (files, failures)
}

fn walk(dir: &Path, recursive: bool, files: &mut Vec<PathBuf>, failures: &mut Vec<(PathBuf, String)>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return failures.push((dir.to_path_buf(), e.to_string())),
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            if recursive {
                walk(&path, recursive, files, failures);
            }
        } else if is_image_name(&path) {
            files.push(path);
        }
    }
}
