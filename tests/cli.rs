//! The `mtcnn` command line: JSON output, several images, --raw, --draw, bench, and bad files.

#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mtcnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mtcnn"))
        .args(args)
        .output()
        .expect("run mtcnn")
}

fn astronaut() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/astronaut.png")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The Python package's output on this image (`../shared/data/reference/astronaut.json`), with its key order.
const ASTRONAUT_JSON: &str = r#"[{"box":[182,64,83,107],"confidence":0.9991206526756287,"keypoints":{"left_eye":[204,100],"right_eye":[245,102],"nose":[224,126],"mouth_left":[202,139],"mouth_right":[244,140]}}]"#;

#[test]
fn detect_prints_the_python_packages_json() {
    let out = mtcnn(&["detect", astronaut().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected: serde_json::Value = serde_json::from_str(ASTRONAUT_JSON).unwrap();
    assert_eq!(printed[0]["box"], expected[0]["box"]);
    assert_eq!(printed[0]["keypoints"], expected[0]["keypoints"]);
    let dc = printed[0]["confidence"].as_f64().unwrap() - expected[0]["confidence"].as_f64().unwrap();
    assert!(dc.abs() < 1e-4);
    // Key order as the package prints it.
    let s = text(&out.stdout);
    let order = [
        "\"box\"",
        "\"confidence\"",
        "\"left_eye\"",
        "\"right_eye\"",
        "\"nose\"",
        "\"mouth_left\"",
        "\"mouth_right\"",
    ];
    let positions: Vec<usize> = order.iter().map(|k| s.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{s}");
}

#[test]
fn raw_prints_floats() {
    let out = mtcnn(&["detect", "--raw", astronaut().to_str().unwrap()]);
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let x = printed[0]["box"][0].as_f64().unwrap();
    assert!(x.fract() != 0.0 && (x - 182.0).abs() < 1.0, "{x}");
}

#[test]
fn bad_files_are_reported_and_the_others_still_processed() {
    let dir = tempfile::tempdir().unwrap();
    let fake_png = dir.path().join("text.png");
    std::fs::write(&fake_png, "this is not an image").unwrap();
    let truncated = dir.path().join("truncated.png");
    let bytes = std::fs::read(astronaut()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let empty = dir.path().join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.path().join("missing.png");
    let a = astronaut();
    let args: Vec<&str> = ["detect", a.to_str().unwrap()]
        .into_iter()
        .chain(
            [&fake_png, &truncated, &empty, &missing]
                .iter()
                .map(|p| p.to_str().unwrap()),
        )
        .chain([a.to_str().unwrap()])
        .collect();
    let out = mtcnn(&args);
    assert!(!out.status.success(), "a bad file must make the exit code non-zero");
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "both good images are printed: {lines:?}");
    for line in &lines {
        assert_eq!(line["image"].as_str().unwrap(), a.to_str().unwrap());
        assert_eq!(line["faces"].as_array().unwrap().len(), 1);
    }
    let err = text(&out.stderr);
    for bad in ["text.png", "truncated.png", "empty.jpg", "missing.png"] {
        assert!(err.contains(bad), "stderr should name {bad}: {err}");
    }
    assert!(err.contains("2 images, 2 faces, 4 failed"), "{err}");
}

#[test]
fn draw_writes_the_annotated_picture() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.png");
    let out = mtcnn(&[
        "detect",
        astronaut().to_str().unwrap(),
        "--draw",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let drawn = image::open(&target).unwrap().to_rgb8();
    let original = image::open(astronaut()).unwrap().to_rgb8();
    assert_eq!(drawn.dimensions(), original.dimensions());
    // The box's top edge (y = 64, x from 182 to 265) is drawn in green.
    assert_eq!(drawn.get_pixel(220, 64).0, [0, 255, 0]);
    // Far from the face nothing changed.
    assert_eq!(drawn.get_pixel(10, 500), original.get_pixel(10, 500));

    // Several images: OUT is a folder with one picture each.
    let folder = dir.path().join("drawn");
    let a = astronaut();
    let out = mtcnn(&[
        "detect",
        a.to_str().unwrap(),
        a.to_str().unwrap(),
        "--draw",
        folder.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(folder.join("astronaut.png").is_file());
}

#[test]
fn options_reach_the_detector_and_invalid_ones_fail() {
    let a = astronaut();
    let out = mtcnn(&["detect", a.to_str().unwrap(), "--min-face", "200"]);
    assert!(out.status.success());
    // MTCNN's minimum face only sets the first pyramid scale (12/200 here), so the face is still found, from
    // other levels, with another box than the default's [182, 64, 83, 107].
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(printed[0]["box"], serde_json::json!([182, 64, 83, 107]));
    let out = mtcnn(&["detect", a.to_str().unwrap(), "--thresholds", "0.6,0.7,1.0"]);
    assert_eq!(text(&out.stdout).trim(), "[]", "no face beats an O-Net threshold of 1");
    let out = mtcnn(&["detect", a.to_str().unwrap(), "--min-face", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("min_face_size"));
    // No adapter (a backend with no driver here): --device gpu is an error that says so.
    let out = Command::new(env!("CARGO_BIN_EXE_mtcnn"))
        .args(["detect", a.to_str().unwrap(), "--device", "gpu"])
        .env("WGPU_BACKEND", if cfg!(windows) { "metal" } else { "dx12" })
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("gpu") && text(&out.stderr).contains("adapter"),
        "{}",
        text(&out.stderr)
    );
    let out = mtcnn(&["detect", a.to_str().unwrap(), "--device", "cpu"]);
    assert!(out.status.success());
}

/// `--fit-keypoints` clamps the keypoints of a face cut by the image's left edge, and changes nothing else.
#[test]
fn fit_keypoints_clamps_keypoints_outside_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.png");
    let astronaut = image::open(astronaut()).unwrap().to_rgb8();
    image::imageops::crop_imm(&astronaut, 215, 40, 200, 200)
        .to_image()
        .save(&cut)
        .unwrap();
    let faces = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["detect", cut.to_str().unwrap(), "--device", "cpu", "--raw"];
        args.extend(extra);
        let out = mtcnn(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (mut plain, fitted) = (faces(&[]), faces(&["--fit-keypoints"]));
    assert_eq!(plain.as_array().unwrap().len(), 1, "{plain}");
    let mut outside = 0;
    for point in plain[0]["keypoints"].as_object_mut().unwrap().values_mut() {
        for (v, max) in point.as_array_mut().unwrap().iter_mut().zip([199.0, 199.0]) {
            let x = v.as_f64().unwrap();
            outside += usize::from(!(0.0..=max).contains(&x));
            *v = serde_json::json!(x.clamp(0.0, max));
        }
    }
    assert_eq!(
        outside, 2,
        "the left eye and the left mouth corner lie left of the image"
    );
    assert_eq!(fitted, plain);
}

#[test]
fn bench_prints_median_and_minimum() {
    let out = mtcnn(&["bench", astronaut().to_str().unwrap(), "--runs", "3", "--stages"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.contains("1 faces") && s.contains("median") && s.contains("min") && s.contains("R-Net"),
        "{s}"
    );
    // The pyramid's part of P-Net's stage, in milliseconds, on the line after it.
    let pyramid = s.lines().find(|l| l.trim_start().starts_with("(pyramid)")).expect(&s);
    let ms: f64 = pyramid
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect(pyramid);
    assert!(ms > 0.0, "{pyramid}");
    // The CPU reads nothing back: its network rows show "-" for the device, host and readback columns.
    let rnet = s
        .lines()
        .find(|l| l.trim_start().starts_with("crops + R-Net"))
        .expect(&s);
    let columns: Vec<&str> = rnet.split_whitespace().collect();
    assert_eq!(columns[4..8], ["-", "-", "-", "-"], "{rnet}");
}

/// `mtcnn bench IMAGE --runs 2 --stages --json` on `device`, parsed.
fn bench_json(device: &str) -> Output {
    mtcnn(&[
        "bench",
        astronaut().to_str().unwrap(),
        "--runs",
        "2",
        "--stages",
        "--json",
        "--device",
        device,
    ])
}

#[test]
fn bench_json_reports_the_figures_and_each_stage() {
    let out = bench_json("cpu");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(
        (
            &v["width"],
            &v["height"],
            &v["device"],
            &v["runs"],
            &v["batch"],
            &v["faces"]
        ),
        (&512.into(), &512.into(), &"cpu".into(), &2.into(), &1.into(), &1.into())
    );
    assert!(v["adapter"].is_null(), "{v}");
    assert_eq!(v["cpu_kernels"], mtcnn_wgpu::CpuKernels::detected().name(), "{v}");
    let (median, min) = (v["median_ms"].as_f64().unwrap(), v["min_ms"].as_f64().unwrap());
    assert!(min > 0.0 && min <= median, "{v}");
    let s = &v["stages"];
    assert_eq!(s["levels"], 10);
    assert_eq!(s["faces"], 1);
    // The work counted per candidate: 1.53 M multiply-adds an R-Net input, 12.9 M an O-Net input.
    let inputs = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(s["rnet"]["multiply_adds"], inputs("rnet_inputs") * 1_530_768);
    assert_eq!(s["onet"]["multiply_adds"], inputs("onet_inputs") * 12_909_952);
    // The CPU has no device time and reads nothing back; it measures the pyramid's part of P-Net's stage.
    for stage in ["pnet", "rnet", "onet"] {
        assert!(
            s[stage]["device_ms"].is_null() && s[stage]["readback_bytes"].is_null(),
            "{s}"
        );
    }
    let (pyramid, pnet) = (
        s["pyramid_ms"].as_f64().unwrap(),
        s["pnet"]["wall_ms"].as_f64().unwrap(),
    );
    assert!(pyramid > 0.0 && pyramid < pnet, "{s}");
    // The process's peak resident memory: at least the weights, the image and the buffers of a 512×512 pyramid,
    // and within the README's bound for the CPU path (64 MiB + 6·W·H + 1.5 · 40·s²·W·H with s = 0.6: 71 MiB).
    if cfg!(target_os = "linux") {
        let peak = v["peak_resident_mib"].as_f64().unwrap();
        assert!((10.0..71.0).contains(&peak), "{v}");
    }
}

#[test]
fn threads_sets_the_cpu_pool_and_zero_is_refused() {
    let out = mtcnn(&[
        "bench",
        astronaut().to_str().unwrap(),
        "--runs",
        "1",
        "--json",
        "--device",
        "cpu",
        "--threads",
        "3",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&v["threads"], &v["faces"]), (&3.into(), &1.into()), "{v}");
    let out = mtcnn(&[
        "detect",
        "--threads",
        "1",
        "--device",
        "cpu",
        astronaut().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        ASTRONAUT_JSON.replace("0.9991206526756287", "0.9991205334663391")
    );
    let out = mtcnn(&["detect", "--threads", "0", astronaut().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn verbose_and_bench_name_the_cpu_kernels_that_run() {
    let kernels = mtcnn_wgpu::CpuKernels::detected();
    let image = astronaut();
    let image = image.to_str().unwrap();
    let out = mtcnn(&["-v", "detect", "--device", "cpu", "--threads", "2", image]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = format!("device: cpu, 2 threads, {kernels} kernels (requested cpu)");
    assert!(text(&out.stderr).contains(&line), "{line:?} in {}", text(&out.stderr));
    let out = mtcnn(&["bench", image, "--runs", "1", "--device", "cpu", "--threads", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = format!("device cpu ({kernels} kernels) threads 2: 1 faces");
    assert!(text(&out.stdout).contains(&line), "{line:?} in {}", text(&out.stdout));
}

#[cfg(feature = "gpu")]
#[test]
fn bench_json_on_the_gpu_reports_each_stages_readback() {
    let out = bench_json("gpu");
    if !out.status.success() && std::env::var_os("MTCNN_REQUIRE_GPU").is_none_or(|v| v == "0") {
        eprintln!("SKIPPED: no GPU ({})", text(&out.stderr).trim());
        return;
    }
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!((&v["device"], &v["faces"]), (&"gpu".into(), &1.into()));
    assert!(!v["adapter"].as_str().unwrap().is_empty(), "{v}");
    let s = &v["stages"];
    // Six floats back an R-Net candidate, sixteen an O-Net candidate.
    let inputs = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(s["rnet"]["readback_bytes"], inputs("rnet_inputs") * 24);
    assert_eq!(s["onet"]["readback_bytes"], inputs("onet_inputs") * 64);
    assert!(
        s["pnet"]["readback_bytes"].as_u64().unwrap() >= 4 + 32 * inputs("proposals"),
        "{s}"
    );
}

#[test]
fn thresholds_need_three_values() {
    let out = mtcnn(&["detect", astronaut().to_str().unwrap(), "--thresholds", "0.6,0.7"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("three values"));
}

#[test]
fn align_writes_one_crop_a_face() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("aligned");
    let out = mtcnn(&[
        "detect",
        "--device",
        "cpu",
        "--align",
        out_dir.to_str().unwrap(),
        "--align-size",
        "150",
        astronaut().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let crop = image::open(out_dir.join("astronaut_0.png")).unwrap().to_rgb8();
    assert_eq!(crop.dimensions(), (150, 150));
    // The same pixels as the library's align on the same face.
    let image = image::open(astronaut()).unwrap().to_rgb8();
    let detector = mtcnn_wgpu::Detector::builder()
        .device(mtcnn_wgpu::Device::Cpu)
        .build()
        .unwrap();
    let face = detector.detect(&image).unwrap()[0];
    assert_eq!(crop, mtcnn_wgpu::align(&image, &face, 150).unwrap());
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 1);

    let refused = mtcnn(&[
        "detect",
        "--faces-only",
        "--align",
        out_dir.to_str().unwrap(),
        astronaut().to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
}

/// A folder like a user's: some golden images (or the astronaut), a truncated JPEG, an empty file, a text file
/// named .png, a file that is no image by name, and a subfolder with one more image.
fn messy_folder() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/images");
    let mut good = Vec::new();
    for (i, name) in ["ivan", "messi5", "test1", "test2", "tom_hanks"].iter().enumerate() {
        let source = shared.join(format!("{name}.png"));
        let source = if source.is_file() { source } else { astronaut() };
        let target = dir.path().join(format!("{i}_{name}.png"));
        std::fs::copy(source, &target).unwrap();
        good.push(target);
    }
    let photo = image::open(&good[0]).unwrap().to_rgb8();
    let jpeg = dir.path().join("photo.jpg");
    photo.save(&jpeg).unwrap();
    good.push(jpeg.clone());
    let bytes = std::fs::read(&jpeg).unwrap();
    std::fs::write(dir.path().join("truncated.jpg"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(dir.path().join("empty.png"), b"").unwrap();
    std::fs::write(dir.path().join("text.png"), "this is not an image").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "skipped: not an image by name").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let nested = dir.path().join("sub/nested.png");
    std::fs::copy(astronaut(), &nested).unwrap();
    good.sort();
    (dir, good)
}

fn jsonl_images(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["width"].as_u64().unwrap() > 0 && v["faces"].is_array(), "{l}");
            v["image"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn a_folder_is_processed_with_bad_files_reported_and_a_summary() {
    let (dir, good) = messy_folder();
    let out_file = dir.path().join("out.jsonl");
    let out = mtcnn(&[
        "detect",
        "--device",
        "cpu",
        dir.path().to_str().unwrap(),
        "--jsonl",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "bad files make the exit code 1: {}",
        text(&out.stderr)
    );
    let err = text(&out.stderr);
    for bad in ["truncated.jpg", "empty.png", "text.png"] {
        assert!(err.contains(bad), "stderr should name {bad}: {err}");
    }
    assert!(!err.contains("notes.txt") && !err.contains("nested"), "{err}");
    assert!(
        err.contains(&format!("{} images", good.len())) && err.contains("3 failed"),
        "{err}"
    );
    let expected: Vec<String> = good.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    assert_eq!(jsonl_images(&out_file), expected);
    assert!(text(&out.stdout).is_empty(), "with --jsonl nothing goes to stdout");

    // --recursive takes the subfolder too; without --jsonl the lines go to stdout.
    let out = mtcnn(&["detect", "--device", "cpu", "--recursive", dir.path().to_str().unwrap()]);
    let printed: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(printed.len(), good.len() + 1);
    assert!(printed
        .iter()
        .any(|l| l["image"].as_str().unwrap().ends_with("nested.png")));
}

#[test]
fn resume_finishes_an_interrupted_run_without_repeating_or_losing_an_image() {
    let (dir, good) = messy_folder();
    let folder = dir.path().to_str().unwrap().to_owned();
    let complete = dir.path().join("complete.jsonl");
    let run = |out: &Path, resume: bool| {
        let mut args = vec!["detect", "--device", "cpu", &folder, "--jsonl", out.to_str().unwrap()];
        if resume {
            args.push("--resume");
        }
        mtcnn(&args)
    };
    run(&complete, false);
    let all = std::fs::read_to_string(&complete).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), good.len());

    // A run killed halfway: OUT does not exist yet, its partial file holds two whole lines and a cut-off third.
    let out_file = dir.path().join("out.jsonl");
    let partial = dir.path().join(".out.jsonl.partial");
    let cut = &lines[2][..lines[2].len() / 2];
    std::fs::write(&partial, format!("{}\n{}\n{cut}", lines[0], lines[1])).unwrap();
    let out = run(&out_file, true);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        all,
        "each image once, in order, no cut line"
    );
    assert!(!partial.exists());
    assert!(
        text(&out.stderr).contains(&format!("{} images", good.len() - 2)),
        "{}",
        text(&out.stderr)
    );

    // A real kill: start a run, stop it as soon as it has written something, resume; still each image once.
    let killed = dir.path().join("killed.jsonl");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mtcnn"))
        .args([
            "detect",
            "--device",
            "cpu",
            &folder,
            "--jsonl",
            killed.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let killed_partial = dir.path().join(".killed.jsonl.partial");
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(30) {
        if std::fs::metadata(&killed_partial).is_ok_and(|m| m.len() > 0) || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    run(&killed, true);
    assert_eq!(std::fs::read_to_string(&killed).unwrap(), all);
}

#[test]
fn resume_needs_jsonl() {
    let out = mtcnn(&["detect", "--resume", astronaut().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// CRC-32 (IEEE) as PNG chunks use it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_tiny_file_claiming_a_huge_image_is_refused_without_allocating_it() {
    // A valid PNG header for 100 000 × 100 000 RGB (30 GB decoded) and no pixel data: a decompression bomb's shape.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunk = |png: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let body: Vec<u8> = kind.iter().chain(data).copied().collect();
        png.extend_from_slice(&body);
        png.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut header = Vec::new();
    header.extend_from_slice(&100_000u32.to_be_bytes());
    header.extend_from_slice(&100_000u32.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]); // an empty zlib stream
    chunk(&mut png, b"IEND", &[]);
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.png");
    std::fs::write(&bomb, &png).unwrap();
    let start = std::time::Instant::now();
    let out = mtcnn(&[
        "detect",
        "--device",
        "cpu",
        bomb.to_str().unwrap(),
        astronaut().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("bomb.png") && err.to_lowercase().contains("limit"),
        "{err}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "the good image is still processed"
    );
}

/// Runs `mtcnn ARGS` with `input` on stdin.
fn mtcnn_piped(args: &[&str], input: Vec<u8>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mtcnn"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mtcnn");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Runs `mtcnn frames ARGS` with `input` on stdin.
fn mtcnn_frames(args: &[&str], input: Vec<u8>) -> Output {
    mtcnn_piped(&[&["frames"], args].concat(), input)
}

#[test]
fn detect_reads_an_image_piped_to_stdin() {
    let png = std::fs::read(astronaut()).unwrap();
    let piped = mtcnn_piped(&["detect", "--device", "cpu", "-"], png.clone());
    assert!(piped.status.success(), "{}", text(&piped.stderr));
    let from_file = mtcnn(&["detect", "--device", "cpu", astronaut().to_str().unwrap()]);
    assert_eq!(text(&piped.stdout), text(&from_file.stdout));
    // Named twice: a usage error. Not an image: reported, exit 1.
    assert_eq!(mtcnn_piped(&["detect", "-", "-"], png).status.code(), Some(2));
    let text_in = mtcnn_piped(&["detect", "--device", "cpu", "-"], b"hello".to_vec());
    assert_eq!(text_in.status.code(), Some(1));
    assert!(
        text(&text_in.stderr).contains("mtcnn: -: "),
        "{}",
        text(&text_in.stderr)
    );
}

#[test]
fn frames_reads_raw_video_frames_from_stdin() {
    let rgb = image::open(astronaut()).unwrap().to_rgb8();
    let detector = mtcnn_wgpu::Detector::builder()
        .device(mtcnn_wgpu::Device::Cpu)
        .build()
        .unwrap();
    // Through text, as the lines are read (serde_json's parsing of a float may differ from the value in its last bit).
    let json = |faces: Vec<mtcnn_wgpu::Face>| -> serde_json::Value {
        serde_json::from_str(&serde_json::to_string(&faces).unwrap()).unwrap()
    };
    let expected = json(detector.detect(&rgb).unwrap());
    assert_eq!(expected.as_array().unwrap().len(), 1);
    // Frame 1 is the image upside down, so that frames are told apart.
    let flipped = image::imageops::flip_vertical(&rgb);
    let flipped_expected = json(detector.detect(&flipped).unwrap());
    // BGR, rows padded to 1540 bytes, as `ffmpeg -pix_fmt bgr24` with a padded stride would give them.
    let bgr = |image: &image::RgbImage| -> Vec<u8> {
        image
            .rows()
            .flat_map(|row| row.flat_map(|p| [p[2], p[1], p[0]]).chain([7; 4]))
            .collect()
    };
    let mut input = [bgr(&rgb), bgr(&flipped), bgr(&rgb)].concat();
    let args = [
        "--size", "512x512", "--layout", "bgr", "--stride", "1540", "--device", "cpu",
    ];
    let out = mtcnn_frames(&args, input.clone());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (i, (line, faces)) in lines.iter().zip([&expected, &flipped_expected, &expected]).enumerate() {
        assert_eq!(line["frame"], i, "{line}");
        assert_eq!(&line["faces"], faces, "frame {i}");
    }
    assert!(text(&out.stderr).contains("3 frames, "), "{}", text(&out.stderr));

    // In batches of 2 (`detect_batch` on 2 frames, then 1): the same lines.
    let batched = mtcnn_frames(&[&args[..], &["--batch", "2"]].concat(), input.clone());
    assert!(batched.status.success(), "{}", text(&batched.stderr));
    assert_eq!(text(&batched.stdout), text(&out.stdout));

    // A cut-off last frame: the complete ones are printed, the cut is reported, the exit code is 1.
    input.truncate(2 * 1540 * 512 + 1000);
    let out = mtcnn_frames(&args, input);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2);
    assert!(
        text(&out.stderr).contains("the input ends inside frame 2: 1000 of its 788480 bytes"),
        "{}",
        text(&out.stderr)
    );

    // A stride shorter than a row, or no size, is a usage error.
    let out = mtcnn_frames(&["--size", "512x512", "--stride", "100"], Vec::new());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("the stride is 100"), "{}", text(&out.stderr));
    let out = mtcnn_frames(&["--size", "512"], Vec::new());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // Sizes that would allocate gigabytes are refused before anything is allocated.
    for (args, says) in [
        (&["--size", "100000x100000"][..], "max_pixels"),
        (
            &["--size", "64x64", "--stride", "100000000"][..],
            "exceed 1073741824 bytes",
        ),
        (
            &["--size", "8000x6000", "--batch", "100", "--device", "cpu"][..],
            "use a smaller batch",
        ),
    ] {
        let out = mtcnn_frames(args, Vec::new());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(says), "{args:?}: {}", text(&out.stderr));
    }
}

/// A photo stored sideways with an EXIF orientation (as phones write them) is detected upright by default: the
/// same faces as the upright image. `--ignore-orientation` detects the pixels as stored.
#[test]
fn exif_orientation_turns_photos_upright() {
    use image::ImageEncoder;
    let upright = image::open(astronaut()).unwrap().to_rgb8();
    // Stored turned a quarter to the left, with orientation 6: "turn 90° clockwise to display".
    let stored = image::imageops::rotate270(&upright);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sideways.png");
    let mut png = Vec::new();
    let mut encoder = image::codecs::png::PngEncoder::new(&mut png);
    // A little-endian TIFF header and one IFD entry: tag 0x0112 (orientation), SHORT, count 1, value 6.
    let mut exif = b"II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
    exif.extend([6, 0, 0, 0, 0, 0, 0, 0]);
    encoder.set_exif_metadata(exif).unwrap();
    encoder
        .write_image(
            stored.as_raw(),
            stored.width(),
            stored.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    std::fs::write(&path, png).unwrap();

    let upright_out = mtcnn(&["detect", "--device", "cpu", astronaut().to_str().unwrap()]);
    let turned = mtcnn(&["detect", "--device", "cpu", path.to_str().unwrap()]);
    assert!(turned.status.success(), "{}", text(&turned.stderr));
    assert_eq!(text(&turned.stdout), text(&upright_out.stdout));
    assert!(
        text(&turned.stdout).contains("\"box\":[182,64,83,107]"),
        "{}",
        text(&turned.stdout)
    );

    let as_stored = mtcnn(&[
        "detect",
        "--device",
        "cpu",
        "--ignore-orientation",
        path.to_str().unwrap(),
    ]);
    assert!(as_stored.status.success(), "{}", text(&as_stored.stderr));
    assert_ne!(text(&as_stored.stdout), text(&upright_out.stdout));
}
