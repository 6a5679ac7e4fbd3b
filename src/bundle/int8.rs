//! 8-bit weights (`Precision::Int8`). A float tensor of rank 2 or more whose last axis is a
//! multiple of 32 is stored as blocks of 32 consecutive values along that axis: one i8 per value
//! and one f16 scale per block (the block's largest magnitude / 127), about 1.06 bytes a weight
//! against 2 for f16. Other tensors (layer-norm gains, biases) are stored as f16. Loading turns
//! both back into f32, so every backend computes as before; only the file shrinks.
//!
//! The blocks use Burn's own quantized layout (`TensorData::quantized`, a `QFloat` dtype in the
//! burnpack), so the file says how it was quantized.

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ModuleAdapter, ModuleContext, bridge};
use burn::tensor::quantization::{
    QuantScheme, QuantStore, QuantValue, QuantizedBytes, ScaleDtype, quantized_data_len, scale_to_dtype,
};
use burn::tensor::{DType, TensorData};

// Values per block (and so per scale): the CPU decoder's 8-bit blocks are the bundle's.
use crate::model::kernels::QUANT_BLOCK;

/// Symmetric i8 in [-127, 127], one byte per value, one f16 scale per block of 32 along the
/// last axis.
fn scheme() -> QuantScheme {
    QuantScheme::default()
        .with_value(QuantValue::Q8S)
        .with_store(QuantStore::Native)
        .per_block([QUANT_BLOCK as u8], ScaleDtype::F16)
}

/// Save-side adapter: blocks of i8 where the shape allows; anything else passes through (the
/// bundle writer chains a cast to f16 after it).
#[derive(Debug, Clone, Copy)]
pub struct QuantizeBlocks;

impl ModuleAdapter for QuantizeBlocks {
    fn adapt(&self, tensor: PackTensor, _: ModuleContext<'_>) -> PackTensor {
        let rank = tensor.shape.num_dims();
        if !tensor.dtype.is_float() || rank < 2 || !tensor.shape[rank - 1].is_multiple_of(QUANT_BLOCK) {
            return tensor;
        }
        let (name, shape) = (tensor.name.clone(), tensor.shape.clone());
        bridge::map_data(tensor, name, DType::QFloat(scheme()), shape, quantize)
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(*self)
    }
}

/// Checks a quantized tensor whose shape is the model's: blocks of this scheme, laid as
/// [`QuantizeBlocks`] lays them, in exactly the bytes they take. Burn's decoder trusts all three
/// and panics, or reads another block's scale, on a file that breaks one. Returns the reason.
pub fn check_blocks(tensor: &PackTensor) -> Result<(), String> {
    let (name, dims) = (&tensor.name, tensor.shape.as_slice());
    if tensor.dtype != DType::QFloat(scheme()) {
        return Err(format!(
            "tensor {name} is quantized as {:?}, but bundles hold blocks of {QUANT_BLOCK} i8 values with an f16 scale each",
            tensor.dtype
        ));
    }
    if dims.len() < 2 || !dims[dims.len() - 1].is_multiple_of(QUANT_BLOCK) {
        return Err(format!(
            "tensor {name} of shape {dims:?} is stored as int8 blocks of {QUANT_BLOCK}, which need a rank of 2 or more and a last axis that is a multiple of {QUANT_BLOCK}"
        ));
    }
    let expected = quantized_data_len(&scheme(), &tensor.shape);
    if tensor.byte_len() != expected {
        return Err(format!(
            "tensor {name} holds {} bytes of int8 blocks, but its shape {dims:?} takes {expected} (values and scales)",
            tensor.byte_len()
        ));
    }
    Ok(())
}

/// Load-side adapter: blocks written by [`QuantizeBlocks`] back to f32, once [`check_blocks`]
/// has passed. Anything else passes through (and is cast or refused by the loader as usual).
#[derive(Debug, Clone, Copy)]
pub struct DequantizeBlocks;

impl ModuleAdapter for DequantizeBlocks {
    fn adapt(&self, tensor: PackTensor, _: ModuleContext<'_>) -> PackTensor {
        if tensor.dtype != DType::QFloat(scheme()) {
            return tensor;
        }
        let (name, shape) = (tensor.name.clone(), tensor.shape.clone());
        bridge::map_data(tensor, name, DType::F32, shape, dequantize)
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(*self)
    }
}

/// f32 (or f16) values → blocks of i8 with their scales. The last axis is a multiple of
/// `QUANT_BLOCK`, so each block is a run of `QUANT_BLOCK` values in row-major order.
fn quantize(data: TensorData) -> TensorData {
    let shape = data.shape().clone();
    let values = data.convert_dtype(DType::F32).try_into_vec::<f32>().expect("converted to f32");
    let mut quantized = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(values.len() / QUANT_BLOCK);
    for block in values.chunks(QUANT_BLOCK) {
        let largest = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        // Rounded up to what f16 holds, so the largest value still fits after the round trip.
        let scale = if largest > 0.0 { scale_to_dtype(largest / 127.0, ScaleDtype::F16) } else { 1.0 };
        quantized.extend(block.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
        scales.push(scale);
    }
    TensorData::quantized(quantized, shape, scheme(), &scales, None)
}

fn dequantize(data: TensorData) -> TensorData {
    let (bytes, shape, _) = data.into_parts();
    let (values, scales) = QuantizedBytes { bytes, scheme: scheme(), shape: shape.clone() }.into_vec_i8();
    // The last axis is a multiple of QUANT_BLOCK ([`check_blocks`]), so block `b` is the run
    // `values[b · QUANT_BLOCK..][..QUANT_BLOCK]`: no per-value block lookup (Burn's `BlockLayout::block_of`
    // took a third of the page's model load).
    let mut floats = Vec::with_capacity(values.len());
    for (block, &scale) in values.chunks_exact(QUANT_BLOCK).zip(&scales.block) {
        floats.extend(block.iter().map(|&q| f32::from(q) * scale));
    }
    TensorData::new(floats, shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_within_half_a_step() {
        // Two rows of 64: four blocks, one of them all zeros, one with a large outlier.
        let mut values: Vec<f32> = (0..128).map(|i| ((i * 37 % 101) as f32 - 50.0) / 80.0).collect();
        values[32..64].fill(0.0);
        values[70] = 9.0;
        let data = TensorData::new(values.clone(), [2, 64]);
        let quantized = quantize(data);
        assert_eq!(quantized.dtype(), DType::QFloat(scheme()));
        assert!(quantized.bytes().len() < 128 + 4 * 4, "one byte a value plus the scales");
        let back = dequantize(quantized).try_into_vec::<f32>().unwrap();
        for (block, (a, b)) in values.chunks(QUANT_BLOCK).zip(back.chunks(QUANT_BLOCK)).enumerate() {
            let step = a.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= step * 0.51 + 1e-6, "block {block}: {x} came back as {y}");
            }
        }
        assert_eq!(&back[32..64], &[0.0; 32]);
        assert!((back[70] - 9.0).abs() < 0.04, "the outlier keeps its value: {}", back[70]);
    }
}
