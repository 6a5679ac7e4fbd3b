//! Dropout with a mask from a counter-based generator, drawn on every core.
//!
//! Burn's `Dropout::forward` draws one Bernoulli sample per element through the backend's seeded
//! ChaCha generator, on one thread behind a lock, then multiplies twice (mask, then scale). On
//! the from-scratch training run that was 18 % of all CPU time (`perf`, docs/training.md "Where a
//! training step's time goes"), and serial. Here each pair of elements takes its bits from its own
//! output of a SplitMix64 stream keyed by the call: any chunk can be drawn on any thread and the mask is the same whatever the
//! thread count. The mask holds 0 or 1/keep, so one multiplication applies it. The layer stays
//! Burn's `Dropout` (its probability and training flag), so saved models are unchanged.

use std::sync::atomic::{AtomicU64, Ordering};

use burn::nn::Dropout;
use burn::tensor::{Tensor, TensorData};

/// The training run's dropout seed and how many masks have been drawn since it was set.
static SEED: AtomicU64 = AtomicU64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);

/// Elements per task when the mask is drawn in parallel.
#[cfg(feature = "train")]
const CHUNK: usize = 1 << 16;

/// Starts the sequence of masks over: the same seed gives the same masks in the same order.
pub fn seed(seed: u64) {
    SEED.store(seed, Ordering::Relaxed);
    CALLS.store(0, Ordering::Relaxed);
}

/// `layer` applied to `input`: outside a backward pass (no autodiff device) or with a zero
/// probability, `input` itself; else each element zeroed with the layer's probability and the
/// rest scaled by 1/(1 − p).
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    if !layer.training.is_enabled() || !input.device().is_autodiff() || layer.prob == 0.0 {
        return input;
    }
    let shape = input.shape();
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let key = splitmix64(SEED.load(Ordering::Relaxed) ^ splitmix64(call));
    let mask = mask(key, shape.num_elements(), layer.prob);
    let mask = Tensor::from_data(TensorData::new(mask, shape), &input.device());
    input * mask
}

/// `len` values, each 0 with probability `prob` and 1/(1 − prob) otherwise, from `key`.
fn mask(key: u64, len: usize, prob: f64) -> Vec<f32> {
    let keep = 1.0 - prob;
    // An element is kept when its 32 random bits fall under keep × 2^32.
    let threshold = (keep * 4_294_967_296.0).min(u32::MAX as f64) as u32;
    let scale = (1.0 / keep) as f32;
    let mut mask = vec![0.0f32; len];
    // Two elements an output of SplitMix64 seeded with `key` (the low and the high 32 bits of
    // its output number `pair`), which any thread can compute for any pair on its own.
    let fill = |start: usize, out: &mut [f32]| {
        debug_assert!(start.is_multiple_of(2));
        for (pair, values) in out.chunks_mut(2).enumerate() {
            let bits = splitmix64(key.wrapping_add(((start / 2 + pair) as u64).wrapping_mul(GOLDEN_GAMMA)));
            for (half, value) in values.iter_mut().enumerate() {
                let random = (bits >> (32 * half)) as u32;
                *value = if random < threshold { scale } else { 0.0 };
            }
        }
    };
    #[cfg(feature = "train")]
    {
        use rayon::prelude::*;
        mask.par_chunks_mut(CHUNK).enumerate().for_each(|(chunk, out)| fill(chunk * CHUNK, out));
    }
    #[cfg(not(feature = "train"))]
    fill(0, &mut mask);
    mask
}

/// SplitMix64's increment (Steele, Lea and Flood 2014): its n-th output is
/// `splitmix64(seed + n × GOLDEN_GAMMA)`.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function for the state `x` + one increment.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::DropoutConfig;
    use burn::tensor::Device;

    #[test]
    fn a_mask_keeps_one_minus_p_and_scales_what_it_keeps() {
        let mask = mask(7, 1_000_001, 0.1);
        let kept = mask.iter().filter(|&&v| v != 0.0).count() as f64 / mask.len() as f64;
        assert!((kept - 0.9).abs() < 0.002, "kept {kept}");
        assert!(mask.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.9).abs() < 1e-6));
        // Independent neighbours: both halves of a hash, and consecutive hashes, agree as often
        // as independent draws would (0.82 = 0.9² + 0.1²).
        let same = mask.windows(2).filter(|w| (w[0] == 0.0) == (w[1] == 0.0)).count() as f64;
        assert!((same / (mask.len() - 1) as f64 - 0.82).abs() < 0.003);
    }

    #[test]
    fn the_same_key_gives_the_same_mask_and_another_key_another() {
        assert_eq!(mask(3, 200_000, 0.25), mask(3, 200_000, 0.25));
        assert_ne!(mask(3, 200_000, 0.25), mask(4, 200_000, 0.25));
        // A mask drawn in chunks equals its prefix drawn alone: no element depends on the chunking.
        assert_eq!(mask(3, 100_001, 0.25)[..], mask(3, 200_000, 0.25)[..100_001]);
    }

    #[test]
    fn dropout_is_the_identity_without_autodiff_and_masks_with_it() {
        let layer = DropoutConfig::new(0.5).init();
        let device = Device::default();
        let ones = Tensor::<2>::ones([64, 64], &device);
        let same = dropout(&layer, ones.clone()).into_data().try_into_vec::<f32>().unwrap();
        assert!(same.iter().all(|&v| v == 1.0));
        let trained = dropout(&layer, Tensor::<2>::ones([64, 64], &device.autodiff()));
        let values = trained.into_data().try_into_vec::<f32>().unwrap();
        let zeros = values.iter().filter(|&&v| v == 0.0).count();
        assert!((1700..2400).contains(&zeros), "{zeros} of 4096 zeroed");
        assert!(values.iter().all(|&v| v == 0.0 || v == 2.0));
    }
}
