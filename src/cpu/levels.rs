//! P-Net over the pyramid levels of one image on the CPU. The levels are split into contiguous groups of about
//! equal work, one group per worker thread, and each group runs its levels one after the other with buffers of its
//! own (each level's layers also spread over the threads). The largest level holds about half the work, so with
//! two threads it runs beside all the others. A group always gets the same buffers, so a stream of frames of one
//! size allocates nothing.

use std::time::{Duration, Instant};

use super::layers::{face_probability, logit_floor};
use super::nets::{Activations, CpuNets};
use super::resize::{resize_area_into, Layout, ResizeScratch};
use super::row_blocks::RowBlocks;
use super::tensor::{Plane, Tensor};
use crate::netdef::PNET_HEADS;
use crate::pipeline::boxes::Proposal;
use crate::pipeline::pyramid::PyramidLevel;

/// The buffers of one group of levels.
#[derive(Debug, Default)]
pub(crate) struct LevelScratch {
    resize: ResizeScratch,
    level: Tensor,
    activations: Activations,
    /// The group's time in the resizes and in P-Net, since it was last taken.
    pub spent: Spent,
}

/// Time spent resampling levels and running P-Net on them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Spent {
    pub resampling: Duration,
    pub pnet: Duration,
}

impl Spent {
    /// The resampling's share of the time in both, if any was spent.
    pub fn resampling_share(self) -> Option<f64> {
        let total = (self.resampling + self.pnet).as_secs_f64();
        (total > 0.0).then(|| self.resampling.as_secs_f64() / total)
    }
}

impl std::ops::AddAssign for Spent {
    fn add_assign(&mut self, other: Spent) {
        self.resampling += other.resampling;
        self.pnet += other.pnet;
    }
}

/// Above this many pixels in the largest level, the levels run one after the other with one set of buffers: a
/// level that large keeps every thread busy on its own, and a second set of buffers would cost as much memory
/// as the first (at 3840×2160, about 120 MB).
const GROUPS_UP_TO_PIXELS: usize = 1 << 21;

/// How many groups of `levels` to run at once with `threads` worker threads.
pub(crate) fn group_count(levels: &[PyramidLevel], threads: usize) -> usize {
    let largest = levels.first().map_or(0, |l| l.height * l.width);
    if largest <= GROUPS_UP_TO_PIXELS {
        threads
    } else {
        1
    }
}

/// Appends to `cells[l]` the output cells of level `l` whose face probability is > `threshold`, row-major,
/// running as many groups of levels at once as there are `slots` (at least one). `blocks` is `image` regrouped
/// for the resize, once for all the levels.
pub(crate) fn propose_levels(
    nets: &CpuNets,
    image: Plane<'_, u8>,
    blocks: &RowBlocks<u8>,
    levels: &[PyramidLevel],
    threshold: f32,
    cells: &mut [Vec<Proposal>],
    slots: &mut [LevelScratch],
) {
    if slots.len() <= 1 || levels.len() <= 1 {
        if let Some(slot) = slots.first_mut() {
            for (level, cells) in levels.iter().zip(cells) {
                propose_level(nets, image, blocks, level, threshold, cells, slot);
            }
        }
        return;
    }
    // The first part takes the largest levels up to its share of the work (at least one level).
    let work = |l: &PyramidLevel| l.height * l.width;
    let half = slots.len() / 2;
    let share = levels.iter().map(work).sum::<usize>() * half / slots.len();
    let mut split = 0;
    let mut taken = 0;
    while split + 1 < levels.len() && taken + work(&levels[split]) <= share {
        taken += work(&levels[split]);
        split += 1;
    }
    let split = split.max(1);
    let (levels_a, levels_b) = levels.split_at(split);
    let (cells_a, cells_b) = cells.split_at_mut(split);
    let (slots_a, slots_b) = slots.split_at_mut(half);
    rayon::join(
        || propose_levels(nets, image, blocks, levels_a, threshold, cells_a, slots_a),
        || propose_levels(nets, image, blocks, levels_b, threshold, cells_b, slots_b),
    );
}

/// One level: the AREA resize, P-Net, and the cells above the threshold.
fn propose_level(
    nets: &CpuNets,
    image: Plane<'_, u8>,
    blocks: &RowBlocks<u8>,
    level: &PyramidLevel,
    threshold: f32,
    cells: &mut Vec<Proposal>,
    slot: &mut LevelScratch,
) {
    let size = (level.height, level.width);
    let start = Instant::now();
    resize_area_into(
        image,
        Some(blocks),
        size,
        Layout::RowPlanar,
        &mut slot.resize,
        &mut slot.level,
    );
    let resized = Instant::now();
    slot.spent.resampling += resized - start;
    let maps = nets.pnet_forward(&slot.level, &mut slot.activations);
    let floor = logit_floor(threshold);
    for (i, cell) in maps.data().chunks_exact(PNET_HEADS).enumerate() {
        // Most cells are far below the threshold: a subtraction decides, not two exps.
        if f64::from(cell[5]) - f64::from(cell[4]) < floor {
            continue;
        }
        let score = face_probability(cell[4], cell[5]);
        if score > threshold {
            cells.push(Proposal {
                row: (i / maps.w) as u32,
                col: (i % maps.w) as u32,
                score,
                reg: [cell[0], cell[1], cell[2], cell[3]],
            });
        }
    }
    slot.spent.pnet += resized.elapsed();
}
