//! GPU = CPU: every GPU kernel against its CPU twin on random shapes (odd sizes, ceil-pool edges, one-pixel maps,
//! crop batches across chunk boundaries), and the GPU networks against the reference fixtures. They need a wgpu
//! adapter: without one they print why and pass, unless `MTCNN_REQUIRE_GPU` is set (as in CI), where they fail.

use std::sync::OnceLock;

use crate::backend::{Backend, ImageView, Pass};
use crate::cpu::crop::crop_and_resize;
use crate::cpu::layers::face_probability;
use crate::cpu::nets::{cpu_layers, forward, Activations};
use crate::cpu::resize::resize_area;
use crate::cpu::tensor::Tensor;
use crate::cpu::{CpuBackend, CpuNets};
use crate::gpu::{GpuBackend, GpuContext};
use crate::netdef::{self, Layer, Padding, Weighted};
use crate::pipeline::crops::CropBox;
use crate::pipeline::pyramid::PyramidLevel;
use crate::weights::Weights;

const TOLERANCE: f32 = 1e-4;

/// The shared GPU backend, or `None` (with the reason printed) where there is no adapter.
fn gpu() -> Option<&'static GpuBackend> {
    static GPU: OnceLock<Result<GpuBackend, String>> = OnceLock::new();
    let gpu = GPU.get_or_init(|| {
        let weights = Weights::embedded().map_err(|e| e.to_string())?;
        GpuContext::any_adapter()
            .and_then(|ctx| GpuBackend::new(ctx, &weights))
            .map_err(|e| e.to_string())
    });
    match gpu {
        Ok(gpu) => Some(gpu),
        Err(e) if std::env::var_os("MTCNN_REQUIRE_GPU").is_some_and(|v| v != "0") => {
            panic!("MTCNN_REQUIRE_GPU is set but the GPU path is unavailable: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: no GPU for the GPU = CPU checks ({e})");
            None
        }
    }
}

/// The batch-shaped pass API on one image.
trait OneImage {
    fn propose1(&mut self, levels: &[PyramidLevel], threshold: f32) -> Vec<Vec<crate::pipeline::boxes::Proposal>>;
    fn refine1(&mut self, boxes: &[CropBox]) -> Vec<crate::backend::Refinement>;
    fn landmark1(&mut self, boxes: &[CropBox]) -> Vec<crate::backend::Landmarking>;
}

impl<P: Pass + ?Sized> OneImage for P {
    fn propose1(&mut self, levels: &[PyramidLevel], threshold: f32) -> Vec<Vec<crate::pipeline::boxes::Proposal>> {
        let mut out = vec![Vec::new()];
        self.propose(&[levels.to_vec()], threshold, &mut out).unwrap();
        out.remove(0)
    }
    fn refine1(&mut self, boxes: &[CropBox]) -> Vec<crate::backend::Refinement> {
        let mut out = vec![Vec::new()];
        self.refine(&[boxes.to_vec()], &mut out).unwrap();
        out.remove(0)
    }
    fn landmark1(&mut self, boxes: &[CropBox]) -> Vec<crate::backend::Landmarking> {
        let mut out = vec![Vec::new()];
        self.landmark(&[boxes.to_vec()], &mut out).unwrap();
        out.remove(0)
    }
}

/// A backend of its own (not the shared one), for tests that lower its limits.
fn private_gpu() -> GpuBackend {
    GpuBackend::new(GpuContext::any_adapter().unwrap(), &Weights::embedded().unwrap()).unwrap()
}

/// A GPU pass whose normalised image is in place: the crops read the image that P-Net's stage writes.
fn pass_ready_for_crops<'a>(gpu: &'a GpuBackend, view: ImageView<'a>) -> crate::gpu::GpuPass<'a> {
    let mut pass = gpu.start(&[view]).unwrap();
    let level = PyramidLevel {
        scale: 1.0,
        height: view.height as usize,
        width: view.width as usize,
    };
    pass.propose1(&[level], 0.6);
    pass
}

/// Deterministic pseudo-random values in [lo, hi).
fn values(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((state >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn conv_layer(kh: usize, kw: usize, cin: usize, cout: usize, prelu: bool, seed: u64) -> Layer {
    let weights = Weighted {
        cin,
        cout,
        kernel: values(kh * kw * cin * cout, seed, -0.5, 0.5),
        bias: values(cout, seed + 1, -0.2, 0.2),
        alpha: prelu.then(|| values(cout, seed + 2, 0.0, 0.5)),
    };
    Layer::Conv { kh, kw, weights }
}

fn cpu_layer(layer: &Layer, x: Tensor) -> Tensor {
    let mut act = Activations::default();
    forward(&cpu_layers(vec![layer.clone()]), &x, &mut act).clone()
}

fn check_layer(gpu: &GpuBackend, layer: Layer, shape: [usize; 4], seed: u64) -> f32 {
    let [n, h, w, c] = shape;
    let input = values(n * h * w * c, seed, -2.0, 2.0);
    let expected = cpu_layer(&layer, Tensor::from_vec(n, h, w, c, input.clone()));
    let got = gpu.run_layers(std::slice::from_ref(&layer), &input, shape).unwrap();
    let d = max_diff(&got, expected.data());
    assert!(d <= TOLERANCE, "{layer:?} on {shape:?}: max |d| = {d}");
    d
}

#[test]
fn conv_kernel_matches_cpu() {
    let Some(gpu) = gpu() else { return };
    let mut worst = 0.0f32;
    // (batch, h, w, cin, cout, kh, kw, prelu): odd sizes, channel counts not multiples of 4, one-pixel outputs.
    let cases = [
        (1, 13, 17, 3, 10, 3, 3, true),
        (2, 5, 9, 10, 16, 3, 3, true),
        (3, 3, 3, 16, 32, 3, 3, false),
        (1, 1, 1, 32, 6, 1, 1, false),
        (4, 2, 2, 48, 64, 2, 2, true),
        (1, 7, 4, 5, 7, 2, 3, true),
    ];
    for (i, &(n, h, w, cin, cout, kh, kw, prelu)) in cases.iter().enumerate() {
        let d = check_layer(
            gpu,
            conv_layer(kh, kw, cin, cout, prelu, i as u64 * 10),
            [n, h, w, cin],
            i as u64,
        );
        worst = worst.max(d);
    }
    println!("conv: {} shapes, max |d| {worst:.2e}", cases.len());
}

#[test]
fn pool_kernel_matches_cpu_with_ceil_edges() {
    let Some(gpu) = gpu() else { return };
    let mut worst = 0.0f32;
    let cases = [
        (2, 2, Padding::Same, [1, 11, 13, 10]),
        (3, 2, Padding::Same, [2, 22, 21, 28]),
        (3, 2, Padding::Valid, [2, 9, 10, 48]),
        (2, 2, Padding::Same, [1, 1, 1, 3]),
        (3, 2, Padding::Same, [1, 1, 2, 5]),
        (2, 2, Padding::Same, [3, 8, 7, 64]),
    ];
    for (i, &(size, stride, padding, shape)) in cases.iter().enumerate() {
        worst = worst.max(check_layer(
            gpu,
            Layer::Pool { size, stride, padding },
            shape,
            100 + i as u64,
        ));
    }
    println!("max-pool: {} shapes, max |d| {worst:.2e}", cases.len());
}

#[test]
fn dense_kernel_matches_cpu() {
    let Some(gpu) = gpu() else { return };
    let mut worst = 0.0f32;
    for (i, &(n, cin, cout, prelu)) in [
        (1, 576, 128, true),
        (37, 128, 6, false),
        (5, 1152, 256, true),
        (3, 7, 5, true),
    ]
    .iter()
    .enumerate()
    {
        let layer = Layer::Dense(Weighted {
            cin,
            cout,
            kernel: values(cin * cout, 200 + i as u64, -0.1, 0.1),
            bias: values(cout, 201, -0.2, 0.2),
            alpha: prelu.then(|| values(cout, 202, 0.0, 0.5)),
        });
        worst = worst.max(check_layer(gpu, layer, [n, 1, 1, cin], 300 + i as u64));
    }
    println!("dense: 4 shapes, max |d| {worst:.2e}");
}

fn random_image(width: u32, height: u32, seed: u64) -> Vec<u8> {
    values((width * height * 3) as usize, seed, 0.0, 256.0)
        .iter()
        .map(|&v| v as u8)
        .collect()
}

fn normalized(rgb: &[u8], width: u32, height: u32) -> Tensor {
    let data = rgb.iter().map(|&v| (f32::from(v) - 127.5) / 128.0).collect();
    Tensor::from_vec(1, height as usize, width as usize, 3, data)
}

#[test]
fn resize_kernel_matches_cpu() {
    let Some(gpu) = gpu() else { return };
    let (width, height) = (53, 37);
    let rgb = random_image(width, height, 7);
    let levels: Vec<PyramidLevel> = [(22, 31), (37, 53), (13, 29), (1, 1), (12, 17), (36, 52)]
        .iter()
        .map(|&(h, w)| PyramidLevel {
            scale: 1.0,
            height: h,
            width: w,
        })
        .collect();
    let got = gpu
        .pyramid(
            ImageView {
                width,
                height,
                rgb: &rgb,
            },
            &levels,
        )
        .unwrap();
    let image = normalized(&rgb, width, height);
    let expected: Vec<f32> = levels
        .iter()
        .flat_map(|l| resize_area(&image, l.height, l.width).data().to_vec())
        .collect();
    let d = max_diff(&got, &expected);
    println!("AREA resize: {} levels, max |d| {d:.2e}", levels.len());
    assert!(d <= TOLERANCE, "{d}");
}

fn random_boxes(n: usize, seed: u64) -> Vec<CropBox> {
    let v = values(n * 4, seed, -0.3, 1.3);
    let mut boxes: Vec<CropBox> = v
        .chunks(4)
        .map(|c| CropBox {
            y1: c[0],
            x1: c[1],
            y2: c[2],
            x2: c[3],
        })
        .collect();
    // Degenerate and edge cases: a point, the whole image, fully outside.
    boxes[0] = CropBox {
        y1: 0.5,
        x1: 0.5,
        y2: 0.5,
        x2: 0.5,
    };
    boxes[1] = CropBox {
        y1: 0.0,
        x1: 0.0,
        y2: 1.0,
        x2: 1.0,
    };
    boxes[2] = CropBox {
        y1: 1.2,
        x1: 1.1,
        y2: 1.5,
        x2: 1.9,
    };
    boxes
}

#[test]
fn crop_kernel_matches_cpu() {
    let Some(gpu) = gpu() else { return };
    let (width, height) = (61, 45);
    let rgb = random_image(width, height, 11);
    let image = normalized(&rgb, width, height);
    let boxes = random_boxes(40, 12);
    let mut worst = 0.0f32;
    for size in [24, 48] {
        let got = gpu
            .crops(
                ImageView {
                    width,
                    height,
                    rgb: &rgb,
                },
                &boxes,
                size,
            )
            .unwrap();
        let mut expected = vec![0.0; boxes.len() * size * size * 3];
        crop_and_resize(image.plane(), &boxes, size, &mut expected);
        worst = worst.max(max_diff(&got, &expected));
    }
    println!("crop_and_resize: 40 boxes at 24 and 48, max |d| {worst:.2e}");
    assert!(worst <= TOLERANCE, "{worst}");
}

#[test]
fn rnet_and_onet_batches_across_chunk_boundaries_match_cpu() {
    if gpu().is_none() {
        return;
    }
    // A private backend with tiny chunks, so that 40 crops take several chunks.
    let mut gpu = private_gpu();
    gpu.chunk_cap = 7;
    let (width, height) = (80, 64);
    let rgb = random_image(width, height, 21);
    let view = ImageView {
        width,
        height,
        rgb: &rgb,
    };
    let boxes = random_boxes(40, 22);
    let cpu = CpuBackend::new(CpuNets::new(&Weights::embedded().unwrap()));
    let (mut cpu_pass, mut gpu_pass) = (cpu.begin(&[view]), pass_ready_for_crops(&gpu, view));
    let (r_cpu, r_gpu) = (cpu_pass.refine1(&boxes), gpu_pass.refine1(&boxes));
    let (o_cpu, o_gpu) = (cpu_pass.landmark1(&boxes), gpu_pass.landmark1(&boxes));
    let mut worst = 0.0f32;
    for (a, b) in r_cpu.iter().zip(&r_gpu) {
        worst = worst.max((a.score - b.score).abs()).max(max_diff(&a.reg, &b.reg));
    }
    for (a, b) in o_cpu.iter().zip(&o_gpu) {
        worst = worst
            .max((a.score - b.score).abs())
            .max(max_diff(&a.reg, &b.reg))
            .max(max_diff(&a.landmarks, &b.landmarks));
    }
    println!("R-Net and O-Net, 40 crops in chunks of 7: max |d| {worst:.2e}");
    assert_eq!((r_gpu.len(), o_gpu.len()), (40, 40));
    assert!(worst <= TOLERANCE, "{worst}");
}

/// A network fixture from `../shared/data/nets` (or `$MTCNN_SHARED_DATA/nets`, as the integration tests take it).
fn fixture(name: &str) -> Option<serde_json::Value> {
    let data = std::env::var_os("MTCNN_SHARED_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let dir = data.join("nets");
    match std::fs::read_to_string(dir.join(name)) {
        Ok(text) => serde_json::from_str(&text).ok(),
        Err(_) if std::env::var_os("CI").is_some() => panic!("../shared/data/nets/{name} is missing"),
        Err(_) => {
            eprintln!("SKIPPED: ../shared/data/nets/{name} not found");
            None
        }
    }
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Splits heads rows into (face probability, the other values) with the CPU's softmax.
fn split_heads(rows: &[f32], width: usize) -> (Vec<f32>, Vec<f32>) {
    let probs = rows
        .chunks(width)
        .map(|r| face_probability(r[width - 2], r[width - 1]))
        .collect();
    let rest = rows.chunks(width).flat_map(|r| r[..width - 2].to_vec()).collect();
    (probs, rest)
}

#[test]
fn gpu_networks_match_the_package() {
    let Some(gpu) = gpu() else { return };
    let weights = Weights::embedded().unwrap();
    let Some(pnet) = fixture("pnet.json") else { return };
    for case in pnet["cases"].as_array().unwrap() {
        let hwc: Vec<usize> = case["input_hwc"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let rows = gpu
            .run_layers(&netdef::pnet(&weights), &floats(&case["input"]), [1, hwc[0], hwc[1], 3])
            .unwrap();
        let (prob, reg) = split_heads(&rows, netdef::PNET_HEADS);
        let want: Vec<f32> = floats(&case["face_prob"]).chunks(2).map(|p| p[1]).collect();
        let d = max_diff(&prob, &want).max(max_diff(&reg, &floats(&case["bbox_reg"])));
        println!("GPU pnet {hwc:?}: max |d| {d:.2e}");
        assert!(d <= TOLERANCE, "pnet {d}");
    }
    for (file, layers, width) in [
        ("rnet.json", netdef::rnet(&weights), netdef::RNET_HEADS),
        ("onet.json", netdef::onet(&weights), netdef::ONET_HEADS),
    ] {
        let Some(f) = fixture(file) else { return };
        let shape: Vec<usize> = f["input_nhwc"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let rows = gpu
            .run_layers(&layers, &floats(&f["input"]), [shape[0], shape[1], shape[2], 3])
            .unwrap();
        let (prob, rest) = split_heads(&rows, width);
        let want: Vec<f32> = floats(&f["face_prob"]).chunks(2).map(|p| p[1]).collect();
        let mut expected_rest = Vec::new();
        let reg = floats(&f["bbox_reg"]);
        let landmarks = f.get("landmarks").map(floats).unwrap_or_default();
        for i in 0..shape[0] {
            expected_rest.extend_from_slice(&reg[i * 4..i * 4 + 4]);
            if !landmarks.is_empty() {
                expected_rest.extend_from_slice(&landmarks[i * 10..i * 10 + 10]);
            }
        }
        let d = max_diff(&prob, &want).max(max_diff(&rest, &expected_rest));
        println!("GPU {file}: max |d| {d:.2e}");
        assert!(d <= TOLERANCE, "{file} {d}");
    }
}

fn astronaut() -> image::RgbImage {
    image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
        .unwrap()
        .to_rgb8()
}

/// An RGB image as the backends take it.
fn rgb_view(image: &image::RgbImage) -> ImageView<'_> {
    ImageView {
        width: image.width(),
        height: image.height(),
        rgb: image.as_raw(),
    }
}

/// The image as the backends take it, and its pyramid with the default options.
fn view_and_levels(image: &image::RgbImage) -> (ImageView<'_>, Vec<PyramidLevel>) {
    (
        rgb_view(image),
        crate::pipeline::pyramid::pyramid_levels(image.width(), image.height(), &Default::default()),
    )
}

#[test]
fn pnet_candidates_match_cpu_on_every_level() {
    let Some(gpu) = gpu() else { return };
    // A real photo, so that many cells pass the threshold on several levels.
    let cells = astronaut_cells_match_cpu(gpu, 0.6);
    assert!(cells > 100, "{cells} cells");
}

/// P-Net on the astronaut on both backends at `threshold`: asserts that the cells agree (cells missing on one side
/// only right at the threshold) and that each level is in row-major order; returns the number of cells compared.
fn astronaut_cells_match_cpu(gpu: &GpuBackend, threshold: f32) -> usize {
    use crate::pipeline::boxes::Proposal;
    let image = astronaut();
    let (view, levels) = view_and_levels(&image);
    let cpu = CpuBackend::new(CpuNets::new(&Weights::embedded().unwrap()));
    let expected = cpu.begin(&[view]).propose1(&levels, threshold);
    let got = gpu.start(&[view]).unwrap().propose1(&levels, threshold);
    assert_eq!(got.len(), expected.len());
    let key = |p: &Proposal| (p.row, p.col);
    let (mut cells, mut worst) = (0, 0.0f32);
    for (g, e) in got.iter().zip(&expected) {
        let on_gpu: std::collections::HashMap<_, _> = g.iter().map(|p| (key(p), p)).collect();
        let on_cpu: std::collections::HashMap<_, _> = e.iter().map(|p| (key(p), p)).collect();
        for p in g.iter().filter(|p| !on_cpu.contains_key(&key(p))) {
            assert!((p.score - threshold).abs() < TOLERANCE, "GPU-only cell {p:?}");
        }
        for q in e {
            match on_gpu.get(&key(q)) {
                None => assert!((q.score - threshold).abs() < TOLERANCE, "CPU-only cell {q:?}"),
                Some(p) => {
                    worst = worst.max((p.score - q.score).abs()).max(max_diff(&p.reg, &q.reg));
                    cells += 1;
                }
            }
        }
        // Row-major order within a level, as the tie rule needs.
        assert!(g.windows(2).all(|w| key(&w[0]) < key(&w[1])));
    }
    println!(
        "P-Net candidates: {} levels, {cells} cells, max |d| {worst:.2e}",
        got.len()
    );
    assert!(worst <= TOLERANCE, "{worst}");
    cells
}

#[test]
fn more_candidates_than_reserved_slots_are_all_read_back() {
    let Some(gpu) = gpu() else { return };
    // Threshold 0: nearly every cell of every level passes, more than the slots reserved up front and far more
    // than the first readback takes, so both the second readback and the rerun with more slots run.
    let cells = astronaut_cells_match_cpu(gpu, 0.0);
    assert!(cells > crate::gpu::CANDIDATE_SLOTS, "{cells} cells");
}

#[test]
fn twenty_thousand_rnet_candidates_run_in_chunks_without_failing() {
    let Some(gpu) = gpu() else { return };
    let (width, height) = (96, 80);
    let rgb = random_image(width, height, 31);
    let view = ImageView {
        width,
        height,
        rgb: &rgb,
    };
    let boxes = random_boxes(20_000, 32);
    let cpu = CpuBackend::new(CpuNets::new(&Weights::embedded().unwrap()));
    let expected = cpu.begin(&[view]).refine1(&boxes);
    let got = pass_ready_for_crops(gpu, view).refine1(&boxes);
    assert_eq!(got.len(), boxes.len());
    let worst = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a.score - b.score).abs().max(max_diff(&a.reg, &b.reg)))
        .fold(0.0, f32::max);
    println!("R-Net on 20000 crops: max |d| {worst:.2e}");
    assert!(worst <= TOLERANCE, "{worst}");
}

/// Not a check: prints each layer's GPU and CPU time on the 640×480 bench image's shapes (the GPU figure includes
/// the upload of the input and the readback of the output). `cargo test --release --lib profile_layers --
/// --ignored --nocapture`.
#[test]
#[ignore]
fn profile_layers() {
    let Some(gpu) = gpu() else { return };
    let weights = Weights::embedded().unwrap();
    for (width, height) in [(640u32, 480u32), (1920, 1080)] {
        let rgb = random_image(width, height, 3);
        let view = ImageView {
            width,
            height,
            rgb: &rgb,
        };
        let levels = crate::pipeline::pyramid::pyramid_levels(width, height, &Default::default());
        gpu.pyramid(view, &levels).unwrap();
        let t = std::time::Instant::now();
        gpu.pyramid(view, &levels).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let t = std::time::Instant::now();
        let image = normalized(&rgb, width, height);
        for l in &levels {
            resize_area(&image, l.height, l.width);
        }
        let cms = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "pyramid {width}x{height}, {} levels: gpu {ms:.1} ms cpu {cms:.1} ms",
            levels.len()
        );
    }
    for (name, layers, shape) in [
        ("pnet", netdef::pnet(&weights), [1usize, 288, 384, 3]),
        ("pnet", netdef::pnet(&weights), [1usize, 648, 1152, 3]),
        ("rnet", netdef::rnet(&weights), [315, 24, 24, 3]),
        ("onet", netdef::onet(&weights), [36, 48, 48, 3]),
        ("onet", netdef::onet(&weights), [256, 48, 48, 3]),
    ] {
        let mut c = shape[3];
        let (mut h, mut w, n) = (shape[1], shape[2], shape[0]);
        for (i, layer) in layers.iter().enumerate() {
            let input = values(n * h * w * c, 1, -1.0, 1.0);
            let one = std::slice::from_ref(layer);
            gpu.run_layers(one, &input, [n, h, w, c]).unwrap();
            let t = std::time::Instant::now();
            let (out, device) = gpu.run_layers_timed(one, &input, [n, h, w, c]).unwrap();
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let device = device.map_or("-".into(), |d| format!("{:.3}", d.as_secs_f64() * 1e3));
            // The CPU layer warm, in CROP_BATCH-sized batches as the detector runs crops: the best of 5 runs.
            let layers = cpu_layers(vec![layer.clone()]);
            let batch = crate::cpu::nets::CROP_BATCH.min(n);
            let x = Tensor::from_vec(batch, h, w, c, input[..batch * h * w * c].to_vec());
            let mut act = Activations::default();
            let mut cms = f64::MAX;
            for _ in 0..20 {
                let t = std::time::Instant::now();
                for _ in 0..n.div_ceil(batch) {
                    forward(&layers, &x, &mut act);
                }
                cms = cms.min(t.elapsed().as_secs_f64() * 1e3);
            }
            let cpu = cpu_layer(layer, Tensor::from_vec(n, h, w, c, input.clone()));
            println!(
                "{name} layer {i}: in {n}x{h}x{w}x{c} -> {}x{}x{} gpu {ms:.1} ms (device {device} ms) cpu {cms:.1} ms",
                cpu.h, cpu.w, cpu.c
            );
            assert_eq!(out.len(), cpu.data().len());
            (h, w, c) = (cpu.h, cpu.w, cpu.c);
        }
    }
}

#[test]
fn levels_split_into_groups_under_a_small_binding_limit_give_the_same_candidates() {
    let Some(shared) = gpu() else { return };
    let image = astronaut();
    let (view, levels) = view_and_levels(&image);
    let expected = shared.start(&[view]).unwrap().propose1(&levels, 0.6);
    // Level 0's conv1 output (305·305·10 floats) is the largest tensor: a limit just above it puts level 0 in a
    // group of its own and the other nine in a second one, instead of all ten in one.
    let mut gpu = private_gpu();
    gpu.binding_cap = 305 * 305 * 10 + 1000;
    let jobs: Vec<crate::gpu::LevelJob> = levels
        .iter()
        .map(|&level| crate::gpu::LevelJob::whole(0, level))
        .collect();
    let groups = gpu.start(&[view]).unwrap().level_groups(&jobs).unwrap().len();
    assert!(groups >= 2, "{groups} groups");
    let got = gpu.start(&[view]).unwrap().propose1(&levels, 0.6);
    assert_eq!(got, expected);
    assert!(expected.iter().map(Vec::len).sum::<usize>() > 100);
}

#[test]
fn a_batch_is_split_into_passes_that_fit_one_binding() {
    if gpu().is_none() {
        return;
    }
    let mut gpu = private_gpu();
    let rgb = random_image(40, 30, 3);
    let view = ImageView {
        width: 40,
        height: 30,
        rgb: &rgb,
    };
    let views = [view; 5];
    // Room for the float32 copies of two 40×30 images, not three.
    gpu.binding_cap = 2 * 40 * 30 * 3 + 100;
    assert_eq!(gpu.batch_len(&views), 2);
    assert_eq!(gpu.batch_len(&views[..1]), 1);
    assert_eq!(gpu.batch_len(&[]), 0);
    // Asked for all five at once anyway, the pass says why it cannot.
    let err = gpu.start(&views).err().expect("too large a batch");
    assert!(matches!(err, crate::Error::ImageTooLarge { .. }), "{err}");
    assert!(gpu.start(&views[..2]).is_ok());
}

#[test]
fn repeated_frames_of_one_size_create_no_buffer_and_no_bind_group() {
    if gpu().is_none() {
        return;
    }
    let gpu = private_gpu();
    let image = astronaut();
    let view = rgb_view(&image);
    let options = crate::options::DetectorOptions::default();
    let mut workspace = crate::pipeline::workspace::Workspace::default();
    crate::pipeline::cascade::detect(&gpu, &[view], &options, &mut workspace).unwrap();
    let first = workspace.boxes[0].clone();
    let after_first = gpu.created();
    assert!(after_first.0 > 10 && after_first.1 > 10, "{after_first:?}");
    for _ in 0..3 {
        crate::pipeline::cascade::detect(&gpu, &[view], &options, &mut workspace).unwrap();
        assert_eq!(workspace.boxes[0], first);
    }
    assert_eq!(
        gpu.created(),
        after_first,
        "(buffers, bind groups) created after the first frame"
    );
}

/// Not a check: the device memory the buffer pool holds after one detection, for the README's memory formula.
/// `cargo test --release --lib gpu_memory -- --ignored --nocapture`.
#[test]
#[ignore]
fn gpu_memory_per_image_size() {
    if gpu().is_none() {
        return;
    }
    let options = crate::options::DetectorOptions::default();
    for (width, height) in [(640u32, 480u32), (1280, 720), (1920, 1080), (2560, 1440)] {
        let gpu = private_gpu();
        let rgb = random_image(width, height, 5);
        let view = ImageView {
            width,
            height,
            rgb: &rgb,
        };
        let mut workspace = crate::pipeline::workspace::Workspace::default();
        crate::pipeline::cascade::detect(&gpu, &[view], &options, &mut workspace).unwrap();
        let bytes = gpu.pool_bytes();
        println!(
            "{width}×{height}: {} MiB of buffers, {:.1} bytes a pixel",
            bytes >> 20,
            bytes as f64 / f64::from(width * height)
        );
    }
}

/// With the binding limit lowered so far that neither the image's float copy nor its largest levels fit, the
/// image is detected level by level, strip by strip, with host-cut crops: the same faces as on the CPU.
#[test]
fn an_image_over_the_binding_limits_is_tiled_and_finds_the_cpu_faces() {
    if gpu().is_none() {
        return;
    }
    let mut gpu = private_gpu();
    let image = astronaut();
    let view = rgb_view(&image);
    let options = crate::options::DetectorOptions::default();
    let levels = crate::pipeline::pyramid::pyramid_levels(view.width, view.height, &options);
    // A third of the image's float copy: every level above a third of the image needs strips.
    gpu.binding_cap = (view.width * view.height) as usize;
    assert!(gpu.needs_tiles(&view, &levels));
    let mut tiled = crate::pipeline::workspace::Workspace::default();
    let t = crate::pipeline::cascade::detect(&gpu, &[view], &options, &mut tiled).unwrap();
    let cpu = CpuBackend::new(CpuNets::new(&Weights::embedded().unwrap()));
    let mut expected = crate::pipeline::workspace::Workspace::default();
    let e = crate::pipeline::cascade::detect(&cpu, &[view], &options, &mut expected).unwrap();
    println!(
        "tiled: {} cells, {} R-Net inputs, {} faces; CPU: {} cells, {} R-Net inputs, {} faces",
        t.proposals, t.rnet_inputs, t.faces, e.proposals, e.rnet_inputs, e.faces
    );
    assert_eq!(
        (t.proposals, t.rnet_inputs, t.onet_inputs),
        (e.proposals, e.rnet_inputs, e.onet_inputs)
    );
    let (got, want) = (&tiled.boxes[0], &expected.boxes[0]);
    assert_eq!(got.len(), want.len());
    assert!(!got.is_empty());
    for (g, w) in got.iter().zip(want) {
        let corners = [g.x1 - w.x1, g.y1 - w.y1, g.x2 - w.x2, g.y2 - w.y2];
        assert!(corners.iter().all(|d| d.abs() < 0.01), "{g:?} vs {w:?}");
        assert!((g.score - w.score).abs() < 1e-4);
    }
}
