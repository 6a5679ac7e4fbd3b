//! `--device`: which Burn backend runs the model. Flex (pure-Rust CPU) is always built; GPU
//! backends come with cargo features of this program (`--features wgpu`, `vulkan`, `cuda`).

use anyhow::bail;
use burn::tensor::Device;

/// Parses `flex`, `wgpu`, `vulkan`, `cuda` or `cuda:0,1` (several GPUs) into devices. Without
/// indices, wgpu and vulkan take the adapter wgpu prefers (a software one where there is no GPU).
pub fn parse(spec: &str) -> anyhow::Result<Vec<Device>> {
    let (kind, indices) = match spec.split_once(':') {
        Some((kind, indices)) => (kind, Some(indices)),
        None => (spec, None),
    };
    let indices: Option<Vec<usize>> = indices
        .map(|indices| {
            indices
                .split(',')
                .map(|i| i.trim().parse().map_err(|_| anyhow::anyhow!("bad device index {i:?} in {spec:?}")))
                .collect::<anyhow::Result<_>>()
        })
        .transpose()?;
    let devices = match kind {
        "flex" => vec![Device::flex()],
        "wgpu" => wgpu(indices.as_deref())?,
        "vulkan" => vulkan(indices.as_deref())?,
        "cuda" => cuda(indices.as_deref().unwrap_or(&[0]))?,
        other => bail!("unknown device {other:?}: use flex, wgpu, vulkan or cuda[:0,1,…]"),
    };
    Ok(devices)
}

fn not_built(feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "this nl2py was built without {feature}: rebuild with `cargo build --release -p model-export --features {feature}`"
    )
}

/// The chosen discrete GPUs, or wgpu's preferred adapter.
#[cfg(any(feature = "wgpu", feature = "vulkan"))]
fn adapters(indices: Option<&[usize]>) -> Vec<burn::tensor::DeviceKind> {
    use burn::tensor::DeviceKind;
    indices
        .map_or(vec![DeviceKind::DefaultDevice], |i| i.iter().map(|&i| DeviceKind::DiscreteGpu(i)).collect())
}

#[cfg(feature = "wgpu")]
fn wgpu(indices: Option<&[usize]>) -> anyhow::Result<Vec<Device>> {
    Ok(adapters(indices).into_iter().map(Device::wgpu).collect())
}

#[cfg(not(feature = "wgpu"))]
fn wgpu(_: Option<&[usize]>) -> anyhow::Result<Vec<Device>> {
    Err(not_built("wgpu"))
}

#[cfg(feature = "vulkan")]
fn vulkan(indices: Option<&[usize]>) -> anyhow::Result<Vec<Device>> {
    Ok(adapters(indices).into_iter().map(Device::vulkan).collect())
}

#[cfg(not(feature = "vulkan"))]
fn vulkan(_: Option<&[usize]>) -> anyhow::Result<Vec<Device>> {
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
