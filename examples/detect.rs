//! The README's API example: detect the faces in an image and print them as the Python package's JSON.
//!
//! `cargo run --release --example detect -- assets/astronaut.png`

use mtcnn_wgpu::Detector;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "assets/astronaut.png".into());
    let detector = Detector::new()?;
    let image = image::open(&path)?.to_rgb8();
    let faces = detector.detect(&image)?;
    for face in &faces {
        let b = face.bbox;
        println!(
            "face at ({:.1}, {:.1}) size {:.1}x{:.1}, confidence {:.4}",
            b.x, b.y, b.width, b.height, face.confidence
        );
    }
    println!("{}", serde_json::to_string_pretty(&faces)?);
    Ok(())
}
