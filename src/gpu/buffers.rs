//! Named buffers kept across detections: each stage asks for "its" buffer by name and size, and gets the same
//! buffer again unless it has to grow. The bind groups over them are kept too. Repeated calls on same-size images
//! create no buffer and no bind group.

use std::collections::HashMap;

use super::context::GpuContext;
use super::kernels::Kernel;

/// A bind group's identity: the kernel and, per binding, its index, buffer, offset and size.
type BindKey = (Kernel, Vec<(u32, wgpu::Buffer, u64, u64)>);

/// Bind groups kept at most; past this (images of ever-changing sizes) the cache starts over.
const MAX_BIND_GROUPS: usize = 1024;

#[derive(Default)]
pub(crate) struct BufferPool {
    buffers: HashMap<&'static str, wgpu::Buffer>,
    bind_groups: HashMap<BindKey, wgpu::BindGroup>,
    /// Buffers and bind groups created so far (the tests check that repeated calls create none).
    pub created_buffers: usize,
    pub created_bind_groups: usize,
}

impl BufferPool {
    /// Bytes held in the pool's buffers.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.buffers.values().map(wgpu::Buffer::size).sum()
    }

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
        self.created_buffers += 1;
        if let Some(old) = self.buffers.insert(name, buffer.clone()) {
            // Bind groups over the buffer this one replaces would keep it alive.
            self.bind_groups
                .retain(|(_, entries), _| !entries.iter().any(|(_, b, _, _)| *b == old));
        }
        buffer
    }

    /// The bind group of `kernel` over these `(binding, buffer, offset, size)` entries, created once.
    pub fn bind_group(
        &mut self,
        ctx: &GpuContext,
        kernel: Kernel,
        layout: &wgpu::BindGroupLayout,
        entries: Vec<(u32, wgpu::Buffer, u64, u64)>,
    ) -> wgpu::BindGroup {
        let key = (kernel, entries);
        if let Some(group) = self.bind_groups.get(&key) {
            return group.clone();
        }
        if self.bind_groups.len() >= MAX_BIND_GROUPS {
            self.bind_groups.clear();
        }
        let group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout,
            entries: &key
                .1
                .iter()
                .map(|(binding, buffer, offset, size)| wgpu::BindGroupEntry {
                    binding: *binding,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset: *offset,
                        size: std::num::NonZeroU64::new(*size),
                    }),
                })
                .collect::<Vec<_>>(),
        });
        self.created_bind_groups += 1;
        self.bind_groups.insert(key, group.clone());
        group
    }
}
