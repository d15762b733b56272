//! Backends and host <-> device tensors.
//!
//! All numerical code is generic over burn's `Backend` trait at the primitive level
//! (`B::float_*`), with `Autodiff<B>` for gradients and `Autodiff<Autodiff<B>>` for exact
//! Hessian-vector products. The backend is chosen at run time from [`BackendKind`]: `native`
//! (spike-pipe's own CPU path, `nn::native`, the default) does not go through burn; `flex`
//! (burn's pure-Rust CPU backend) is the autodiff reference; `tch` and `cuda` are cargo features.

use anyhow::{Result, anyhow, bail};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, FloatDType, TensorData, read_sync};

pub use burn::backend::Flex;

spike_config::choice_enum! {
    /// Floating-point precision of a computation (a stage parameter).
    pub enum Precision {
        F32 = "f32",
        F64 = "f64",
    }
}

impl Precision {
    pub(crate) fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::F64 => FloatDType::F64,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Native,
    Flex,
    #[cfg(feature = "tch")]
    Tch,
    #[cfg(feature = "cuda")]
    Cuda,
}

impl BackendKind {
    pub(crate) fn available() -> Vec<&'static str> {
        #[allow(unused_mut)]
        let mut v = vec!["native", "flex"];
        #[cfg(feature = "tch")]
        v.push("tch");
        #[cfg(feature = "cuda")]
        v.push("cuda");
        v
    }

    pub fn parse(s: &str) -> Result<BackendKind> {
        match s {
            "native" => return Ok(BackendKind::Native),
            "flex" => return Ok(BackendKind::Flex),
            #[cfg(feature = "tch")]
            "tch" => return Ok(BackendKind::Tch),
            #[cfg(feature = "cuda")]
            "cuda" => return Ok(BackendKind::Cuda),
            _ => {}
        }
        if s == "tch" || s == "cuda" {
            bail!(
                "backend `{s}` is not compiled in; rebuild with `cargo build --release --features {s}`"
            );
        }
        bail!(
            "unknown backend `{s}`; available: {}",
            Self::available().join(", ")
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Native => "native",
            BackendKind::Flex => "flex",
            #[cfg(feature = "tch")]
            BackendKind::Tch => "tch",
            #[cfg(feature = "cuda")]
            BackendKind::Cuda => "cuda",
        }
    }

    /// Whether a stage computed twice on this backend gives bit-identical files: tested for
    /// `native` (one thread order, no fused or vendor kernels); burn's CPU backends reduce over
    /// threads and GPUs schedule kernels, so the others are compared within a tolerance.
    pub fn bit_reproducible(self) -> bool {
        self == BackendKind::Native
    }

    /// Fails with what to do when the backend cannot run on this machine. burn-cuda loads the
    /// NVIDIA driver lazily on a device thread, where a missing driver is a panic whose message
    /// never reaches the stage; checking here gives the stage a clear error instead.
    pub fn ensure_usable(self) -> Result<()> {
        #[cfg(feature = "cuda")]
        if self == BackendKind::Cuda {
            const DRIVER: &str = "libcuda.so.1";
            // SAFETY: loading the NVIDIA driver library runs only its own initialisers.
            #[allow(unsafe_code)]
            let loaded = unsafe { libloading::Library::new(DRIVER) };
            if let Err(e) = loaded {
                bail!(
                    "backend cuda: cannot load the NVIDIA driver ({DRIVER}: {e}); run on a machine \
                     with an NVIDIA GPU and driver (add the driver's folder to LD_LIBRARY_PATH if it \
                     is installed elsewhere), or choose another backend with --backend native"
                );
            }
        }
        Ok(())
    }
}

#[cfg(feature = "tch")]
#[allow(deprecated)]
pub(crate) fn tch_device() -> burn::backend::libtorch::LibTorchDevice {
    if std::env::var("SPIKE_TCH_DEVICE").as_deref() == Ok("cuda") {
        burn::backend::libtorch::LibTorchDevice::Cuda(0)
    } else {
        burn::backend::libtorch::LibTorchDevice::Cpu
    }
}

/// A host vector as a tensor of the given shape and precision.
pub fn tensor<B: Backend>(
    values: &[f64],
    shape: &[usize],
    precision: Precision,
    device: &B::Device,
) -> FloatTensor<B> {
    let data = match precision {
        Precision::F64 => TensorData::new(values.to_vec(), shape.to_vec()),
        Precision::F32 => TensorData::new(
            values.iter().map(|&v| v as f32).collect::<Vec<f32>>(),
            shape.to_vec(),
        ),
    };
    B::float_from_data(data, device)
}

/// All elements of a tensor, as f64.
pub fn to_vec<B: Backend>(t: FloatTensor<B>) -> Result<Vec<f64>> {
    let data =
        read_sync(B::float_into_data(t)).map_err(|e| anyhow!("reading a tensor back: {e:?}"))?;
    data.convert::<f64>()
        .try_into_vec::<f64>()
        .map_err(|e| anyhow!("converting a tensor to f64: {e:?}"))
}

/// A one-element tensor as f64.
pub(crate) fn scalar<B: Backend>(t: FloatTensor<B>) -> Result<f64> {
    to_vec::<B>(t)?
        .first()
        .copied()
        .ok_or_else(|| anyhow!("empty tensor where a scalar was expected"))
}
