//! The public detector: options and weights in, faces out.

use std::future::Future;
use std::sync::{Arc, Mutex};

use image::{DynamicImage, RgbImage};

use crate::async_runner::AsyncRunner;
use crate::backend::{Backend, ImageView};
use crate::cpu::{CpuBackend, CpuNets};
use crate::device_choice::{start_gpu, SharedDevice};
use crate::error::{Error, Result};
use crate::face::{BoundingBox, Face, Keypoints, Point};
use crate::options::{DetectorOptions, Device, NmsThresholds, PyramidRule, Stages, Thresholds};
use crate::pipeline::boxes::Candidate;
use crate::pipeline::cascade;
use crate::pipeline::workspace::{first_n, Workspace};
use crate::pixels::Pixels;
use crate::timings::StageTimings;
use crate::weights::Weights;

/// An MTCNN face detector. Build it once and reuse it: building packs the weights (CPU) or compiles the kernels
/// and uploads the weights (GPU).
///
/// A `Detector` is `Send + Sync` and cheap to clone (clones share the networks, the device and its buffers):
/// share one between threads rather than building one a thread. On the CPU each call already spreads its work over
/// rayon's global thread pool, and concurrent calls run side by side. On the GPU, concurrent calls on one
/// detector take turns (they share its buffers); a detector per thread gives one device each.
#[derive(Clone)]
pub struct Detector {
    inner: Arc<Inner>,
}

struct Inner {
    options: DetectorOptions,
    device: Device,
    adapter: Option<String>,
    backend: Box<dyn Backend>,
    /// The cascade's lists, one per call running at the same time, reused from call to call.
    workspaces: Mutex<Vec<Workspace>>,
    /// Where `detect_async` runs its detections.
    async_runner: AsyncRunner,
    /// The detector's own thread pool (`DetectorOptions::cpu_threads`), or `None` for rayon's global pool.
    pool: Option<rayon::ThreadPool>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("options", &self.inner.options)
            .field("device", &self.inner.device)
            .field("adapter", &self.inner.adapter)
            .finish()
    }
}

/// Builds a [`Detector`]; every setter has the Python package's default.
///
/// ```
/// use mtcnn_wgpu::{Detector, Device, Stages};
/// let detector = Detector::builder().min_face_size(40.0).device(Device::Cpu).stages(Stages::FacesOnly).build()?;
/// # Ok::<(), mtcnn_wgpu::Error>(())
/// ```
#[derive(Default)]
pub struct DetectorBuilder {
    options: DetectorOptions,
    weights: Option<Weights>,
    shared: Option<SharedDevice>,
}

impl std::fmt::Debug for DetectorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = self.shared.is_some();
        f.debug_struct("DetectorBuilder")
            .field("options", &self.options)
            .field("shared_device", &shared)
            .finish()
    }
}

impl DetectorBuilder {
    /// Replaces all options at once.
    pub fn options(mut self, options: DetectorOptions) -> Self {
        self.options = options;
        self
    }
    /// The smallest face to find, in pixels (default 20, at least 12).
    pub fn min_face_size(mut self, pixels: f64) -> Self {
        self.options.min_face_size = pixels;
        self
    }
    /// The pyramid's scale step, in (0, 1) (default 0.709).
    pub fn scale_factor(mut self, factor: f64) -> Self {
        self.options.scale_factor = factor;
        self
    }
    /// How many pyramid levels to build (default: the package's rule).
    pub fn pyramid_rule(mut self, rule: PyramidRule) -> Self {
        self.options.pyramid_rule = rule;
        self
    }
    /// Score thresholds of P-Net, R-Net, O-Net (default 0.6, 0.7, 0.8).
    pub fn thresholds(mut self, thresholds: Thresholds) -> Self {
        self.options.thresholds = thresholds;
        self
    }
    /// NMS thresholds (default 0.5, 0.7, 0.7, 0.7).
    pub fn nms(mut self, nms: NmsThresholds) -> Self {
        self.options.nms = nms;
        self
    }
    /// Which stages run (default: all three, with keypoints).
    pub fn stages(mut self, stages: Stages) -> Self {
        self.options.stages = stages;
        self
    }
    /// Clamp boxes to the image (default true).
    pub fn fit_to_image(mut self, fit: bool) -> Self {
        self.options.fit_to_image = fit;
        self
    }
    /// Clamp keypoints to the image (default false; the package's `limit_boundaries_landmarks`). See
    /// [`DetectorOptions::fit_keypoints_to_image`].
    pub fn fit_keypoints_to_image(mut self, fit: bool) -> Self {
        self.options.fit_keypoints_to_image = fit;
        self
    }

    /// A thread pool of `threads` threads of the detector's own for its CPU work, instead of rayon's global pool;
    /// see [`DetectorOptions::cpu_threads`].
    pub fn cpu_threads(mut self, threads: usize) -> Self {
        self.options.cpu_threads = Some(threads);
        self
    }

    /// The largest image `detect` takes, in pixels (default 100 000 000); see [`DetectorOptions::max_pixels`].
    pub fn max_pixels(mut self, pixels: u64) -> Self {
        self.options.max_pixels = pixels;
        self
    }
    /// Where the networks run (default [`Device::Auto`]).
    pub fn device(mut self, device: Device) -> Self {
        self.options.device = device;
        self
    }
    /// Other weights than the embedded ones (see [`Weights::from_file`]).
    pub fn weights(mut self, weights: Weights) -> Self {
        self.weights = Some(weights);
        self
    }

    /// Runs the networks on a wgpu device and queue that the application already owns (a renderer's, a video
    /// pipeline's) instead of creating a second device. It is used with [`Device::Gpu`] and [`Device::Auto`].
    /// The detector wraps its own work in error scopes and never replaces the device's uncaptured-error
    /// handler. Use the `wgpu` version this crate re-exports ([`crate::wgpu`]). Needs the `gpu` feature (on by
    /// default).
    #[cfg(feature = "gpu")]
    pub fn wgpu_device(mut self, device: wgpu::Device, queue: wgpu::Queue) -> Self {
        self.shared = Some((device, queue));
        self
    }

    /// Validates the options, loads the weights and prepares the device: compiles the kernels and uploads the
    /// weights once for the GPU, packs them for the CPU.
    pub fn build(self) -> Result<Detector> {
        self.options.validate()?;
        let weights = match self.weights {
            Some(w) => w,
            None => Weights::embedded()?,
        };
        let gpu = start_gpu(self.options.device, self.shared, &weights, self.options.min_face_size)?;
        let (device, adapter, backend): (Device, Option<String>, Box<dyn Backend>) = match gpu {
            Some(gpu) => (Device::Gpu, Some(gpu.description), gpu.backend),
            None => (Device::Cpu, None, Box::new(CpuBackend::new(CpuNets::new(&weights)))),
        };
        let pool = match self.options.cpu_threads {
            Some(threads) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("mtcnn-cpu-{i}"))
                    .build()
                    .map_err(|e| Error::Thread(format!("cannot start {threads} CPU threads: {e}")))?,
            ),
            None => None,
        };
        let threads = pool_threads(pool.as_ref());
        Ok(Detector {
            inner: Arc::new(Inner {
                options: self.options,
                device,
                adapter,
                backend,
                workspaces: Mutex::new(Vec::new()),
                async_runner: AsyncRunner::new(match device {
                    Device::Cpu => threads,
                    _ => 1,
                }),
                pool,
            }),
        })
    }
}

/// The threads of the detector's own `pool`, or of rayon's global pool without one.
fn pool_threads(pool: Option<&rayon::ThreadPool>) -> usize {
    pool.map_or_else(rayon::current_num_threads, rayon::ThreadPool::current_num_threads)
}

impl Detector {
    /// A detector with the default options and the embedded weights.
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// A builder with the default options.
    pub fn builder() -> DetectorBuilder {
        DetectorBuilder::default()
    }

    /// A detector with these options and the embedded weights.
    pub fn with_options(options: DetectorOptions) -> Result<Self> {
        Self::builder().options(options).build()
    }

    /// The options it was built with.
    pub fn options(&self) -> &DetectorOptions {
        &self.inner.options
    }

    /// The device the networks run on ([`Device::Auto`] resolved to [`Device::Cpu`] or [`Device::Gpu`]).
    pub fn device(&self) -> Device {
        self.inner.device
    }

    /// How many threads the detector's CPU work spreads over: its own pool's
    /// ([`DetectorOptions::cpu_threads`]) or rayon's global pool's.
    pub fn cpu_threads(&self) -> usize {
        pool_threads(self.inner.pool.as_ref())
    }

    /// Runs `work` on the detector's thread pool, if it has one of its own.
    fn on_pool<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        match &self.inner.pool {
            Some(pool) => pool.install(work),
            None => work(),
        }
    }

    /// The GPU adapter in use, as "name (backend, type)"; `None` on the CPU.
    pub fn adapter(&self) -> Option<&str> {
        self.inner.adapter.as_deref()
    }

    /// Finds the faces in an image, highest confidence first. An image too small to hold a 12-pixel face
    /// (including an empty one) gives no faces.
    ///
    /// Takes `&RgbImage`, `&RgbaImage`, `&GrayImage` (any `image::ImageBuffer` of 8-bit RGB, RGBA or grey pixels)
    /// or [`Pixels`]: borrowed BGR, BGRA and padded rows, as cameras and video decoders deliver them.
    pub fn detect<'a>(&self, image: impl Into<Pixels<'a>>) -> Result<Vec<Face>> {
        let mut faces = Vec::new();
        self.detect_into(image, &mut faces)?;
        Ok(faces)
    }

    /// [`Detector::detect`] into a list the caller keeps: `faces` is cleared, then filled. For streams of frames:
    /// on the CPU, once the detector has seen a frame of the size, further calls allocate no memory at all (the
    /// pyramid, activations, crops and candidate lists are reused, and `faces` keeps its capacity); on the GPU
    /// they create no buffers or bind groups. See `examples/frames.rs`.
    ///
    /// ```
    /// use mtcnn_wgpu::{Detector, Device};
    /// let detector = Detector::builder().device(Device::Cpu).build()?;
    /// // Frames from a camera or a decoder; here the same picture three times.
    /// let photo = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png")).unwrap().to_rgb8();
    /// let frames = vec![photo; 3];
    /// let mut faces = Vec::new(); // one list for the whole stream
    /// for frame in &frames {
    ///     detector.detect_into(frame, &mut faces)?;
    ///     assert_eq!(faces.len(), 1);
    /// }
    /// # Ok::<(), mtcnn_wgpu::Error>(())
    /// ```
    pub fn detect_into<'a>(&self, image: impl Into<Pixels<'a>>, faces: &mut Vec<Face>) -> Result<()> {
        faces.clear();
        self.run(&[image.into()], |_, face| faces.push(face))?;
        Ok(())
    }

    /// Like [`Detector::detect`], for any pixel format of `image`. 8-bit RGB, RGBA and grey images are read in
    /// place; the others are converted with `DynamicImage::to_rgb8` first. Either way the detector sees what
    /// `to_rgb8` gives: grey replicated to three channels, alpha dropped, 16-bit and float channels scaled to 8
    /// bits.
    pub fn detect_dynamic(&self, image: &DynamicImage) -> Result<Vec<Face>> {
        match image {
            DynamicImage::ImageRgb8(rgb) => self.detect(rgb),
            DynamicImage::ImageRgba8(rgba) => self.detect(rgba),
            DynamicImage::ImageLuma8(grey) => self.detect(grey),
            other => self.detect(&other.to_rgb8()),
        }
    }

    /// [`Detector::detect`] for applications that run an async executor. The detection runs away from the
    /// executor, which is never blocked while the CPU or the GPU works; the future completes with its result. It is
    /// `Send + 'static`: spawn it on any executor. It takes the image by value (clone it to keep it): an
    /// `RgbImage`, `RgbaImage` or `GrayImage`, or a type of your own that converts into [`Pixels`] by reference
    /// (a frame that owns its BGRA bytes, say).
    ///
    /// Calls don't start a thread each, so a flood of them can't start a thousand threads with a workspace each:
    /// the detector's worker threads (started by the first call) take them in the order they came, on the CPU one
    /// per rayon thread (each detection still spreads over rayon's pool), on a GPU one, as calls on one detector
    /// take turns there anyway. Waiting futures hold only their images. A call whose future is dropped before its
    /// turn (a request that timed out) is skipped, not detected.
    ///
    /// ```
    /// use mtcnn_wgpu::{Detector, Device};
    /// let detector = Detector::builder().device(Device::Cpu).build()?;
    /// let photo = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png")).unwrap().to_rgb8();
    /// // In an async fn: `let faces = detector.detect_async(photo).await?;`
    /// let faces = futures::executor::block_on(detector.detect_async(photo))?;
    /// assert_eq!(faces.len(), 1);
    /// # Ok::<(), mtcnn_wgpu::Error>(())
    /// ```
    pub fn detect_async<I>(&self, image: I) -> impl Future<Output = Result<Vec<Face>>> + Send + 'static
    where
        I: Send + 'static,
        for<'a> &'a I: Into<Pixels<'a>>,
    {
        let detector = self.clone();
        let (sender, receiver) = futures::channel::oneshot::channel();
        let submitted = self.inner.async_runner.submit(Box::new(move || {
            // A caller that has dropped its future (a timeout, a closed connection) no longer wants the faces.
            if sender.is_canceled() {
                detector.inner.async_runner.note_skipped();
                return;
            }
            let _ = sender.send(detector.detect(&image));
        }));
        async move {
            submitted?;
            receiver
                .await
                .unwrap_or_else(|_| Err(Error::Thread("the detection ended without a result".into())))
        }
    }

    /// Like [`Detector::detect`], and also returns where the time went and how many candidates each stage kept.
    ///
    /// ```
    /// use mtcnn_wgpu::{Detector, Device};
    /// let detector = Detector::builder().device(Device::Cpu).build()?;
    /// let photo = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png")).unwrap().to_rgb8();
    /// let (faces, timings) = detector.detect_timed(&photo)?;
    /// println!(
    ///     "P-Net {:?} over {} levels, R-Net {:?} on {} candidates, O-Net {:?} on {}, {} faces",
    ///     timings.pnet, timings.levels, timings.rnet, timings.rnet_inputs, timings.onet, timings.onet_inputs,
    ///     faces.len()
    /// );
    /// assert_eq!(timings.faces, faces.len());
    /// # Ok::<(), mtcnn_wgpu::Error>(())
    /// ```
    pub fn detect_timed<'a>(&self, image: impl Into<Pixels<'a>>) -> Result<(Vec<Face>, StageTimings)> {
        let mut faces = Vec::new();
        let timings = self.run(&[image.into()], |_, face| faces.push(face))?;
        Ok((faces, timings))
    }

    /// Finds the faces in each of several images: the same faces as [`Detector::detect`] on each image alone, in
    /// the same order, one list per image. Takes a slice of any image type `detect` takes: `RgbImage`s,
    /// [`Pixels`], and so on.
    ///
    /// On the GPU the images go through each stage together (one submission per stage for the whole batch, the
    /// pyramid levels and crops of every image in the same dispatches), which keeps a large GPU busy where single
    /// frames leave it idle between stages. A batch whose images would not fit the device's buffers together is
    /// run as several passes. On the CPU the images run one after the other, each using every core. The images
    /// may differ in size and layout. An error in any image fails the whole call.
    ///
    /// ```
    /// use mtcnn_wgpu::{Detector, Device};
    /// let detector = Detector::builder().device(Device::Cpu).build()?;
    /// let photo = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png")).unwrap().to_rgb8();
    /// let thumbnail = image::imageops::thumbnail(&photo, 256, 256);
    /// let lists = detector.detect_batch(&[photo.clone(), thumbnail])?;
    /// assert_eq!(lists.len(), 2);
    /// assert_eq!(lists[0], detector.detect(&photo)?);
    /// # Ok::<(), mtcnn_wgpu::Error>(())
    /// ```
    pub fn detect_batch<'a, T>(&self, images: &'a [T]) -> Result<Vec<Vec<Face>>>
    where
        &'a T: Into<Pixels<'a>>,
    {
        self.detect_batch_timed(images).map(|(faces, _)| faces)
    }

    /// Like [`Detector::detect_batch`], and also returns the stage times of the whole batch and the candidate
    /// counts summed over its images.
    pub fn detect_batch_timed<'a, T>(&self, images: &'a [T]) -> Result<(Vec<Vec<Face>>, StageTimings)>
    where
        &'a T: Into<Pixels<'a>>,
    {
        let images: Vec<Pixels<'a>> = images.iter().map(Into::into).collect();
        let mut faces = vec![Vec::new(); images.len()];
        let timings = self.run(&images, |image, face| faces[image].push(face))?;
        Ok((faces, timings))
    }

    /// Runs the cascade on `images` in as many passes as the backend wants, handing each face to `emit` with the
    /// index of its image, best first within an image. Returns the timings summed over the passes.
    fn run(&self, images: &[Pixels<'_>], emit: impl FnMut(usize, Face) + Send) -> Result<StageTimings> {
        self.on_pool(|| self.run_here(images, emit))
    }

    /// [`Detector::run`] on the current thread pool.
    fn run_here(&self, images: &[Pixels<'_>], emit: impl FnMut(usize, Face)) -> Result<StageTimings> {
        let limit = self.inner.options.max_pixels;
        if let Some(big) = images
            .iter()
            .find(|i| u64::from(i.width()) * u64::from(i.height()) > limit)
        {
            return Err(Error::ImageTooLarge {
                width: big.width(),
                height: big.height(),
                reason: format!("it exceeds max_pixels = {limit}"),
            });
        }
        let lock = || {
            self.inner
                .workspaces
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        let mut workspace = lock().pop().unwrap_or_default();
        // The RGB copies of images in other layouts; taken out so that the views can borrow them while the
        // cascade works in the rest of the workspace.
        let mut copies = std::mem::take(&mut workspace.rgb_copies);
        let copies_now = first_n(&mut copies, images.len());
        let result = if let ([image], [copy]) = (images, &mut *copies_now) {
            // One image (the streaming case): no list of views, so that a frame allocates nothing.
            self.run_views(&[ImageView::of(image, copy)], &mut workspace, emit)
        } else {
            let views: Vec<ImageView<'_>> = images
                .iter()
                .zip(copies_now.iter_mut())
                .map(|(i, c)| ImageView::of(i, c))
                .collect();
            self.run_views(&views, &mut workspace, emit)
        };
        workspace.rgb_copies = copies;
        lock().push(workspace);
        result
    }

    /// [`Detector::run`] on images already in packed RGB.
    fn run_views(
        &self,
        images: &[ImageView<'_>],
        workspace: &mut Workspace,
        mut emit: impl FnMut(usize, Face),
    ) -> Result<StageTimings> {
        let backend = self.inner.backend.as_ref();
        let mut timings = StageTimings::default();
        let mut done = 0;
        while done < images.len() {
            let rest = &images[done..];
            let pass = &rest[..backend.batch_len(rest).clamp(1, rest.len())];
            timings.accumulate(&cascade::detect(backend, pass, &self.inner.options, workspace)?);
            for (i, (candidates, view)) in workspace.boxes.iter().zip(pass).enumerate() {
                for c in candidates {
                    emit(done + i, self.to_face(c, view.width, view.height));
                }
            }
            done += pass.len();
        }
        Ok(timings)
    }

    /// The aligned `size`×`size` crop of each face (112 for the standard ArcFace crop; see [the `align` module](mod@crate::align)), in
    /// one pass on the detector's device: on the GPU, one warp dispatch for all faces. The result matches
    /// [`crate::align::align`] on each face within one grey level. Fails, for the whole call, on a face without
    /// usable keypoints. Takes the images [`Detector::detect`] takes.
    pub fn align_faces<'a>(&self, image: impl Into<Pixels<'a>>, faces: &[Face], size: u32) -> Result<Vec<RgbImage>> {
        let transforms = faces
            .iter()
            .map(|f| crate::align::alignment_transform(f, size))
            .collect::<Result<Vec<_>>>()?;
        let image = image.into();
        let mut copy = Vec::new();
        self.on_pool(|| {
            self.inner
                .backend
                .warp(ImageView::of(&image, &mut copy), &transforms, size)
        })
    }

    /// `limit_bboxes` (when `fit_to_image`): x to [0, W−1], y to [0, H−1], and the keypoints too when
    /// `fit_keypoints_to_image` (its `limit_landmarks`); then corners to x, y, w, h.
    fn to_face(&self, c: &Candidate, width: u32, height: u32) -> Face {
        let (mut x1, mut y1, mut x2, mut y2) = (c.x1, c.y1, c.x2, c.y2);
        let (max_x, max_y) = (f64::from(width) - 1.0, f64::from(height) - 1.0);
        if self.inner.options.fit_to_image {
            x1 = x1.clamp(0.0, max_x);
            x2 = x2.clamp(0.0, max_x);
            y1 = y1.clamp(0.0, max_y);
            y2 = y2.clamp(0.0, max_y);
        }
        let fit_keypoints = self.inner.options.fit_keypoints_to_image;
        let keypoints = c.landmarks.map(|l| {
            let p = |i: usize| match fit_keypoints {
                // numpy's minimum(maximum(v, 0), W − 1), in that order.
                true => Point {
                    x: l[i].max(0.0).min(max_x as f32),
                    y: l[5 + i].max(0.0).min(max_y as f32),
                },
                false => Point { x: l[i], y: l[5 + i] },
            };
            Keypoints {
                left_eye: p(0),
                right_eye: p(1),
                nose: p(2),
                mouth_left: p(3),
                mouth_right: p(4),
            }
        });
        Face {
            bbox: BoundingBox {
                x: x1 as f32,
                y: y1 as f32,
                width: (x2 - x1) as f32,
                height: (y2 - y1) as f32,
            },
            confidence: c.score as f32,
            keypoints,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Detector>();
    }

    #[test]
    fn invalid_options_fail_at_build_time() {
        let cases = [
            Detector::builder().scale_factor(1.0).build(),
            Detector::builder().scale_factor(0.0).build(),
            Detector::builder().min_face_size(11.0).build(),
            Detector::builder().min_face_size(f64::NAN).build(),
            Detector::builder()
                .thresholds(Thresholds {
                    pnet: 1.5,
                    ..Default::default()
                })
                .build(),
            Detector::builder()
                .thresholds(Thresholds {
                    onet: -0.1,
                    ..Default::default()
                })
                .build(),
            Detector::builder()
                .nms(NmsThresholds {
                    rnet: 2.0,
                    ..Default::default()
                })
                .build(),
        ];
        for result in cases {
            assert!(matches!(result, Err(Error::InvalidOption { .. })), "{result:?}");
        }
        let zero_threads = Detector::builder().cpu_threads(0).build();
        assert!(
            matches!(
                &zero_threads,
                Err(Error::InvalidOption {
                    name: "cpu_threads",
                    ..
                })
            ),
            "{zero_threads:?}"
        );
        let cpu = Detector::builder().device(Device::Cpu).build().unwrap();
        assert_eq!((cpu.device(), cpu.adapter()), (Device::Cpu, None));
        assert_eq!(cpu.cpu_threads(), rayon::current_num_threads());
    }
}

#[cfg(test)]
mod pool_tests {
    use super::*;

    /// The detector's work runs on its own pool: the stages' parallel loops see its thread count and run on its
    /// threads.
    #[test]
    fn a_detector_with_cpu_threads_runs_its_work_on_its_own_pool() {
        let detector = Detector::builder().device(Device::Cpu).cpu_threads(3).build().unwrap();
        let seen = detector.on_pool(|| {
            let name = std::thread::current().name().map(str::to_owned);
            (
                rayon::current_num_threads(),
                rayon::current_thread_index().is_some(),
                name,
            )
        });
        assert_eq!((seen.0, seen.1), (3, true), "{seen:?}");
        assert!(seen.2.as_ref().is_some_and(|n| n.starts_with("mtcnn-cpu-")), "{seen:?}");
    }
}

#[cfg(test)]
mod async_tests {
    use super::*;

    fn astronaut() -> RgbImage {
        image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
            .unwrap()
            .to_rgb8()
    }

    #[test]
    fn detect_async_gives_the_same_faces_and_its_future_can_move_between_threads() {
        fn assert_send_static<T: Send + 'static>(_: &T) {}
        let detector = Detector::builder().device(Device::Cpu).build().unwrap();
        let image = RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 90]));
        let future = detector.detect_async(image.clone());
        assert_send_static(&future);
        assert_eq!(
            futures::executor::block_on(future).unwrap(),
            detector.detect(&image).unwrap()
        );
    }

    /// Futures dropped while their calls wait in the queue are skipped: with one worker busy on the first call,
    /// the calls behind it whose futures are gone never run (28 on a quiet machine), and the last one still gives
    /// its faces.
    #[test]
    fn dropped_async_calls_are_skipped() {
        let detector = Detector::builder().device(Device::Cpu).cpu_threads(1).build().unwrap();
        let astronaut = astronaut();
        let expected = detector.detect(&astronaut).unwrap();
        let mut futures: Vec<_> = (0..30).map(|_| detector.detect_async(astronaut.clone())).collect();
        let last = futures.pop().unwrap();
        drop(futures);
        assert_eq!(futures::executor::block_on(last).unwrap(), expected);
        let skipped = detector.inner.async_runner.skipped();
        // The first calls may have started before their futures were dropped (a few, on a loaded machine).
        assert!((20..=29).contains(&skipped), "{skipped} calls skipped");
    }

    /// 48 calls at once: each gives its image's faces, and no more detections run at a time than the CPU runner
    /// has workers (each running detection holds a workspace; they are all returned at the end). Run on rayon's
    /// own threads, the queued calls nested inside each other's waits: 200 calls once made 89 workspaces.
    #[test]
    fn a_flood_of_async_calls_runs_a_bounded_number_at_a_time() {
        let detector = Detector::builder().device(Device::Cpu).build().unwrap();
        let astronaut = astronaut();
        let images: Vec<RgbImage> = (0..4)
            .map(|i| {
                let side = 200 + 40 * i;
                image::imageops::resize(&astronaut, side, side, image::imageops::FilterType::Triangle)
            })
            .collect();
        let expected: Vec<Vec<Face>> = images.iter().map(|i| detector.detect(i).unwrap()).collect();
        assert!(expected.iter().all(|faces| !faces.is_empty()));
        let futures: Vec<_> = (0..48).map(|i| detector.detect_async(images[i % 4].clone())).collect();
        for (i, future) in futures.into_iter().enumerate() {
            assert_eq!(
                futures::executor::block_on(future).unwrap(),
                expected[i % 4],
                "call {i}"
            );
        }
        let workspaces = detector.inner.workspaces.lock().unwrap().len();
        assert!(
            (1..=rayon::current_num_threads()).contains(&workspaces),
            "{workspaces} workspaces for {} workers",
            rayon::current_num_threads()
        );
    }
}
