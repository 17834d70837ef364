//! Everything the cascade works in besides the networks: the levels, the candidates of each stage, the crop
//! boxes, the networks' verdicts and the NMS buffers. A detector keeps its workspaces between calls, so that
//! repeated detections on same-size frames allocate nothing once the lists have grown to their sizes.

use super::boxes::{Candidate, Proposal};
use super::crops::CropBox;
use super::nms::NmsScratch;
use super::pyramid::PyramidLevel;
use crate::backend::{Landmarking, Refinement};

/// The cascade's lists, one entry per image of the pass where the stage works per image.
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    pub levels: Vec<Vec<PyramidLevel>>,
    pub proposals: Vec<Vec<Vec<Proposal>>>,
    /// The candidates of the current stage; after the cascade, the faces.
    pub boxes: Vec<Vec<Candidate>>,
    pub crops: Vec<Vec<CropBox>>,
    pub refined: Vec<Vec<Refinement>>,
    pub landmarked: Vec<Vec<Landmarking>>,
    /// One level's P-Net boxes before they join the image's list.
    pub level_boxes: Vec<Candidate>,
    pub nms: NmsScratch,
    /// Packed RGB copies of the images of a call that came in another layout (`crate::Pixels`), one per image.
    pub rgb_copies: Vec<Vec<u8>>,
}

/// Makes `lists` hold at least `n` lists and empties the first `n`, which it returns. Every list keeps its
/// allocation, including those past `n`, for a later, larger batch.
pub(crate) fn reset<T>(lists: &mut Vec<Vec<T>>, n: usize) -> &mut [Vec<T>] {
    let lists = first_n(lists, n);
    lists.iter_mut().for_each(Vec::clear);
    lists
}

/// The first `n` entries of `entries`, adding defaults where it has fewer; the entries are left as they are (for
/// nested lists, whose inner lists are [`reset`] one by one so that they keep their allocations).
pub(crate) fn first_n<T: Default>(entries: &mut Vec<T>, n: usize) -> &mut [T] {
    if entries.len() < n {
        entries.resize_with(n, T::default);
    }
    &mut entries[..n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_empties_without_freeing() {
        let mut lists = vec![vec![1, 2, 3], vec![4]];
        let capacity = lists[0].capacity();
        assert_eq!(reset(&mut lists, 1).len(), 1);
        assert!(lists[0].is_empty() && lists[0].capacity() == capacity);
        assert_eq!(lists[1], [4], "lists past n are kept as they are");
        assert_eq!(reset(&mut lists, 3).len(), 3);
        assert!(lists.iter().all(Vec::is_empty));
        // Nested: first_n keeps the inner lists (and their allocations) for a per-entry reset.
        let mut nested = vec![vec![vec![1u8; 100]]];
        let inner = nested[0][0].as_ptr();
        reset(&mut first_n(&mut nested, 2)[0], 1);
        assert_eq!(nested.len(), 2);
        assert!(nested[0][0].is_empty() && nested[0][0].as_ptr() == inner);
    }
}
