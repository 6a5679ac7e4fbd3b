//! `--device`: which Burn backend runs the model. Flex (pure-Rust CPU) is always built; GPU
//! backends come with cargo features of this program (`--features wgpu`, `vulkan`, `cuda`).

use anyhow::bail;
use burn::tensor::Device;

/// Parses `flex`, `wgpu`, `vulkan`, `cuda` or `cuda:0,1` (several GPUs) into devices.
pub fn parse(spec: &str) -> anyhow::Result<Vec<Device>> {
    let (kind, indices) = spec.split_once(':').unwrap_or((spec, "0"));
    let indices: Vec<usize> = indices
        .split(',')
        .map(|i| i.trim().parse().map_err(|_| anyhow::anyhow!("bad device index {i:?} in {spec:?}")))
        .collect::<anyhow::Result<_>>()?;
    let devices = match kind {
        "flex" => vec![Device::flex()],
        "wgpu" => wgpu(&indices)?,
        "vulkan" => vulkan(&indices)?,
        "cuda" => cuda(&indices)?,
        other => bail!("unknown device {other:?}: use flex, wgpu, vulkan or cuda[:0,1,…]"),
    };
    Ok(devices)
}

fn not_built(feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "this nl2py was built without {feature}: rebuild with `cargo build --release -p model-export --features {feature}`"
    )
}

#[cfg(feature = "wgpu")]
fn wgpu(indices: &[usize]) -> anyhow::Result<Vec<Device>> {
    Ok(indices.iter().map(|&i| Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(i))).collect())
}

#[cfg(not(feature = "wgpu"))]
fn wgpu(_: &[usize]) -> anyhow::Result<Vec<Device>> {
    Err(not_built("wgpu"))
}

#[cfg(feature = "vulkan")]
fn vulkan(indices: &[usize]) -> anyhow::Result<Vec<Device>> {
    Ok(indices.iter().map(|&i| Device::vulkan(burn::tensor::DeviceKind::DiscreteGpu(i))).collect())
}

#[cfg(not(feature = "vulkan"))]
fn vulkan(_: &[usize]) -> anyhow::Result<Vec<Device>> {
    Err(not_built("vulkan"))
}

#[cfg(feature = "cuda")]
fn cuda(indices: &[usize]) -> anyhow::Result<Vec<Device>> {
    Ok(indices.iter().map(|&i| Device::cuda(i)).collect())
}

#[cfg(not(feature = "cuda"))]
fn cuda(_: &[usize]) -> anyhow::Result<Vec<Device>> {
    Err(not_built("cuda"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_is_always_there_and_unknown_devices_are_named() {
        assert_eq!(parse("flex").unwrap().len(), 1);
        assert!(parse("tpu").unwrap_err().to_string().contains("unknown device \"tpu\""));
        assert!(parse("cuda:x").unwrap_err().to_string().contains("bad device index"));
        #[cfg(not(feature = "cuda"))]
        assert!(parse("cuda:0,1").unwrap_err().to_string().contains("--features cuda"));
    }
}
