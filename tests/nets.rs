//! The three networks against the outputs of the Python package's own Keras networks (`../shared/data/nets`).

mod common;

use common::{floats, read_json, shared_data_or_skip};
use mtcnn_wgpu::nets::CpuNets;
use mtcnn_wgpu::Weights;

const TOLERANCE: f32 = 1e-5;

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn nets() -> CpuNets {
    CpuNets::new(&Weights::embedded().unwrap())
}

#[test]
fn pnet_matches_the_package_on_non_square_maps() {
    let Some(data) = shared_data_or_skip("pnet_matches_the_package_on_non_square_maps") else {
        return;
    };
    let fixture = read_json(&data.join("nets/pnet.json"));
    let nets = nets();
    for (i, case) in fixture["cases"].as_array().unwrap().iter().enumerate() {
        let hwc: Vec<usize> = case["input_hwc"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let out_hwc: Vec<usize> = case["face_prob_hwc"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let maps = nets.pnet(&floats(&case["input"]), hwc[0], hwc[1]).unwrap();
        assert_eq!(
            (maps.height, maps.width),
            (out_hwc[0], out_hwc[1]),
            "case {i}: map size"
        );
        let prob: Vec<f32> = floats(&case["face_prob"]).chunks(2).map(|p| p[1]).collect();
        let (dp, dr) = (
            max_diff(&maps.face_prob, &prob),
            max_diff(&maps.bbox_reg, &floats(&case["bbox_reg"])),
        );
        println!("pnet case {i} {hwc:?}: max |d| face_prob {dp:.2e}, bbox_reg {dr:.2e}");
        assert!(dp < TOLERANCE && dr < TOLERANCE, "case {i}: {dp} {dr}");
    }
}

#[test]
fn rnet_and_onet_match_the_package() {
    let Some(data) = shared_data_or_skip("rnet_and_onet_match_the_package") else {
        return;
    };
    let nets = nets();

    let r = read_json(&data.join("nets/rnet.json"));
    let out = nets.rnet(&floats(&r["input"])).unwrap();
    let prob: Vec<f32> = floats(&r["face_prob"]).chunks(2).map(|p| p[1]).collect();
    let dp = max_diff(&out.iter().map(|o| o.face_prob).collect::<Vec<_>>(), &prob);
    let dr = max_diff(
        &out.iter().flat_map(|o| o.bbox_reg).collect::<Vec<_>>(),
        &floats(&r["bbox_reg"]),
    );
    println!("rnet x{}: max |d| face_prob {dp:.2e}, bbox_reg {dr:.2e}", out.len());
    assert!(dp < TOLERANCE && dr < TOLERANCE, "rnet: {dp} {dr}");

    let o = read_json(&data.join("nets/onet.json"));
    let out = nets.onet(&floats(&o["input"])).unwrap();
    let prob: Vec<f32> = floats(&o["face_prob"]).chunks(2).map(|p| p[1]).collect();
    let dp = max_diff(&out.iter().map(|o| o.face_prob).collect::<Vec<_>>(), &prob);
    let dr = max_diff(
        &out.iter().flat_map(|o| o.bbox_reg).collect::<Vec<_>>(),
        &floats(&o["bbox_reg"]),
    );
    let dl = max_diff(
        &out.iter().flat_map(|o| o.landmarks).collect::<Vec<_>>(),
        &floats(&o["landmarks"]),
    );
    println!(
        "onet x{}: max |d| face_prob {dp:.2e}, bbox_reg {dr:.2e}, landmarks {dl:.2e}",
        out.len()
    );
    assert!(
        dp < TOLERANCE && dr < TOLERANCE && dl < TOLERANCE,
        "onet: {dp} {dr} {dl}"
    );
}

#[test]
fn wrong_input_sizes_are_errors() {
    let nets = nets();
    assert!(nets.pnet(&[0.0; 10], 12, 12).is_err());
    assert!(nets.rnet(&[0.0; 100]).is_err());
    assert!(nets.onet(&[0.0; 48 * 48 * 3 + 1]).is_err());
    assert!(nets.rnet(&[]).unwrap().is_empty());
}

#[test]
fn nan_and_infinite_inputs_are_refused_with_their_position() {
    let nets = nets();
    let mut pnet_input = vec![0.1f32; 12 * 12 * 3];
    pnet_input[7] = f32::NAN;
    match nets.pnet(&pnet_input, 12, 12) {
        Err(mtcnn_wgpu::Error::NonFiniteInput { what, index, value }) => {
            assert_eq!((what, index), ("pnet input", 7));
            assert!(value.is_nan());
        }
        other => panic!("{other:?}"),
    }
    let mut crops = vec![0.0f32; 2 * 24 * 24 * 3];
    crops[24 * 24 * 3 + 5] = f32::INFINITY;
    let err = nets.rnet(&crops).unwrap_err();
    assert!(
        matches!(err, mtcnn_wgpu::Error::NonFiniteInput { index, .. } if index == 24 * 24 * 3 + 5),
        "{err}"
    );
    assert!(err.to_string().contains("not a finite number"), "{err}");
    let mut crops = vec![0.0f32; 48 * 48 * 3];
    crops[0] = f32::NEG_INFINITY;
    assert!(matches!(
        nets.onet(&crops),
        Err(mtcnn_wgpu::Error::NonFiniteInput { index: 0, .. })
    ));
    // Finite inputs still run.
    assert_eq!(nets.rnet(&vec![0.5f32; 24 * 24 * 3]).unwrap().len(), 1);
}
