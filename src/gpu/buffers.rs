//! Named buffers kept across detections: each stage asks for "its" buffer by name and size, and gets the same
//! buffer again unless it has to grow. Repeated calls on same-size images allocate nothing on the device.

use std::collections::HashMap;

use super::context::GpuContext;

#[derive(Default)]
pub(crate) struct BufferPool {
    buffers: HashMap<&'static str, wgpu::Buffer>,
}

impl BufferPool {
    /// A buffer of at least `bytes` bytes with `usage` (COPY_SRC and COPY_DST are added to non-mappable ones).
    pub fn get(&mut self, ctx: &GpuContext, name: &'static str, bytes: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        let usage = if usage.contains(wgpu::BufferUsages::MAP_READ) {
            usage | wgpu::BufferUsages::COPY_DST
        } else {
            usage | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC
        };
        let bytes = bytes.max(256).next_multiple_of(256);
        if let Some(buffer) = self.buffers.get(name) {
            if buffer.size() >= bytes && buffer.usage() == usage {
                return buffer.clone();
            }
        }
        // Grow with headroom, so that slightly larger images don't reallocate every time.
        let size = (bytes + bytes / 4)
            .next_multiple_of(256)
            .min(ctx.limits.max_buffer_size.max(bytes));
        let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(name),
            size,
            usage,
            mapped_at_creation: false,
        });
        self.buffers.insert(name, buffer.clone());
        buffer
    }
}
