//! Which compiled version of the CPU kernels this machine runs.

use std::fmt;

use multiversion::multiversion;
use multiversion::target::target_cfg_f;

/// The version of the CPU path's kernels that runs on this machine.
///
/// Every hot loop of the CPU path is compiled several times, and the first version the processor supports runs
/// (chosen when the loop first runs; the same choice for every loop). The versions with fused multiply-adds
/// (AVX-512, AVX2 + FMA, NEON) sum every output in the same order and give the same bits (AVX2 + FMA against
/// AVX-512 checked in CI on six images, NEON once on the same six). The portable version rounds each
/// multiplication and addition apart, so its results differ in the last bits (within 2e-3 px of the reference on
/// the golden images, as the others). `mtcnn -v` and `mtcnn bench` print it; `scripts/cpu-kernel-versions.sh`
/// checks the versions that a machine does not run.
///
/// ```
/// let kernels = mtcnn_wgpu::CpuKernels::detected();
/// println!("the CPU path runs its {kernels} kernels ({})", kernels.name());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CpuKernels {
    /// x86-64 with AVX-512 (F, BW, VL) and AVX512-FP16, which marks Intel's Xeons since Sapphire Rapids: register
    /// tiles twice as wide, for their two 512-bit FMA units a core.
    Avx512,
    /// x86-64 with AVX2 and FMA (AMD's Zen, Intel's cores since Haswell).
    Avx2,
    /// AArch64 (NEON, which every AArch64 processor has).
    Neon,
    /// The target's baseline instructions (SSE2 on x86-64), without fused multiply-adds.
    Portable,
}

impl CpuKernels {
    /// The version this machine runs.
    pub fn detected() -> Self {
        selected()
    }

    /// A short lowercase name, as `mtcnn bench --json` writes it: `avx512`, `avx2`, `neon` or `portable`.
    pub fn name(self) -> &'static str {
        match self {
            CpuKernels::Avx512 => "avx512",
            CpuKernels::Avx2 => "avx2",
            CpuKernels::Neon => "neon",
            CpuKernels::Portable => "portable",
        }
    }
}

/// `AVX-512`, `AVX2 + FMA`, `NEON` or `portable`.
impl fmt::Display for CpuKernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CpuKernels::Avx512 => "AVX-512",
            CpuKernels::Avx2 => "AVX2 + FMA",
            CpuKernels::Neon => "NEON",
            CpuKernels::Portable => "portable",
        })
    }
}

/// Compiled for the kernels' targets (the same list as every kernel's: a test checks), so the version chosen
/// here is the one they run.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512fp16+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn selected() -> CpuKernels {
    let avx512 = target_cfg_f!(target_feature = "avx512f");
    let fma = target_cfg_f!(target_feature = "fma");
    match (avx512, fma, cfg!(target_arch = "aarch64")) {
        (true, _, _) => CpuKernels::Avx512,
        (_, true, _) => CpuKernels::Avx2,
        (_, _, true) => CpuKernels::Neon,
        _ => CpuKernels::Portable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The `targets(...)` list of every `#[multiversion]` attribute in the Rust files under `dir`, whitespace
    /// removed, with the file it is in.
    fn target_lists(dir: &Path, found: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                target_lists(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                // `#[multiversion(` or `#[multiversion::multiversion(`, its list on the lines below.
                for (at, _) in source.match_indices("multiversion(targets(\n") {
                    let list = &source[at..];
                    let list = &list[..list.find("))]").expect("a closed attribute")];
                    let list: String = list.chars().filter(|c| !c.is_whitespace()).collect();
                    found.push((path.display().to_string(), list));
                }
            }
        }
    }

    #[test]
    fn every_kernel_is_compiled_for_the_targets_the_version_is_read_from() {
        let mut found = Vec::new();
        target_lists(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        let this = file!().rsplit('/').next().unwrap();
        let (_, reference) = found
            .iter()
            .find(|(path, _)| path.ends_with(this))
            .expect("this file's list");
        assert!(found.len() >= 10, "only {} multiversioned functions found", found.len());
        for (path, list) in &found {
            assert_eq!(list, reference, "{path}: a kernel with other targets than `selected`");
        }
    }

    #[test]
    fn the_version_matches_the_processors_features() {
        let kernels = CpuKernels::detected();
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let fma = has!("avx2") && has!("fma");
            let avx512 = has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512fp16");
            let expected = match (fma, avx512) {
                (true, true) => CpuKernels::Avx512,
                (true, false) => CpuKernels::Avx2,
                (false, _) => CpuKernels::Portable,
            };
            assert_eq!(kernels, expected);
        }
        #[cfg(target_arch = "aarch64")]
        assert_eq!(kernels, CpuKernels::Neon);
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        assert_eq!(kernels, CpuKernels::Portable);
    }

    #[test]
    fn each_version_has_its_short_and_its_display_name() {
        let all = [
            CpuKernels::Avx512,
            CpuKernels::Avx2,
            CpuKernels::Neon,
            CpuKernels::Portable,
        ];
        assert_eq!(all.map(CpuKernels::name), ["avx512", "avx2", "neon", "portable"]);
        assert_eq!(
            all.map(|k| k.to_string()),
            ["AVX-512", "AVX2 + FMA", "NEON", "portable"]
        );
    }
}
