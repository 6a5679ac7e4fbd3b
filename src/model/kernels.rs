//! The loops of one decoder step on the CPU ([`super::cpu_decoder`]), on `wide`'s 4-lane `f32x4`:
//! wasm simd128 in the page, SSE natively, plain arrays where a target has neither. A product
//! keeps several vector accumulators apart and adds them up once at the end.

use wide::f32x4;

/// Floats a loop takes per step: two vectors.
const BLOCK: usize = 8;

#[inline(always)]
fn halves(block: &[f32; BLOCK]) -> (f32x4, f32x4) {
    let low: [f32; 4] = block[..4].try_into().expect("4 of 8");
    let high: [f32; 4] = block[4..].try_into().expect("4 of 8");
    (f32x4::from(low), f32x4::from(high))
}

/// Σ a[i]·b[i].
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (a_blocks, a_rest) = a.as_chunks::<BLOCK>();
    let (b_blocks, b_rest) = b.as_chunks::<BLOCK>();
    let (mut low, mut high) = (f32x4::ZERO, f32x4::ZERO);
    for (x, y) in a_blocks.iter().zip(b_blocks) {
        let ((x0, x1), (y0, y1)) = (halves(x), halves(y));
        low = x0.mul_add(y0, low);
        high = x1.mul_add(y1, high);
    }
    let rest: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    (low + high).reduce_add() + rest
}

/// The dot products of four weight rows with one `x`: each block of `x` is loaded once for all
/// four (eight vector accumulators, which fit the sixteen registers of x86-64 and of V8's wasm).
#[inline]
fn dot4(w: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    let (x_blocks, x_rest) = x.as_chunks::<BLOCK>();
    let [w0, w1, w2, w3] = w.map(|w| w.as_chunks::<BLOCK>().0);
    let mut sums = [(f32x4::ZERO, f32x4::ZERO); 4];
    let blocks = x_blocks.iter().zip(w0).zip(w1).zip(w2).zip(w3);
    for ((((x, w0), w1), w2), w3) in blocks {
        let (x0, x1) = halves(x);
        for (sum, w) in sums.iter_mut().zip([w0, w1, w2, w3]) {
            let (w_low, w_high) = halves(w);
            sum.0 = w_low.mul_add(x0, sum.0);
            sum.1 = w_high.mul_add(x1, sum.1);
        }
    }
    let tail = x_blocks.len() * BLOCK;
    std::array::from_fn(|k| (sums[k].0 + sums[k].1).reduce_add() + dot(&w[k][tail..], x_rest))
}

/// `y += a · x`.
#[inline]
pub fn add_scaled(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Values per 8-bit block, as `bundle::int8` stores them.
pub const QUANT_BLOCK: usize = 32;

/// How a [`Dense`] holds weights that are exactly 8-bit blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Float,
    /// 8-bit blocks where the weights are exactly that; float otherwise.
    KeepInt8,
}

impl Storage {
    /// The faster on every target this was measured on. A step of one row waits on reading its
    /// weights more than on multiplying them, and a quarter of the bytes pays: in wasm one row's
    /// step of the shipped model took 0.9 ms against 2.0 ms in float (headless Chromium);
    /// natively 1.0–1.1 ms against 2.4 ms, and greedy generation 680–760 tokens/s against 410
    /// (`nl2py bench`, x86-64; float weights, 16 MB for the decoder, do not stay in cache).
    pub const FASTEST: Storage = Storage::KeepInt8;
}

/// A weight matrix as a step reads it.
#[derive(Clone)]
pub enum Weights {
    /// `[outputs, inputs]` floats: each output one dot product over contiguous memory.
    Rows(Vec<f32>),
    /// 8-bit blocks of [`QUANT_BLOCK`] outputs (an int8 bundle's `Linear`, blocked along its
    /// last axis, the outputs): values `[outputs / 32, inputs, 32]`, one scale per block and
    /// input `[outputs / 32, inputs]`. An input's row of a block scales 32 outputs at once.
    OutputBlocks { values: Vec<i8>, scales: Vec<f32> },
    /// 8-bit blocks of [`QUANT_BLOCK`] inputs (an int8 bundle's embedding, blocked along the
    /// model width): values `[outputs, inputs]`, scales `[outputs, inputs / 32]`.
    InputBlocks { values: Vec<i8>, scales: Vec<f32> },
}

/// The i8 values and scales of `values` read as consecutive blocks of [`QUANT_BLOCK`], when
/// every block is exactly `q · s` with integer `q` in [-127, 127] and `s` its largest magnitude
/// / 127 — as weights an int8 bundle loaded are (`q · s` and `127 · s` are exact in f32, `s`
/// being an f16) — and `None` otherwise (f32 or f16 weights).
fn int8_blocks(values: &[f32], storage: Storage) -> Option<(Vec<i8>, Vec<f32>)> {
    if storage == Storage::Float || !values.len().is_multiple_of(QUANT_BLOCK) {
        return None;
    }
    let mut quantized = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(values.len() / QUANT_BLOCK);
    for block in values.chunks_exact(QUANT_BLOCK) {
        let scale = block.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
        for &v in block {
            let q = if scale > 0.0 { v / scale } else { 0.0 };
            if q != q.round() || q.abs() > 127.0 || q * scale != v {
                return None;
            }
            quantized.push(q as i8);
        }
        scales.push(scale);
    }
    Some((quantized, scales))
}

/// Four i8 as an `f32x4`.
#[inline(always)]
fn widen(q: &[i8]) -> f32x4 {
    f32x4::from([q[0] as f32, q[1] as f32, q[2] as f32, q[3] as f32])
}

/// A linear layer for one decoder step.
#[derive(Clone)]
pub struct Dense {
    pub weights: Weights,
    /// `[outputs]`, when the layer has a bias.
    pub bias: Option<Vec<f32>>,
    pub inputs: usize,
    pub outputs: usize,
}

impl Dense {
    /// A layer from Burn's `Linear` weight (`[inputs, outputs]`): with [`Storage::KeepInt8`],
    /// 8-bit blocks along the outputs when the weights are exactly that (an int8 bundle); else
    /// float rows.
    pub fn from_linear(
        weight: Vec<f32>,
        bias: Option<Vec<f32>>,
        inputs: usize,
        outputs: usize,
        storage: Storage,
    ) -> Self {
        let weights = match int8_blocks(&weight, storage) {
            Some((values, scales)) if outputs.is_multiple_of(QUANT_BLOCK) => {
                // [inputs, blocks, 32] → [blocks, inputs, 32]: a block's inputs one after another.
                let blocks = outputs / QUANT_BLOCK;
                let mut by_block = Vec::with_capacity(values.len());
                let mut block_scales = Vec::with_capacity(scales.len());
                for b in 0..blocks {
                    for i in 0..inputs {
                        let at = (i * blocks + b) * QUANT_BLOCK;
                        by_block.extend_from_slice(&values[at..at + QUANT_BLOCK]);
                        block_scales.push(scales[i * blocks + b]);
                    }
                }
                Weights::OutputBlocks { values: by_block, scales: block_scales }
            }
            _ => {
                let mut rows = vec![0.0; weight.len()];
                for (i, row) in weight.chunks_exact(outputs).enumerate() {
                    for (o, &w) in row.iter().enumerate() {
                        rows[o * inputs + i] = w;
                    }
                }
                Weights::Rows(rows)
            }
        };
        Dense { weights, bias, inputs, outputs }
    }

    /// A layer without bias whose weight is given a row per output (`[outputs, inputs]`, an
    /// embedding table used as the output projection): with [`Storage::KeepInt8`], 8-bit blocks
    /// along each row when the weights are exactly that; else float rows.
    pub fn from_rows(weight: Vec<f32>, inputs: usize, outputs: usize, storage: Storage) -> Self {
        let weights = match int8_blocks(&weight, storage) {
            Some((values, scales)) if inputs.is_multiple_of(QUANT_BLOCK) => {
                Weights::InputBlocks { values, scales }
            }
            _ => Weights::Rows(weight),
        };
        Dense { weights, bias: None, inputs, outputs }
    }

    /// Whether the weights stayed 8-bit.
    pub fn is_int8(&self) -> bool {
        !matches!(self.weights, Weights::Rows(_))
    }

    /// Output `o`'s weights as floats (an embedding lookup); only for row layouts.
    pub fn row(&self, o: usize, out: &mut Vec<f32>) {
        let at = o * self.inputs..(o + 1) * self.inputs;
        out.clear();
        match &self.weights {
            Weights::Rows(rows) => out.extend_from_slice(&rows[at]),
            Weights::InputBlocks { values, scales } => {
                let scales = &scales[o * self.inputs / QUANT_BLOCK..];
                out.extend(values[at].iter().enumerate().map(|(i, &q)| q as f32 * scales[i / QUANT_BLOCK]));
            }
            Weights::OutputBlocks { .. } => unreachable!("embeddings are stored by rows"),
        }
    }

    /// `y[r] = x[r] · Wᵀ + bias` for every row of `x`.
    ///
    /// # Shapes
    /// - x: `[rows, inputs]` → y: `[rows, outputs]` (resized)
    pub fn forward(&self, x: &[f32], y: &mut Vec<f32>) {
        let (inputs, outputs) = (self.inputs, self.outputs);
        let rows = x.len() / inputs;
        y.resize(rows * outputs, 0.0);
        match &self.weights {
            Weights::Rows(weight) => {
                // Four outputs at a time; their rows serve every input row while they are in L1.
                let mut quads = weight.chunks_exact(4 * inputs);
                for (q, w) in (&mut quads).enumerate() {
                    let w: [&[f32]; 4] = std::array::from_fn(|k| &w[k * inputs..(k + 1) * inputs]);
                    for (r, x) in x.chunks_exact(inputs).enumerate() {
                        y[r * outputs + 4 * q..][..4].copy_from_slice(&dot4(w, x));
                    }
                }
                let first = outputs - quads.remainder().len() / inputs;
                for (o, w) in (first..).zip(quads.remainder().chunks_exact(inputs)) {
                    for (r, x) in x.chunks_exact(inputs).enumerate() {
                        y[r * outputs + o] = dot(w, x);
                    }
                }
            }
            Weights::OutputBlocks { values, scales } => {
                let blocks = values.chunks_exact(inputs * QUANT_BLOCK).zip(scales.chunks_exact(inputs));
                for (b, (values, scales)) in blocks.enumerate() {
                    // Rows two at a time: each i8 is widened once for both.
                    let mut pairs = x.chunks_exact(2 * inputs);
                    for (p, pair) in (&mut pairs).enumerate() {
                        let (first, second) = pair.split_at(inputs);
                        let [a, b_] = output_block_pair(values, scales, [first, second]);
                        y[2 * p * outputs + b * QUANT_BLOCK..][..QUANT_BLOCK].copy_from_slice(&a);
                        y[(2 * p + 1) * outputs + b * QUANT_BLOCK..][..QUANT_BLOCK].copy_from_slice(&b_);
                    }
                    if !pairs.remainder().is_empty() {
                        let sums = output_block(values, scales, pairs.remainder());
                        y[(rows - 1) * outputs + b * QUANT_BLOCK..][..QUANT_BLOCK].copy_from_slice(&sums);
                    }
                }
            }
            Weights::InputBlocks { values, scales } => {
                let per_row = inputs / QUANT_BLOCK;
                for (o, (values, scales)) in
                    values.chunks_exact(inputs).zip(scales.chunks_exact(per_row)).enumerate()
                {
                    // Rows two at a time: each i8 is widened once for both.
                    let mut pairs = x.chunks_exact(2 * inputs);
                    for (p, pair) in (&mut pairs).enumerate() {
                        let [a, b] = input_blocks_dot_pair(values, scales, pair.split_at(inputs));
                        y[2 * p * outputs + o] = a;
                        y[(2 * p + 1) * outputs + o] = b;
                    }
                    if !pairs.remainder().is_empty() {
                        y[(rows - 1) * outputs + o] = input_blocks_dot(values, scales, pairs.remainder());
                    }
                }
            }
        }
        if let Some(bias) = &self.bias {
            for y in y.chunks_exact_mut(outputs) {
                add_scaled(y, 1.0, bias);
            }
        }
    }
}

/// One block of 32 outputs: Σ over inputs i of x[i] · scale[i] · values[i, 0..32].
#[inline]
fn output_block(values: &[i8], scales: &[f32], x: &[f32]) -> [f32; QUANT_BLOCK] {
    let mut sums = [f32x4::ZERO; QUANT_BLOCK / 4];
    for ((q, &scale), &x) in values.as_chunks::<QUANT_BLOCK>().0.iter().zip(scales).zip(x) {
        let factor = f32x4::splat(x * scale);
        for (k, sum) in sums.iter_mut().enumerate() {
            *sum = widen(&q[4 * k..4 * k + 4]).mul_add(factor, *sum);
        }
    }
    let mut out = [0.0; QUANT_BLOCK];
    for (out, sum) in out.chunks_exact_mut(4).zip(sums) {
        out.copy_from_slice(&sum.to_array());
    }
    out
}

/// [`input_blocks_dot`] for two rows.
#[inline]
fn input_blocks_dot_pair(values: &[i8], scales: &[f32], x: (&[f32], &[f32])) -> [f32; 2] {
    let mut totals = [f32x4::ZERO; 2];
    let blocks = values.as_chunks::<QUANT_BLOCK>().0.iter().zip(scales);
    let rows = x.0.as_chunks::<QUANT_BLOCK>().0.iter().zip(x.1.as_chunks::<QUANT_BLOCK>().0);
    for ((q, &scale), (x0, x1)) in blocks.zip(rows) {
        let mut sums = [f32x4::ZERO; 2];
        for k in (0..QUANT_BLOCK).step_by(4) {
            let w = widen(&q[k..k + 4]);
            let load =
                |x: &[f32; QUANT_BLOCK]| f32x4::from(<[f32; 4]>::try_from(&x[k..k + 4]).expect("4 of 32"));
            sums[0] = w.mul_add(load(x0), sums[0]);
            sums[1] = w.mul_add(load(x1), sums[1]);
        }
        let scale = f32x4::splat(scale);
        totals[0] = sums[0].mul_add(scale, totals[0]);
        totals[1] = sums[1].mul_add(scale, totals[1]);
    }
    totals.map(|t| t.reduce_add())
}

/// [`output_block`] for two rows, half a block at a time (eight accumulators and four widened
/// vectors fit the sixteen registers).
#[inline]
fn output_block_pair(values: &[i8], scales: &[f32], x: [&[f32]; 2]) -> [[f32; QUANT_BLOCK]; 2] {
    const HALF: usize = QUANT_BLOCK / 2;
    let mut out = [[0.0; QUANT_BLOCK]; 2];
    for half in 0..2 {
        let mut sums = [[f32x4::ZERO; HALF / 4]; 2];
        let rows = values.as_chunks::<QUANT_BLOCK>().0.iter().zip(scales).zip(x[0].iter().zip(x[1]));
        for ((q, &scale), (&x0, &x1)) in rows {
            let q = &q[half * HALF..(half + 1) * HALF];
            let widened: [f32x4; HALF / 4] = std::array::from_fn(|k| widen(&q[4 * k..4 * k + 4]));
            for (sums, factor) in sums.iter_mut().zip([x0 * scale, x1 * scale]) {
                let factor = f32x4::splat(factor);
                for (sum, w) in sums.iter_mut().zip(widened) {
                    *sum = w.mul_add(factor, *sum);
                }
            }
        }
        for (out, sums) in out.iter_mut().zip(sums) {
            for (k, sum) in sums.into_iter().enumerate() {
                out[half * HALF + 4 * k..][..4].copy_from_slice(&sum.to_array());
            }
        }
    }
    out
}

/// Σ over blocks b of scale[b] · Σ_{i in b} values[i] · x[i].
#[inline]
fn input_blocks_dot(values: &[i8], scales: &[f32], x: &[f32]) -> f32 {
    let mut total = f32x4::ZERO;
    let blocks = values.as_chunks::<QUANT_BLOCK>().0.iter().zip(x.as_chunks::<QUANT_BLOCK>().0);
    for ((q, x), &scale) in blocks.zip(scales) {
        let (mut low, mut high) = (f32x4::ZERO, f32x4::ZERO);
        for k in (0..QUANT_BLOCK).step_by(8) {
            let (x0, x1) = halves(x[k..k + 8].try_into().expect("8 of 32"));
            low = widen(&q[k..k + 4]).mul_add(x0, low);
            high = widen(&q[k + 4..k + 8]).mul_add(x1, high);
        }
        total = (low + high).mul_add(f32x4::splat(scale), total);
    }
    total.reduce_add()
}

/// Layer normalization over the last dimension, as Burn's `LayerNorm` computes it (biased
/// variance, ε inside the square root).
#[derive(Clone)]
pub struct Norm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub epsilon: f32,
}

impl Norm {
    /// Normalizes each row of `x` (`[rows, width]`) into `y`.
    pub fn forward(&self, x: &[f32], y: &mut Vec<f32>) {
        let width = self.gamma.len();
        y.resize(x.len(), 0.0);
        for (x, y) in x.chunks_exact(width).zip(y.chunks_exact_mut(width)) {
            let mean = x.iter().sum::<f32>() / width as f32;
            let variance = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width as f32;
            let scale = 1.0 / (variance + self.epsilon).sqrt();
            for (((y, x), g), b) in y.iter_mut().zip(x).zip(&self.gamma).zip(&self.beta) {
                *y = (x - mean) * scale * g + b;
            }
        }
    }
}

/// `x[i] ← exp(x[i] − shift)` (−∞ gives 0), four at a time with `wide`'s polynomial `exp`;
/// returns their sum. In wasm `f32::exp` is a scalar libm call: a step's log-softmax over 8,000
/// code tokens spent most of its time there.
pub fn exp_shifted(x: &mut [f32], shift: f32) -> f32 {
    let (blocks, rest) = x.as_chunks_mut::<4>();
    let shift4 = f32x4::splat(shift);
    let mut sum = f32x4::ZERO;
    for block in blocks {
        let e = (f32x4::from(*block) - shift4).exp();
        sum += e;
        *block = e.to_array();
    }
    let mut rest_sum = 0.0;
    for v in rest {
        *v = (*v - shift).exp();
        rest_sum += *v;
    }
    sum.reduce_add() + rest_sum
}

/// The largest value (−∞ for none).
pub fn max(x: &[f32]) -> f32 {
    x.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// `softmax` of `x` in place.
pub fn softmax(x: &mut [f32]) {
    let sum = exp_shifted(x, max(x));
    x.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lengths around the lane count: a whole number of blocks, a remainder, a remainder only.
    #[test]
    fn dot_sums_every_product() {
        for n in [0, 1, 15, 16, 17, 40, 256] {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let b: Vec<f32> = (0..n).map(|i| 1.0 + (i % 7) as f32).collect();
            let expected: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - expected).abs() <= 1e-3 * expected.abs().max(1.0), "n={n}");
        }
    }

    /// Five outputs: one group of four and one left over; lengths with and without a remainder.
    #[test]
    fn dense_matches_plain_sums() {
        for inputs in [3, 8, 19] {
            let weight: Vec<f32> = (0..5 * inputs).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
            let dense = Dense::from_rows(weight.clone(), inputs, 5, Storage::KeepInt8);
            let x: Vec<f32> = (0..2 * inputs).map(|i| i as f32 * 0.25).collect();
            let mut y = Vec::new();
            dense.forward(&x, &mut y);
            for r in 0..2 {
                for o in 0..5 {
                    let w = &weight[o * inputs..(o + 1) * inputs];
                    let expected: f32 = w.iter().zip(&x[r * inputs..]).map(|(w, x)| w * x).sum();
                    assert!((y[r * 5 + o] - expected).abs() < 1e-3, "inputs {inputs}, row {r}, output {o}");
                }
            }
        }
    }

    #[test]
    fn dense_multiplies_every_row() {
        // y = x · Wᵀ + b with W = [[1, 2, 3], [0, -1, 1]], b = [0.5, -2].
        // Burn's layout: [inputs, outputs].
        let dense = Dense::from_linear(
            vec![1.0, 0.0, 2.0, -1.0, 3.0, 1.0],
            Some(vec![0.5, -2.0]),
            3,
            2,
            Storage::Float,
        );
        let mut y = Vec::new();
        dense.forward(&[1.0, 1.0, 1.0, 2.0, 0.0, -1.0], &mut y);
        assert_eq!(y, [6.5, -2.0, -0.5, -3.0]);
    }

    /// Weights that are exactly 8-bit blocks stay 8-bit, along the axis each layout blocks,
    /// and give the float layer's outputs; anything else stays float.
    #[test]
    fn int8_blocks_are_kept_and_multiply_as_floats() {
        let (inputs, outputs) = (64, 96);
        // Block values q · s: q in [-127, 127] with 127 in each block, s a power of two per block.
        let weight: Vec<f32> = (0..inputs * outputs)
            .map(|i| {
                let q = if i % QUANT_BLOCK == 5 { -127 } else { (i * 37 % 255) as i32 - 127 };
                q as f32 * 2f32.powi(-(((i / QUANT_BLOCK) % 5) as i32) - 6)
            })
            .collect();
        let bias: Vec<f32> = (0..outputs).map(|o| o as f32 * 0.01).collect();
        let x: Vec<f32> = (0..3 * inputs).map(|i| ((i * 13) % 17) as f32 * 0.1 - 0.8).collect();
        let output = |dense: &Dense| {
            let mut y = Vec::new();
            dense.forward(&x, &mut y);
            y
        };
        // Plain sums over Burn's layout, [inputs, outputs].
        let expected: Vec<f32> = (0..3 * outputs)
            .map(|ro| {
                let (r, o) = (ro / outputs, ro % outputs);
                bias[o] + (0..inputs).map(|i| x[r * inputs + i] * weight[i * outputs + o]).sum::<f32>()
            })
            .collect();
        let close = |y: &[f32], expected: &[f32]| y.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-4);
        // One value that no block holds exactly makes a layer float.
        let mut nudged = weight.clone();
        nudged[1] += 1e-3;
        let keep = Storage::KeepInt8;
        let linear = Dense::from_linear(weight.clone(), Some(bias.clone()), inputs, outputs, keep);
        assert!(
            linear.is_int8() && !Dense::from_linear(nudged.clone(), None, inputs, outputs, keep).is_int8()
        );
        assert!(!Dense::from_linear(weight.clone(), None, inputs, outputs, Storage::Float).is_int8());
        assert!(close(&output(&linear), &expected), "linear: int8 differs from the float sums");
        // Read as rows ([outputs, inputs] = [96, 64]), the blocks lie along the inputs.
        let rows = Dense::from_rows(weight.clone(), inputs, outputs, keep);
        assert!(rows.is_int8() && !Dense::from_rows(nudged, inputs, outputs, keep).is_int8());
        let expected: Vec<f32> = (0..3 * outputs)
            .map(|ro| {
                let (r, o) = (ro / outputs, ro % outputs);
                (0..inputs).map(|i| x[r * inputs + i] * weight[o * inputs + i]).sum::<f32>()
            })
            .collect();
        assert!(close(&output(&rows), &expected), "rows: int8 differs from the float sums");
        let mut row = Vec::new();
        rows.row(3, &mut row);
        assert_eq!(row, weight[3 * inputs..4 * inputs]);
    }

    #[test]
    fn norm_centres_and_scales_each_row() {
        let norm = Norm { gamma: vec![1.0, 2.0], beta: vec![0.0, 1.0], epsilon: 0.0 };
        let mut y = Vec::new();
        norm.forward(&[1.0, 3.0, 5.0, 5.0 + 1e-3], &mut y);
        assert!((y[0] + 1.0).abs() < 1e-5 && (y[1] - 3.0).abs() < 1e-5, "{y:?}");
        assert!((y[2] + 1.0).abs() < 1e-2 && (y[3] - 3.0).abs() < 1e-2, "{y:?}");
    }

    /// Against `f32::exp` one by one: lengths with and without a remainder, −∞ entries, values
    /// far below the shift (which underflow to 0).
    #[test]
    fn exp_shifted_matches_scalar_exp() {
        for n in [0, 3, 8, 13, 8000] {
            let x: Vec<f32> = (0..n)
                .map(|i| match i % 11 {
                    0 => f32::NEG_INFINITY,
                    1 => -150.0,
                    k => (k as f32 - 6.0) * 1.7 + (i % 97) as f32 * 0.01,
                })
                .collect();
            let mut y = x.clone();
            let sum = exp_shifted(&mut y, 2.5);
            let expected: Vec<f32> = x.iter().map(|v| (v - 2.5).exp()).collect();
            for (i, (a, b)) in y.iter().zip(&expected).enumerate() {
                assert!((a - b).abs() <= 1e-6 * b.abs() + 1e-30, "n={n} i={i}: {a} vs {b}");
            }
            let total: f32 = expected.iter().sum();
            assert!((sum - total).abs() <= 1e-5 * total.max(1e-30), "n={n}: {sum} vs {total}");
        }
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut x = [1.0, 3.0, -1.0e4, 2.0];
        softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[1] > x[3] && x[3] > x[0] && x[2] == 0.0);
    }
}
