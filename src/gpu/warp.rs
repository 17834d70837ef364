//! Face alignment on the GPU: the image goes up once as packed bytes, `shaders/warp.wgsl` writes every face's crop
//! in one dispatch (in chunks of faces when the crops exceed one binding), and the crops come back as bytes.

use image::RgbImage;

use super::kernels::{Kernel, Params, Plan, Segment, View};
use super::{GpuBackend, READBACK, STORAGE};
use crate::align::Similarity;
use crate::backend::ImageView;
use crate::error::{Error, Result};

impl GpuBackend {
    pub(crate) fn warp_faces(
        &self,
        image: ImageView<'_>,
        transforms: &[Similarity],
        size: u32,
    ) -> Result<Vec<RgbImage>> {
        if transforms.is_empty() {
            return Ok(Vec::new());
        }
        let pixels = size as usize * size as usize;
        let per_chunk = self.max_binding_floats() / pixels.max(1);
        if per_chunk == 0 {
            return Err(Error::ImageTooLarge {
                width: size,
                height: size,
                reason: "one aligned crop exceeds the adapter's storage binding limit".into(),
            });
        }
        self.ctx.check_alive()?;
        let mut pool = self.lock_pool();
        let ctx = &self.ctx;
        let view = |pool: &mut super::buffers::BufferPool, name, bytes: u64, usage| {
            View::new(&pool.get(ctx, name, bytes, usage), bytes)
        };
        // The image goes up once for all chunks of faces.
        let src = ctx.scoped(|| {
            let src = view(
                &mut pool,
                "warp_image",
                image.rgb.len().next_multiple_of(4) as u64,
                STORAGE,
            );
            ctx.write_padded(&src.buffer, 0, image.rgb);
            src
        })?;
        let mut crops = Vec::with_capacity(transforms.len());
        for chunk in transforms.chunks(per_chunk) {
            // The shader samples the image through each face's inverse transform, in float32.
            let inverse: Vec<[f32; 4]> = chunk
                .iter()
                .map(|t| {
                    let i = t.inverse();
                    [i.a as f32, i.b as f32, i.tx as f32, i.ty as f32]
                })
                .collect();
            let words = ctx.scoped(|| -> Result<Vec<u32>> {
                let table = view(&mut pool, "warp_transforms", (inverse.len() * 16) as u64, STORAGE);
                let out_bytes = (chunk.len() * pixels * 4) as u64;
                let out = view(&mut pool, "warp_crops", out_bytes, STORAGE);
                let read = view(&mut pool, "warp_read", out_bytes, READBACK);
                ctx.queue.write_buffer(&table.buffer, 0, bytemuck::cast_slice(&inverse));
                let mut plan = Plan::with_arenas(["warp_params", "warp_segments"]);
                plan.dispatch(
                    Kernel::Warp,
                    Params {
                        total: (chunk.len() * pixels) as u32,
                        size,
                        ..Default::default()
                    },
                    vec![Segment {
                        in_h: image.height,
                        in_w: image.width,
                        ..Default::default()
                    }],
                    Some(src.clone()),
                    out.clone(),
                    Some(table),
                );
                plan.copy(&out.buffer, &read.buffer, out_bytes);
                let _ = plan.submit(ctx, &self.kernels, &mut pool)?;
                Ok(bytemuck::pod_collect_to_vec(&ctx.read(&read.buffer, out_bytes)?))
            })??;
            crops.extend(words.chunks_exact(pixels).map(|face| {
                let rgb = face
                    .iter()
                    .flat_map(|w| [*w as u8, (w >> 8) as u8, (w >> 16) as u8])
                    .collect();
                RgbImage::from_raw(size, size, rgb).unwrap_or_default()
            }));
        }
        Ok(crops)
    }
}
